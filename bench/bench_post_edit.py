"""From a WordPress edit to the last edited copy: one post sent to N subscribed chats (half
Telegram private chats, half Discord channels), then its title edited in a real WordPress.

The bot runs as ``kcrush-bot run`` builds it (``app.build``, the real Telegram and Discord
adapters, the publisher) against the fake Bot API and the fake Discord on loopback, reading the
real WordPress of the tests (Debian's package, MariaDB, PHP's server; ``tests/wordpress``)
through its REST API every ``--interval`` seconds. Delivery keeps the shipped platform limits
(Telegram 30 messages/s overall, Discord 50/s), which edits share with sends.

Measured, each from the moment WordPress's call returned:

* ``publish``: to the last chat showing the card;
* ``edit``: to the last chat showing the new title. ``[delivery] edit_debounce`` is
  ``--debounce`` (the shipped 60 s would only add itself); the rest is the wait for the next
  poll (a push notice would replace it), arming one edit per message, and the edits under the
  platforms' limits.

    .venv/bin/python bench/bench_post_edit.py [--chats 200] [--interval 1] [--debounce 0.05]

Prints the figures and writes them to bench/results/post_edit.json. The fakes run in the
bot's process: their CPU time is counted with the bot's.
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
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "tests"))  # the fakes and the WordPress kit live with the tests

from e2e.e2ekit import fake_platforms, running_bot  # noqa: E402
from fakes.discord_api import FAKE_TOKEN  # noqa: E402
from kcrush_bot import settings as settings_mod  # noqa: E402
from kcrush_bot.core.models import ChatRef, Mode  # noqa: E402
from kcrush_bot.sources.ingest import Ingestor  # noqa: E402
from kcrush_bot.storage import Store  # noqa: E402
from wordpress.wpkit import running_wordpress  # noqa: E402

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


async def run(count: int, interval: float, debounce: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder, running_wordpress(Path(folder)) as wp:
        category = int(
            wp.eval(
                "$t = term_exists('interviews', 'category'); return $t ? (int) $t['term_id'] :"
                " (int) wp_insert_term('Interviews', 'category', ['slug' => 'interviews'])"
                "['term_id'];"
            )
        )
        async with fake_platforms() as (telegram, discord):
            settings = settings_mod.from_dict(
                {
                    "bot": {
                        "sample_archive": False,
                        "site_host": urlsplit(wp.url).netloc,
                        "database": str(Path(folder) / "bench.db"),
                    },
                    "http": {"listen": ""},
                    "telegram": {
                        "base_url": telegram.base_url,
                        "base_file_url": telegram.base_file_url,
                    },
                    "discord": {"api_base": discord.api_base, "gateway_url": discord.gateway_url},
                    "delivery": {"edit_debounce": debounce},
                    "sources": [
                        {
                            "name": "kcrush",
                            "kind": "wordpress",
                            "url": wp.posts_url,
                            "interval": interval,
                        }
                    ],
                },
                environ={
                    "KCRUSH_TELEGRAM_TOKEN": telegram.token,
                    "KCRUSH_DISCORD_TOKEN": FAKE_TOKEN,
                },
            )
            tg_chats, dc_chats = chats(count)
            async with Store.open(settings.database_path) as store:
                for chat in tg_chats:
                    await store.chats.subscribe(
                        ChatRef("telegram", chat), ["interviews"], Mode.INSTANT
                    )
                for chat in dc_chats:
                    await store.chats.subscribe(
                        ChatRef("discord", chat), ["interviews"], Mode.INSTANT
                    )
                async with Ingestor(store, settings) as ingestor:
                    await ingestor.poll(settings.sources[0])  # the silent first sight

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

            async with running_bot(settings):
                post = wp.create_post(TITLE, content="<p>On tour.</p>", categories=[category])
                published = await wait_for(lambda: showing(TITLE) >= count, 300)
                await asyncio.sleep(max(interval, debounce) + 1)
                edits_before = len(telegram.edits) + len(discord.edited)
                wp.update_post(post, title=EDITED)
                first = await wait_for(lambda: showing(EDITED) >= 1, 300)
                edited = await wait_for(lambda: showing(EDITED) >= count, 300) + first
                await asyncio.sleep(max(interval, debounce) + 1)
                edits = len(telegram.edits) + len(discord.edited) - edits_before
    return {
        "chats": count,
        "poll_interval_s": interval,
        "edit_debounce_s": debounce,
        "publish_to_last_card_s": round(published, 2),
        "edit_to_first_edited_copy_s": round(first, 2),
        "edit_to_last_edited_copy_s": round(edited, 2),
        "edits_made": edits,
        "telegram_429s": telegram.too_many_requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--interval", type=float, default=1.0, help="REST poll interval, s")
    parser.add_argument("--debounce", type=float, default=0.05, help="edit_debounce, s")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    figures = asyncio.run(run(args.chats, args.interval, args.debounce))
    for key, value in figures.items():
        print(f"{key:32} {value}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "post_edit.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
