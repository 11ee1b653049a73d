"""``app.build``: one function wires the whole graph, and tests pass their fakes into it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from factories import caller
from kcrush_bot import app
from kcrush_bot import settings as settings_mod
from kcrush_bot.core.commands import CommandService
from kcrush_bot.core.models import ChatKind
from kcrush_bot.core.replies import Text
from kcrush_bot.platforms.console import ConsolePlatform
from kcrush_bot.settings import Settings
from kcrush_bot.storage import Store
from publisher.publisherkit import FakePlatform

ADMIN = caller("telegram", chat_id="-1001", kind=ChatKind.GROUP, user_id="43", admin=True)


def make_settings(tmp_path: Path) -> Settings:
    return settings_mod.from_dict(
        {"bot": {"sample_archive": False, "database": str(tmp_path / "bot.db")}}, environ={}
    )


async def test_status_shows_the_next_digest_the_publisher_scheduled(tmp_path: Path) -> None:
    # The command service reads the publisher's digest calendar: wired at build, not patched.
    now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    telegram = FakePlatform()
    async with app.build(
        make_settings(tmp_path), platforms={"telegram": telegram}, clock=lambda: now
    ) as built:
        assert built.platforms == {"telegram": telegram}
        await built.service.dispatch(ADMIN, "digest", "daily 09:30 UTC")
        async with built.publisher:
            [status] = await built.service.dispatch(ADMIN, "status")
    assert isinstance(status, Text)
    assert "Next digest here: 2026-03-02 09:30 UTC" in status.text


async def test_platforms_are_made_for_the_service_the_graph_holds(tmp_path: Path) -> None:
    given: list[CommandService] = []

    def platforms(service: CommandService) -> dict[str, FakePlatform]:
        given.append(service)
        return {"telegram": FakePlatform()}

    async with app.build(make_settings(tmp_path), platforms=platforms) as built:
        assert given == [built.service]
        assert set(built.publisher.platforms) == {"telegram"}


async def test_without_tokens_the_console_is_the_platform(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "given.db") as store:
        async with app.build(make_settings(tmp_path), store=store) as built:
            assert built.store is store
            [(name, console)] = built.platforms.items()
            assert name == "console" and isinstance(console, ConsolePlatform)
            assert console.service is built.service
        async with app.build(make_settings(tmp_path), store=store, platforms={}) as built:
            assert built.platforms == {} and built.publisher.platforms == {}
