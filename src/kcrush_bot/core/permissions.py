"""Who may run what. The adapter supplies the facts (who, where, admin or not); this decides.

- anyone: read commands.
- chat admin: changing what a chat receives. Telegram creators and administrators (anonymous
  admins included), Discord members with Manage Channels or Manage Server; in a private chat the
  only member is its admin. Discord's ``default_permissions`` is only a hint to clients.
- moderator: announcements. Configured user ids per platform; on Discord also configured roles
  or Manage Server. The operator at the console is a moderator.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from kcrush_bot.core.models import ChatKind, ChatRef


class Access(Enum):
    ANYONE = "anyone"
    CHAT_ADMIN = "chat admin"
    MODERATOR = "moderator"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a command, and where; built by the adapter from the platform's update."""

    platform: str
    chat: ChatRef
    chat_kind: ChatKind
    user_id: str | None = None  # None when anonymous: a channel post, an anonymous admin
    display_name: str = ""
    is_chat_admin: bool = False
    can_manage_server: bool = False  # Discord's Manage Server
    role_ids: tuple[str, ...] = ()
    chat_title: str | None = None

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"{self.platform}:{self.user_id or 'anonymous'}"


@dataclass(frozen=True, slots=True)
class Moderators:
    telegram_users: frozenset[str] = frozenset()
    discord_users: frozenset[str] = frozenset()
    discord_roles: frozenset[str] = frozenset()


def is_moderator(caller: Caller, moderators: Moderators) -> bool:
    if caller.platform == "console":
        return True
    if caller.user_id is None:
        return False
    if caller.platform == "telegram":
        return caller.user_id in moderators.telegram_users
    if caller.platform == "discord":
        return (
            caller.user_id in moderators.discord_users
            or caller.can_manage_server
            or bool(moderators.discord_roles.intersection(caller.role_ids))
        )
    return False


def may_manage_chat(caller: Caller) -> bool:
    return (
        caller.platform == "console"
        or caller.chat_kind is ChatKind.PRIVATE
        or caller.is_chat_admin
        or (caller.platform == "discord" and caller.can_manage_server)
    )


def allowed(access: Access, caller: Caller, moderators: Moderators) -> bool:
    if access is Access.ANYONE:
        return True
    if access is Access.CHAT_ADMIN:
        return may_manage_chat(caller)
    return is_moderator(caller, moderators)


REFUSALS = {
    Access.CHAT_ADMIN: "Only the chat's admins can change what this chat receives.",
    Access.MODERATOR: "Only the magazine's moderators can send announcements.",
}
