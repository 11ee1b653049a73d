"""Broadcast rate: one post to N subscribed chats, through the publisher, against a fake platform.

Three runs:

* ``telegram-30``: the real Telegram adapter (python-telegram-bot) against the limit-enforcing
  fake Bot API at Telegram's 30 messages/s. Target: ≥ 95 % of 30/s sustained, zero 429s.
* ``telegram-raised``: the same with the fake's and the publisher's overall limit raised
  (Telegram's paid broadcasts allow 1,000/s): how far the whole path goes.
* ``core``: a no-op platform with no limit: what the core itself costs per message (claims,
  pacing, outcome commits), without HTTP.

The fake Bot API runs in a child process, so the CPU time measured here (``time.process_time``)
is the bot's own: publisher, adapter and HTTP client.

    .venv/bin/python bench/bench_broadcast.py [--chats 2000] [--raised 1000]

Prints the figures and writes them to bench/results/broadcast.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "tests"))  # the fake Bot API lives with the tests

from kcrush_bot import settings as settings_mod  # noqa: E402
from kcrush_bot.core.commands import CommandService, CoreConfig, default_registry  # noqa: E402
from kcrush_bot.core.models import ChatRef, Post  # noqa: E402
from kcrush_bot.core.replies import Reply  # noqa: E402
from kcrush_bot.publisher import Publisher  # noqa: E402
from kcrush_bot.storage import Store  # noqa: E402
from kcrush_bot.storage.db import to_db_time  # noqa: E402

log = logging.getLogger("bench_broadcast")


# -- the fake Bot API, in a child process ---------------------------------------------------------


async def serve_fake(per_second: float) -> None:
    """Child process: run the fake, print its URL, answer "stats" lines with JSON."""
    from fakes.telegram_api import Limits, start_fake_telegram

    fake = await start_fake_telegram(limits=Limits(per_second=per_second))
    print(json.dumps({"base_url": fake.base_url, "token": fake.token}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip() == b"stats":
            sends = [c.at for c in fake.calls("sendMessage") if c.status == 200]
            print(
                json.dumps(
                    {
                        "sent": len(sends),
                        "too_many_requests": fake.too_many_requests,
                        "first": min(sends, default=0.0),
                        "last": max(sends, default=0.0),
                    }
                ),
                flush=True,
            )
    await fake.close()


class FakeProcess:
    def __init__(self, proc: asyncio.subprocess.Process, base_url: str, token: str) -> None:
        self.proc, self.base_url, self.token = proc, base_url, token

    @classmethod
    async def start(cls, per_second: float) -> FakeProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve-fake",
            str(per_second),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        hello = json.loads(await proc.stdout.readline())
        return cls(proc, hello["base_url"], hello["token"])

    async def stats(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(b"stats\n")
        await self.proc.stdin.drain()
        return json.loads(await self.proc.stdout.readline())  # type: ignore[no-any-return]

    async def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), 5)
        if self.proc.returncode is None:
            self.proc.kill()


class NullPlatform:
    """A platform that accepts everything at once: the core's own cost, without HTTP."""

    name = "telegram"

    def __init__(self) -> None:
        self.count = 0

    async def __aenter__(self) -> NullPlatform:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def send(self, chat: ChatRef, reply: Reply) -> list[str]:
        self.count += 1
        return [str(self.count)]


# -- one run --------------------------------------------------------------------------------------


async def fill(store: Store, chats: int) -> None:
    """``chats`` private chats subscribed to interviews, and one new post for them."""
    stamp = to_db_time(datetime.now(UTC))
    async with store.db.transaction() as db:
        await db.executemany(
            "INSERT INTO chats (key, platform, chat_id, created_at, updated_at) "
            "VALUES (?, 'telegram', ?, ?, ?)",
            [(f"telegram:{100_000 + n}", str(100_000 + n), stamp, stamp) for n in range(chats)],
        )
        await db.executemany(
            "INSERT INTO subscriptions (chat_key, category, mode, created_at, updated_at) "
            "VALUES (?, 'interviews', 'instant', ?, ?)",
            [(f"telegram:{100_000 + n}", stamp, stamp) for n in range(chats)],
        )
    post = Post(
        url="https://www.kcrush.com/kcrush-interview-with-knk/",
        title="KCRUSH Interview with KNK (크나큰)",
        teaser="KNK is a five-member boy band from YNB Entertainment. They talk about touring.",
        categories=("k-pop-interviews",),
        published_at=datetime.now(UTC),
    )
    await store.posts.upsert([post], source="bench", pushable=True)


async def run(name: str, chats: int, per_second: float | None) -> dict[str, Any]:
    """Broadcast to ``chats``; ``per_second`` None means the no-op platform without limits."""
    settings = settings_mod.from_dict(
        {
            "bot": {"sample_archive": False},
            "delivery": {"telegram_per_second": per_second or 1_000_000.0},
        }
    )
    fake = await FakeProcess.start(per_second) if per_second else None
    with tempfile.TemporaryDirectory() as tmp:
        async with Store.open(Path(tmp) / "bench.db") as store:
            await store.posts.sync_categories(settings.categories)
            await fill(store, chats)
            service = CommandService(store, default_registry(), CoreConfig())
            platform: Any
            if fake is not None:
                from kcrush_bot.platforms.telegram import TelegramPlatform
                from kcrush_bot.settings import Secret, TelegramSettings

                platform = TelegramPlatform(
                    TelegramSettings(
                        base_url=fake.base_url,
                        base_file_url=fake.base_url.replace("/bot", "/file/bot"),
                        token=Secret(fake.token),
                    ),
                    service,
                )
            else:
                platform = NullPlatform()
            async with platform:
                publisher = Publisher(store, settings, {"telegram": platform}, service=service)
                queued = await publisher.enqueue_new_posts()
                cpu = time.process_time()
                wall = time.perf_counter()
                delivered = await publisher.deliver_due()
                wall = time.perf_counter() - wall
                cpu = time.process_time() - cpu
    result: dict[str, Any] = {
        "run": name,
        "chats": chats,
        "queued": queued,
        "delivered": delivered,
        "limit_per_second": per_second,
        "wall_seconds": round(wall, 3),
        "rate_per_second": round(delivered / wall, 2),
        "cpu_ms_per_message": round(cpu / max(delivered, 1) * 1000, 4),
    }
    if fake is not None:
        stats = await fake.stats()
        await fake.stop()
        span = stats["last"] - stats["first"]
        sustained = (stats["sent"] - 1) / span if span > 0 else 0.0
        result.update(
            received=stats["sent"],
            too_many_requests=stats["too_many_requests"],
            sustained_per_second=round(sustained, 2),
            share_of_limit=round(sustained / per_second, 4) if per_second else None,
        )
    return result


def show(result: dict[str, Any]) -> None:
    line = (
        f"{result['run']:16} {result['delivered']:5} messages in {result['wall_seconds']:7.2f} s"
        f"  {result['rate_per_second']:8.1f}/s  CPU {result['cpu_ms_per_message']:.3f} ms/message"
    )
    if "sustained_per_second" in result:
        line += (
            f"  sustained {result['sustained_per_second']:.2f}/s "
            f"({result['share_of_limit']:.1%} of {result['limit_per_second']:g}/s)"
            f"  429s: {result['too_many_requests']}"
        )
    print(line, flush=True)


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    results = []
    for name, chats, rate in (
        ("telegram-30", args.chats, 30.0),
        ("telegram-raised", args.chats, float(args.raised)),
        ("core", args.chats * 5, None),
    ):
        result = await run(name, chats, rate)
        show(result)
        results.append(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "broadcast.json"
    out.write_text(json.dumps({"runs": results}, indent=2), encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=2000)
    parser.add_argument("--raised", type=int, default=1000, help="the raised overall limit")
    parser.add_argument("--serve-fake", type=float, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve_fake:
        asyncio.run(serve_fake(options.serve_fake))
    else:
        asyncio.run(main(options))
