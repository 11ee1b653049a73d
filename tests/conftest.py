"""Shared fixtures: a real SQLite store in a temporary directory, posts, and the command service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kcrush_bot import settings as settings_mod
from kcrush_bot.core.commands import CommandService, CoreConfig, default_registry
from kcrush_bot.core.models import ChatKind, ChatRef, Post
from kcrush_bot.core.permissions import Caller, Moderators
from kcrush_bot.storage import Store

REPO = Path(__file__).resolve().parent.parent
CATEGORIES = settings_mod.load_categories(REPO / "config" / "categories.toml")


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


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with Store.open(tmp_path / "kcrush.db") as opened:
        await opened.sync_categories(CATEGORIES)
        yield opened


@pytest.fixture
async def filled_store(store: Store) -> Store:
    posts = [make_post(n) for n in range(1, 13)]
    posts.append(
        make_post(
            13,
            category="kpop",
            title="KCRUSH Interview with KNK (크나큰)",
            teaser="KNK (Hangul: 크나큰) is a five-member boy band from 서울의 YNB Entertainment.",
            image_url="https://www.kcrush.com/wp-content/uploads/knk.jpg",
        )
    )
    await store.upsert_posts(posts, source="test", pushable=False)
    return store


MODERATOR_TELEGRAM = "1001"
MODERATOR_DISCORD = "2001"
MODERATOR_ROLE = "3001"


@pytest.fixture
def core_config() -> CoreConfig:
    return CoreConfig(
        version="test",
        moderators=Moderators(
            telegram_users=frozenset({MODERATOR_TELEGRAM}),
            discord_users=frozenset({MODERATOR_DISCORD}),
            discord_roles=frozenset({MODERATOR_ROLE}),
        ),
    )


@pytest.fixture
def service(filled_store: Store, core_config: CoreConfig) -> CommandService:
    return CommandService(filled_store, default_registry(), core_config)


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
