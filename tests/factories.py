"""Test data factories: posts, callers, the taxonomy and the moderators' ids.

Imported as ``from factories import …`` (``tests/`` is on the path): a module name of its own,
since several test folders have a ``conftest.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from kcrush_bot import settings as settings_mod
from kcrush_bot.core.models import ChatKind, ChatRef, Post
from kcrush_bot.core.permissions import Caller

REPO = Path(__file__).resolve().parent.parent
CATEGORIES = settings_mod.load_categories(REPO / "config" / "categories.toml")
MODERATOR_TELEGRAM = "1001"
MODERATOR_DISCORD = "2001"
MODERATOR_ROLE = "3001"


def make_post(n: int, *, category: str = "k-pop-interviews", **overrides: object) -> Post:
    """A post factory: distinct titles and URLs, newer for larger ``n``."""
    values: dict[str, object] = {
        "url": f"https://www.kcrush.com/post-{n}/",
        "title": f"KCRUSH Interview number {n} with Artist{n}",
        "teaser": f"Artist{n} talks about the new album and touring in Seoul. Part {n}.",
        "categories": (category,),
        "published_at": datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=n),
        "image_url": None,
    }
    values.update(overrides)
    return Post(**values)  # type: ignore[arg-type]


def caller(
    platform: str = "telegram",
    *,
    chat_id: str = "-100500",
    kind: ChatKind = ChatKind.GROUP,
    user_id: str | None = "42",
    admin: bool = False,
    manage_server: bool = False,
    roles: tuple[str, ...] = (),
) -> Caller:
    """A caller factory for command tests."""
    return Caller(
        platform=platform,
        chat=ChatRef(platform, chat_id),
        chat_kind=kind,
        user_id=user_id,
        is_chat_admin=admin,
        can_manage_server=manage_server,
        role_ids=roles,
    )
