"""Telegram updates → the facts the core decides on: who called, from which chat, admin or not.

The core's permission rules (``core.permissions``) need only facts; this module gathers them:

* private chat: ``ChatKind.PRIVATE`` (its only member is its admin);
* group or supergroup: the sender's status from ``getChatMember`` (creator/administrator),
  asked only when the command needs it and cached for ``admin_cache_seconds``;
* an anonymous admin posts as the group itself (``sender_chat.id == chat.id``, sent by
  GroupAnonymousBot): an admin whose user id Telegram hides;
* a channel post: only admins can post in a channel, and the author is anonymous;
* a forum topic: the reply goes back to the same topic (``message_thread_id``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from telegram import Chat, ChatMember, Message, User
from telegram.error import TelegramError

from kcrush_bot.core.models import ChatKind, ChatRef
from kcrush_bot.core.permissions import Caller

log = logging.getLogger(__name__)

PLATFORM = "telegram"
_ADMIN_STATUSES = frozenset({ChatMember.OWNER, ChatMember.ADMINISTRATOR})
_MAX_CACHED = 10_000


def chat_kind(chat: Chat) -> ChatKind:
    if chat.type == Chat.PRIVATE:
        return ChatKind.PRIVATE
    if chat.type == Chat.CHANNEL:
        return ChatKind.CHANNEL
    return ChatKind.GROUP  # group and supergroup


def chat_ref(message: Message) -> ChatRef:
    """Where replies to ``message`` go: its chat, and its forum topic if it has one."""
    # message_thread_id is also set on replies in ordinary groups; only a topic message
    # names a forum topic we can post into.
    thread = message.message_thread_id if message.is_topic_message else None
    return ChatRef(PLATFORM, str(message.chat.id), str(thread) if thread else None)


def chat_title(chat: Chat) -> str | None:
    return chat.title or chat.full_name or chat.username


def is_anonymous_admin(message: Message) -> bool:
    sender_chat = message.sender_chat
    return sender_chat is not None and sender_chat.id == message.chat.id


class AdminCache:
    """Whether a user is a chat admin, remembered for ``ttl`` seconds per (chat, user).

    Admin lists change rarely and ``getChatMember`` costs a request against the same flood
    limits as our sends, so a short memory is worth a few minutes of staleness.
    """

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[tuple[int, int], tuple[bool, float]] = {}

    def get(self, chat_id: int, user_id: int) -> bool | None:
        entry = self._entries.get((chat_id, user_id))
        if entry is None:
            return None
        if entry[1] <= self.clock():
            del self._entries[(chat_id, user_id)]
            return None
        return entry[0]

    def put(self, chat_id: int, user_id: int, is_admin: bool) -> None:
        now = self.clock()
        if len(self._entries) >= _MAX_CACHED:
            self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
            if len(self._entries) >= _MAX_CACHED:
                self._entries.clear()
        self._entries[(chat_id, user_id)] = (is_admin, now + self.ttl)

    async def is_admin(
        self,
        chat_id: int,
        user_id: int,
        lookup: Callable[[int, int], Awaitable[ChatMember]],
    ) -> bool:
        cached = self.get(chat_id, user_id)
        if cached is not None:
            return cached
        try:
            member = await lookup(chat_id, user_id)
        except TelegramError as exc:
            # Fail closed and remember nothing: the next command asks again.
            log.warning("cannot check admin status in chat %s: %s", chat_id, exc)
            return False
        result = member.status in _ADMIN_STATUSES
        self.put(chat_id, user_id, result)
        return result


async def caller_for_message(
    message: Message,
    *,
    needs_admin: bool,
    admins: AdminCache,
    lookup: Callable[[int, int], Awaitable[ChatMember]],
) -> Caller:
    """The ``Caller`` for a command in ``message`` (a message or a channel post)."""
    chat = message.chat
    kind = chat_kind(chat)
    ref = chat_ref(message)
    title = chat_title(chat)
    if kind is ChatKind.CHANNEL:
        return Caller(PLATFORM, ref, kind, None, title or "", is_chat_admin=True, chat_title=title)
    if kind is ChatKind.GROUP and is_anonymous_admin(message):
        return Caller(PLATFORM, ref, kind, None, title or "", is_chat_admin=True, chat_title=title)
    user = message.from_user
    if user is None or message.sender_chat is not None:
        # Posted on behalf of another chat (a linked channel): nobody we can check.
        return Caller(PLATFORM, ref, kind, None, chat_title=title)
    is_admin = kind is ChatKind.PRIVATE
    if kind is ChatKind.GROUP and needs_admin:
        is_admin = await admins.is_admin(chat.id, user.id, lookup)
    return _user_caller(user, ref, kind, is_admin, title)


def caller_for_button(message: Message, user: User) -> Caller:
    """The ``Caller`` for a button press under ``message`` by ``user``.

    No admin lookup: the actions buttons carry today (paging, a moderator's confirmation)
    check the user id only, and paging should not cost a request per press.
    """
    kind = chat_kind(message.chat)
    title = chat_title(message.chat)
    return _user_caller(user, chat_ref(message), kind, kind is ChatKind.PRIVATE, title)


def _user_caller(
    user: User, ref: ChatRef, kind: ChatKind, is_admin: bool, title: str | None
) -> Caller:
    return Caller(
        PLATFORM,
        ref,
        kind,
        str(user.id),
        user.full_name,
        is_chat_admin=is_admin,
        chat_title=title,
    )
