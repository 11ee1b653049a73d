"""A digest preview is what the chat would be sent: the chat's ``/digest preview``, the
operator's ``kcrush-bot digest preview`` and the publisher's digest are one assembly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from factories import caller, make_post
from kcrush_bot import app, cli
from kcrush_bot import settings as settings_mod
from kcrush_bot.core.models import ChatKind, DigestSchedule, Mode
from kcrush_bot.core.render import render_console
from kcrush_bot.core.replies import ListPage
from kcrush_bot.publisher import Publisher
from kcrush_bot.storage import Store
from publisher.publisherkit import FakePlatform

ADMIN = caller("telegram", chat_id="-1001", kind=ChatKind.GROUP, user_id="43", admin=True)
CHAT = ADMIN.chat


async def test_preview_in_the_chat_and_the_cli_is_the_digest_the_publisher_sends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_mod.from_dict(
        {
            "bot": {"sample_archive": False, "database": str(tmp_path / "bot.db")},
            # Fewer than the matching posts: the configured cap applies to previews as well.
            "digest": {"max_items": 11},
            "delivery": {"telegram_per_chat_seconds": 0.01, "telegram_group_per_minute": 6000.0},
        },
        environ={},
    )
    now = datetime.now(UTC)
    async with Store.open(settings.database_path) as store:
        await store.posts.sync_categories(settings.categories)
        await store.chats.subscribe(CHAT, ["interviews"], Mode.DAILY)
        await store.chats.set_digest(DigestSchedule(CHAT, Mode.DAILY, "09:00", "UTC"))
        await store.chats.mark_digest_sent(CHAT, now - timedelta(hours=1))
        await store.posts.upsert([make_post(n) for n in range(1, 14)], source="feed", pushable=True)
        await store.posts.upsert([make_post(99)], source="first-sight", pushable=False)
        await store.posts.upsert([make_post(50, category="news")], source="feed", pushable=True)

        args = cli.build_parser().parse_args(["digest", "preview", CHAT.key])
        assert await cli.VERBS[args.command](settings, args) == 0
        printed = capsys.readouterr().out
        async with app.build(settings, platforms={}) as built:
            in_chat = await built.service.dispatch(ADMIN, "digest", "preview")

        telegram = FakePlatform()
        tomorrow = now + timedelta(days=1)
        publisher = Publisher(store, settings, {"telegram": telegram}, clock=lambda: tomorrow)
        assert await publisher.send_due_digests(tomorrow) == 1
        assert await publisher.deliver_due() == 2
    sent = [s.reply for s in telegram.delivered(CHAT.key)]

    assert in_chat == sent
    assert printed == "".join(f"{render_console(reply)}\n\n" for reply in sent)
    first, last = sent
    assert isinstance(first, ListPage) and isinstance(last, ListPage)
    assert first.total == 13 and len(first.items) + len(last.items) == 11
    assert last.footer is not None and last.footer.startswith("…and 2 more")
