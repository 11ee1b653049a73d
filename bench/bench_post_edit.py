"""From a WordPress edit to the last edited copy: one post sent to N subscribed chats (half
Telegram private chats, half Discord channels), then its title edited in a real WordPress.

``kcrush-bot run`` runs as a process against the fake Bot API and the fake Discord on loopback
(in this process), reading the real WordPress of the tests (Debian's package, MariaDB, PHP's
server; ``tests/wordpress``) through its REST API. Delivery keeps the shipped platform limits
(Telegram 30 messages/s overall, Discord 50/s), which edits share with sends. Two runs:

* ``push``: the kcrush-bot plugin active and pointed at the bot, polling hourly: the edit
  reaches the bot as a notice, as in production;
* ``poll``: the plugin off, the REST API polled every ``--interval`` seconds.

Measured, each from the moment WordPress's call returned: ``publish``, to the last chat
showing the card; ``edit``, to the first and to the last chat showing the new title.
``[delivery] edit_debounce`` is ``--debounce``: the shipped 60 s would only add itself.

    .venv/bin/python bench/bench_post_edit.py [--chats 200] [--interval 1] [--debounce 0.05]

Prints the figures and writes them to bench/results/post_edit.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "tests"))  # the fakes and the WordPress kit live with the tests

from e2e.e2ekit import fake_platforms, write_config  # noqa: E402
from fakes.discord_api import FAKE_TOKEN  # noqa: E402
from kcrush_bot.core.models import ChatRef  # noqa: E402
from push.wpbot import (  # noqa: E402
    SECRET,
    last_polled,
    plug_in,
    point_at,
    polled_after,
    prepare,
    start,
)
from wordpress.wpkit import WordPress, running_wordpress  # noqa: E402

log = logging.getLogger("bench_post_edit")
TITLE = "Bench Interview with SEVENTEEN"
EDITED = "Bench Interview with SEVENTEEN, corrected"


def chats(count: int) -> tuple[list[str], list[str]]:
    telegram = [str(5_000_000 + n) for n in range(count // 2)]
    discord = [str(1_400_000_000_000_000_000 + n) for n in range(count - count // 2)]
    return telegram, discord


async def wait_for(check: Any, within: float) -> float:
    """Seconds until ``check()`` is true (polled every 20 ms)."""
    start = time.monotonic()
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - the fakes' state has no event to wait on
            await asyncio.sleep(0.02)
    return time.monotonic() - start


async def run(
    wp: WordPress, folder: Path, count: int, *, push: bool, interval: float, debounce: float
) -> dict[str, Any]:
    category = int(
        wp.eval(
            "$t = term_exists('interviews', 'category'); return $t ? (int) $t['term_id'] :"
            " (int) wp_insert_term('Interviews', 'category', ['slug' => 'interviews'])"
            "['term_id'];"
        )
    )
    tg_chats, dc_chats = chats(count)
    async with fake_platforms() as (telegram, discord):
        with plug_in(wp, push=push):
            config = write_config(
                folder,
                telegram=telegram,
                discord=discord,
                source_kind="wordpress",
                source_url=wp.rest_url,
                interval=3600 if push else interval,
                delivery={"edit_debounce": debounce},
            )
            database = folder / "bench.db"
            subscribed = [ChatRef("telegram", c) for c in tg_chats]
            subscribed += [ChatRef("discord", c) for c in dc_chats]
            await prepare(config, database, subscribed)
            seen = await last_polled(database)
            env = {"KCRUSH_TELEGRAM_TOKEN": telegram.token, "KCRUSH_DISCORD_TOKEN": FAKE_TOKEN}
            if push:
                env["KCRUSH_PUSH_SECRET"] = SECRET
            bot = await start(config, database, folder / "bot.log", env=env)
            try:
                if push:
                    point_at(wp, bot.url)
                await polled_after(database, seen)

                def showing(title: str) -> int:
                    shown = sum(
                        1
                        for chat in tg_chats
                        for m in telegram.sent(chat)
                        if (m.get("text") or m.get("caption") or "").startswith(title + "\n")
                    )
                    shown += sum(
                        1
                        for m in discord.messages.values()
                        if m["channel_id"] in dc_chats
                        and any(str(e.get("title", "")).endswith(title) for e in m["embeds"])
                    )
                    return shown

                post = wp.create_post(TITLE, content="<p>On tour.</p>", categories=[category])
                published = await wait_for(lambda: showing(TITLE) >= count, 300)
                await asyncio.sleep(max(interval, debounce) + 1)
                edits_before = len(telegram.edits) + len(discord.edited)
                wp.update_post(post, title=EDITED)
                first = await wait_for(lambda: showing(EDITED) >= 1, 300)
                edited = await wait_for(lambda: showing(EDITED) >= count, 300) + first
                await asyncio.sleep(max(interval, debounce) + 1)
                edits = len(telegram.edits) + len(discord.edited) - edits_before
            finally:
                await bot.stop()
    return {
        "mode": "push" if push else f"poll every {interval:g} s",
        "chats": count,
        "edit_debounce_s": debounce,
        "publish_to_last_card_s": round(published, 2),
        "edit_to_first_edited_copy_s": round(first, 2),
        "edit_to_last_edited_copy_s": round(edited, 2),
        "edits_made": edits,
        "telegram_429s": telegram.too_many_requests,
    }


async def both(count: int, interval: float, debounce: float) -> list[dict[str, Any]]:
    results = []
    # The WordPress session's files and the two bots' folders share one scratch folder.
    with (
        tempfile.TemporaryDirectory(prefix="bench-edit-") as scratch,
        running_wordpress(Path(scratch)) as wp,
    ):
        for push in (True, False):
            folder = Path(scratch) / ("bot-push" if push else "bot-poll")
            folder.mkdir()
            results.append(
                await run(wp, folder, count, push=push, interval=interval, debounce=debounce)
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--interval", type=float, default=1.0, help="REST poll interval, s")
    parser.add_argument("--debounce", type=float, default=0.05, help="edit_debounce, s")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    runs = asyncio.run(both(args.chats, args.interval, args.debounce))
    for figures in runs:
        print(figures["mode"])
        for key, value in figures.items():
            print(f"  {key:32} {value}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "post_edit.json").write_text(json.dumps(runs, indent=2) + "\n")


if __name__ == "__main__":
    main()
