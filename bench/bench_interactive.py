"""Fans first: how fast commands are answered while a broadcast runs at the platform's limit.

For each platform, two runs against its limit-enforcing fake (in a child process, so the CPU
it burns is not the bot's), each a broadcast of one new post to N subscribed chats through the
real publisher and adapter:

* ``quiet``: nobody types. The broadcast's sustained rate, and how long a command's store read
  takes while the broadcast commits its outcomes: a probe runs ``/search`` every 100 ms,
  alternately on the store's read connection and, as before it had one, on the writer's
  connection (for two seconds before the broadcast too, for comparison).
* ``fans``: F of the subscribed chats each send one command at a random moment during the
  broadcast (``/latest 1 kpop`` or ``/search tour``): on Telegram as updates over long
  polling, on Discord as slash commands over the fake gateway.

Figures: reply latency, from the moment the fake hands the command to the bot until the first
message of the answer (Telegram) or the interaction's first response (Discord, an answer or a
deferral) is accepted, as median, p95 and worst, and until the whole answer is there; 429s;
interactions answered after their 3-second window; the broadcast's sustained rate next to the
quiet run's; and whether every chat got the post exactly once.

    .venv/bin/python bench/bench_interactive.py [--chats 2000] [--fans 50] [--seed 14]
        [--platform telegram|discord|both] [--runs quiet|fans|both]

Prints the figures and writes them to bench/results/interactive.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "tests"))  # the fakes live with the tests

from kcrush_bot import settings as settings_mod  # noqa: E402
from kcrush_bot.core.commands import CommandService, CoreConfig, default_registry  # noqa: E402
from kcrush_bot.core.models import ChatKind, ChatRef, Post  # noqa: E402
from kcrush_bot.core.permissions import Caller  # noqa: E402
from kcrush_bot.publisher import Publisher  # noqa: E402
from kcrush_bot.storage import Store  # noqa: E402
from kcrush_bot.storage.db import to_db_time  # noqa: E402

log = logging.getLogger("bench_interactive")

MARK = "live tonight"  # in the broadcast post's title only: tells its messages from answers
TELEGRAM_CHAT0 = 100_000
DISCORD_CHANNEL0 = 1_300_000_000_000_000_000
LIMITS = {"telegram": 30.0, "discord": 50.0}
COMMANDS = {
    "telegram": ["/latest 1 kpop", "/search tour"],
    "discord": [("latest", [("count", 1), ("category", "kpop")]), ("search", [("query", "tour")])],
}
PROBE_EVERY = 0.1


# -- the fakes, in a child process -----------------------------------------------------------------


async def serve_fake(platform: str) -> None:
    """Child process: run one fake, print how to reach it, then obey JSON lines on stdin."""
    fans: list[dict[str, Any]] = []
    if platform == "telegram":
        from fakes.telegram_api import start_fake_telegram, user_dict

        telegram = await start_fake_telegram()
        hello = {"base_url": telegram.base_url, "token": telegram.token}
    else:
        from fakes.discord_api import Where, option, start_fake_discord

        discord = await start_fake_discord()
        hello = {"api_base": discord.api_base, "gateway_url": discord.gateway_url}
    print(json.dumps(hello), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        order = json.loads(line)
        if order["op"] == "fan" and platform == "telegram":
            chat = int(order["chat"])
            telegram.message_update(chat, order["text"], user=user_dict(chat))
            fans.append({"chat": str(chat), "text": order["text"], "at": time.monotonic()})
        elif order["op"] == "fan":
            name, options = order["command"]
            where = Where(channel_id=order["chat"], user_id=str(7000 + len(fans)))
            payload = discord.slash(name, [option(k, v) for k, v in options], where)
            await discord.dispatch_interaction(payload)
            fans.append({"chat": order["chat"], "payload": payload, "at": time.monotonic()})
        elif order["op"] == "stats":
            if platform == "telegram":
                stats = telegram_stats(telegram, fans, order["chats"])
            else:
                stats = discord_stats(discord, fans, order["chats"])
            print(json.dumps(stats), flush=True)
    if platform == "telegram":
        await telegram.close()
    else:
        await discord.close()


def telegram_stats(fake: Any, fans: list[dict[str, Any]], chats: list[str]) -> dict[str, Any]:
    accepted = [c for c in fake.calls_log if c.status == 200 and c.chat_id is not None]
    broadcast = [c for c in accepted if MARK in _text(c)]
    per_chat: dict[str, int] = {}
    for call in broadcast:
        per_chat[call.chat_id] = per_chat.get(call.chat_id, 0) + 1
    latencies = []
    for fan in fans:
        answer = [
            c
            for c in accepted
            if c.chat_id == fan["chat"] and c.at >= fan["at"] and MARK not in _text(c)
        ]
        first = answer[0].at - fan["at"] if answer else None
        whole = answer[-1].at - fan["at"] if answer else None
        latencies.append({"first": first, "whole": whole, "messages": len(answer)})
    return {
        "fans": latencies,
        "broadcast_times": [c.at for c in broadcast],
        "exactly_once": sum(1 for chat in chats if per_chat.get(chat) == 1),
        "missing": sum(1 for chat in chats if not per_chat.get(chat)),
        "repeated": sum(1 for chat in chats if per_chat.get(chat, 0) > 1),
        "too_many_requests": fake.too_many_requests,
        "late_interactions": 0,
    }


def _text(call: Any) -> str:
    return str(call.params.get("text") or call.params.get("caption") or "")


def discord_stats(fake: Any, fans: list[dict[str, Any]], chats: list[str]) -> dict[str, Any]:
    posts = fake.channel_posts()
    per_chat: dict[str, int] = {}
    for post in posts:
        channel = post.path.split("/")[2]
        per_chat[channel] = per_chat.get(channel, 0) + 1
    latencies = []
    for fan in fans:
        traffic = fake.interaction_traffic(fan["payload"])
        answered = [r for r in traffic if 200 <= r.status < 300]
        first = answered[0].at - fan["at"] if answered else None
        whole = answered[-1].at - fan["at"] if answered else None
        latencies.append({"first": first, "whole": whole, "messages": len(answered)})
    return {
        "fans": latencies,
        "broadcast_times": [p.at for p in posts],
        "exactly_once": sum(1 for chat in chats if per_chat.get(chat) == 1),
        "missing": sum(1 for chat in chats if not per_chat.get(chat)),
        "repeated": sum(1 for chat in chats if per_chat.get(chat, 0) > 1),
        "too_many_requests": fake.rate_limited,
        "late_interactions": fake.late_interactions,
    }


class FakeProcess:
    def __init__(self, proc: asyncio.subprocess.Process, hello: dict[str, Any]) -> None:
        self.proc, self.hello = proc, hello

    @classmethod
    async def start(cls, platform: str) -> FakeProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve-fake",
            platform,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        return cls(proc, json.loads(await proc.stdout.readline()))

    async def tell(self, **order: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(order).encode() + b"\n")
        await self.proc.stdin.drain()

    async def stats(self, chats: list[str]) -> dict[str, Any]:
        assert self.proc.stdout is not None
        await self.tell(op="stats", chats=chats)
        return json.loads(await self.proc.stdout.readline())  # type: ignore[no-any-return]

    async def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), 5)
        if self.proc.returncode is None:
            self.proc.kill()


# -- the bot ---------------------------------------------------------------------------------------


def chat_keys(platform: str, chats: int) -> list[str]:
    first = TELEGRAM_CHAT0 if platform == "telegram" else DISCORD_CHANNEL0
    return [str(first + n) for n in range(chats)]


async def fill(store: Store, platform: str, chats: list[str]) -> None:
    """An archive to read from, ``chats`` subscribed to interviews, and one new post for them."""
    archive = []
    for n in range(1, 301):
        category = ("kpop", "k-dramas", "k-pop-interviews")[n % 3]
        archive.append(
            Post(
                url=f"https://www.kcrush.com/archive-{n}/",
                title=f"KCRUSH Interview number {n} with Artist{n}",
                teaser=f"Artist{n} talks about the new album and touring in Seoul. Part {n}.",
                categories=(category,),
                published_at=datetime(2024, 1, 1, tzinfo=UTC).replace(day=1 + n % 28),
            )
        )
    await store.posts.upsert(archive, source="bench", pushable=False)
    stamp = to_db_time(datetime.now(UTC))
    async with store.db.transaction() as db:
        await db.executemany(
            "INSERT INTO chats (key, platform, chat_id, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [(f"{platform}:{chat}", platform, chat, stamp, stamp) for chat in chats],
        )
        await db.executemany(
            "INSERT INTO subscriptions (chat_key, category, mode, created_at, updated_at) "
            "VALUES (?, 'interviews', 'instant', ?, ?)",
            [(f"{platform}:{chat}", stamp, stamp) for chat in chats],
        )
    post = Post(
        url="https://www.kcrush.com/kcrush-interview-with-knk/",
        title=f"KCRUSH Interview with KNK (크나큰), {MARK}",
        teaser="KNK is a five-member boy band from YNB Entertainment. They talk about the show.",
        categories=("k-pop-interviews",),
        published_at=datetime.now(UTC),
    )
    await store.posts.upsert([post], source="bench", pushable=True)


def connect(platform: str, hello: dict[str, Any], service: CommandService) -> Any:
    from kcrush_bot.settings import Secret

    if platform == "telegram":
        from kcrush_bot.platforms.telegram import TelegramPlatform
        from kcrush_bot.settings import TelegramSettings

        return TelegramPlatform(
            TelegramSettings(
                base_url=hello["base_url"],
                base_file_url=hello["base_url"].replace("/bot", "/file/bot"),
                token=Secret(hello["token"]),
            ),
            service,
            poll_timeout=10,
        )
    from kcrush_bot.platforms.discord import DiscordPlatform
    from kcrush_bot.settings import DiscordSettings

    return DiscordPlatform(
        DiscordSettings(
            api_base=hello["api_base"],
            gateway_url=hello["gateway_url"],
            token=Secret("bench-token"),
        ),
        service,
    )


async def probe_reads(
    service: CommandService, store: Store, stop: asyncio.Event
) -> dict[str, list[float]]:
    """How long a fan's ``search`` takes (the store read and the reply built), every 100 ms,
    alternately on the read connection and on the writer's (where all reads went before)."""
    caller = Caller("console", ChatRef("console", "probe"), ChatKind.PRIVATE, "probe")
    connections = {"reader": getattr(store.db, "reader", None), "writer": store.db.connection}
    if connections["reader"] is None:  # a store from before the read connection: compare none
        connections["reader"] = store.db.connection
    took: dict[str, list[float]] = {name: [] for name in connections}
    try:
        while not stop.is_set():
            for name, connection in connections.items():
                store.db.reader = connection
                started = time.perf_counter()
                await service.dispatch(caller, "search", "tour")
                took[name].append(time.perf_counter() - started)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), PROBE_EVERY / 2)
    finally:
        store.db.reader = connections["reader"]
    return took


async def run(platform: str, chats: int, fans: int, seed: int) -> dict[str, Any]:
    """One broadcast to ``chats``; ``fans`` of them type a command during it (0: quiet)."""
    settings = settings_mod.from_dict({"bot": {"sample_archive": False}})
    keys = chat_keys(platform, chats)
    load_before = os.getloadavg()[0]
    fake = await FakeProcess.start(platform)
    idle: dict[str, list[float]] = {}
    during: dict[str, list[float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with Store.open(Path(tmp) / "bench.db") as store:
                await store.posts.sync_categories(settings.categories)
                await fill(store, platform, keys)
                service = CommandService(store, default_registry(), CoreConfig())
                async with connect(platform, fake.hello, service) as bot:
                    if platform == "discord":
                        await asyncio.wait_for(bot.wait_until_ready(), 30)
                    publisher = Publisher(store, settings, {platform: bot}, service=service)
                    queued = await publisher.enqueue_new_posts()
                    if not fans:
                        stop = asyncio.Event()
                        probe = asyncio.create_task(probe_reads(service, store, stop))
                        await asyncio.sleep(2.0)
                        stop.set()
                        idle = await probe
                        stop.clear()
                        probe = asyncio.create_task(probe_reads(service, store, stop))
                    typing = asyncio.create_task(
                        type_commands(fake, platform, keys, fans, seed, chats / LIMITS[platform])
                    )
                    started = time.perf_counter()
                    delivered = await publisher.deliver_due()
                    wall = time.perf_counter() - started
                    await typing
                    if not fans:
                        stop.set()
                        during = await probe
                    # Let the last answers land before counting.
                    await asyncio.sleep(3.0 if fans else 0.5)
                    stats = await fake.stats(keys)
    finally:
        await fake.stop()
    result = summarise(platform, chats, fans, queued, delivered, wall, stats, idle, during)
    # A shared 2-core machine: how busy it was says how far to trust the timings.
    result["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return result


async def type_commands(
    fake: FakeProcess, platform: str, keys: list[str], fans: int, seed: int, duration: float
) -> None:
    """``fans`` subscribed chats each send one command at a random moment of the broadcast."""
    rng = random.Random(seed)
    chats = rng.sample(keys, fans)
    moments = sorted(rng.uniform(1.0, max(duration * 0.85, 2.0)) for _ in chats)
    started = time.perf_counter()
    for chat, moment in zip(chats, moments, strict=True):
        await asyncio.sleep(max(0.0, started + moment - time.perf_counter()))
        if platform == "telegram":
            await fake.tell(op="fan", chat=chat, text=rng.choice(COMMANDS["telegram"]))
        else:
            await fake.tell(op="fan", chat=chat, command=rng.choice(COMMANDS["discord"]))


def _quantiles(values: list[float], scale: float = 1.0) -> dict[str, float | None]:
    """Median, p95 and worst, times ``scale`` (1000 for milliseconds), to three decimals."""
    if not values:
        return {"median": None, "p95": None, "worst": None}
    ordered = sorted(v * scale for v in values)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {
        "median": round(statistics.median(ordered), 3),
        "p95": round(p95, 3),
        "worst": round(ordered[-1], 3),
    }


def summarise(
    platform: str,
    chats: int,
    fans: int,
    queued: int,
    delivered: int,
    wall: float,
    stats: dict[str, Any],
    idle: dict[str, list[float]],
    during: dict[str, list[float]],
) -> dict[str, Any]:
    limit = LIMITS[platform]
    times = sorted(stats["broadcast_times"])
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    sustained = (len(times) - 1) / span if span > 0 else 0.0
    answers = stats["fans"]
    result: dict[str, Any] = {
        "platform": platform,
        "run": "fans" if fans else "quiet",
        "chats": chats,
        "fans": fans,
        "queued": queued,
        "delivered": delivered,
        "wall_seconds": round(wall, 2),
        "sustained_per_second": round(sustained, 2),
        "limit_per_second": limit,
        "share_of_limit": round(sustained / limit, 4),
        "too_many_requests": stats["too_many_requests"],
        "late_interactions": stats["late_interactions"],
        "exactly_once": stats["exactly_once"],
        "missing": stats["missing"],
        "repeated": stats["repeated"],
    }
    if fans:
        firsts = [a["first"] for a in answers if a["first"] is not None]
        wholes = [a["whole"] for a in answers if a["whole"] is not None]
        result["answered"] = len(firsts)
        result["reply_seconds"] = _quantiles(firsts)
        result["whole_answer_seconds"] = _quantiles(wholes)
    else:
        for when, took in (("idle", idle), ("during_broadcast", during)):
            for name, values in took.items():
                result[f"search_ms_{when}_{name}"] = _quantiles(values, 1000.0)
    return result


def show(result: dict[str, Any]) -> None:
    head = (
        f"{result['platform']:8} {result['run']:5}  {result['delivered']:5} of "
        f"{result['chats']} chats in {result['wall_seconds']:6.2f} s  sustained "
        f"{result['sustained_per_second']:5.2f}/s ({result['share_of_limit']:.1%} of "
        f"{result['limit_per_second']:g}/s)  429s: {result['too_many_requests']}  "
        f"exactly once: {result['exactly_once']}/{result['chats']}  load average "
        f"{result['load_average'][0]:.1f} → {result['load_average'][1]:.1f}"
    )
    print(head, flush=True)
    if result["run"] == "fans":
        reply, whole = result["reply_seconds"], result["whole_answer_seconds"]
        print(
            f"{'':15}{result['answered']}/{result['fans']} fans answered; first message "
            f"median {reply['median']} s, p95 {reply['p95']} s, worst {reply['worst']} s; "
            f"whole answer median {whole['median']} s, p95 {whole['p95']} s, worst "
            f"{whole['worst']} s; late interactions: {result['late_interactions']}",
            flush=True,
        )
    else:
        for name, label in (("reader", "read connection"), ("writer", "writer's connection")):
            idle, during = (result[f"search_ms_{w}_{name}"] for w in ("idle", "during_broadcast"))
            print(
                f"{'':15}/search on the {label}: idle median {idle['median']} ms, p95 "
                f"{idle['p95']} ms, worst {idle['worst']} ms; during the broadcast median "
                f"{during['median']} ms, p95 {during['p95']} ms, worst {during['worst']} ms",
                flush=True,
            )


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    platforms = ["telegram", "discord"] if args.platform == "both" else [args.platform]
    results = []
    runs = {"quiet": (0,), "fans": (args.fans,), "both": (0, args.fans)}[args.runs]
    for platform in platforms:
        for fans in runs:
            result = await run(platform, args.chats, fans, args.seed)
            show(result)
            results.append(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "interactive.json"
    out.write_text(
        json.dumps({"command": " ".join(sys.argv), "runs": results}, indent=2), encoding="utf-8"
    )
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=2000)
    parser.add_argument("--fans", type=int, default=50)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--platform", choices=("telegram", "discord", "both"), default="both")
    parser.add_argument("--runs", choices=("quiet", "fans", "both"), default="both")
    parser.add_argument("--serve-fake", choices=("telegram", "discord"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve_fake:
        asyncio.run(serve_fake(options.serve_fake))
    else:
        asyncio.run(main(options))
