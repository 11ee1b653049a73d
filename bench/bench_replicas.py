"""Replicas: one post broadcast to N chats by one, two and three ``kcrush-bot run`` processes on
one PostgreSQL database, and by one on SQLite; search over a large archive on both stores.

Each broadcast runs the real bot as processes (``kcrush-bot run``) against the limit-enforcing
fake Bot API at Telegram's 30 messages/s, in a child process of its own. Reported per run:
the sustained rate (first to last delivery) against the limit, 429s, the bots' CPU
time per message (every replica's user + system time over the broadcast, from /proc) and each
replica's resident memory at the end. The PostgreSQL server is a real one, from the binaries
the test extra installs (tests/pg.py).

    .venv/bin/python bench/bench_replicas.py [--chats 2000] [--posts 100000] [--queries 600]

Prints the figures and writes them to bench/results/replicas.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "tests"))  # the fake Bot API, the e2e kit, the PostgreSQL server
sys.path.insert(0, str(ROOT / "bench"))

import asyncpg  # noqa: E402

from bench_broadcast import FakeProcess  # noqa: E402
from bench_search import make_posts, make_queries, measure  # noqa: E402
from e2e.e2ekit import Item, rss, write_config  # noqa: E402
from kcrush_bot import app  # noqa: E402
from kcrush_bot import settings as settings_mod  # noqa: E402
from kcrush_bot.core.models import ChatRef, Mode  # noqa: E402
from kcrush_bot.sources.ingest import Ingestor  # noqa: E402
from kcrush_bot.storage import Store  # noqa: E402
from pg import running_server  # noqa: E402

LIMIT = 30.0
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def prepare(config_path: Path, database: str, chats: int) -> None:
    settings = settings_mod.load(str(config_path), db=database)
    async with Store.open(database) as store:
        await app.prepare_store(store, settings)
        for n in range(chats):
            await store.chats.subscribe(
                ChatRef("telegram", str(100_000 + n)), ["interviews"], Mode.INSTANT
            )
        async with Ingestor(store, settings) as ingestor:
            await ingestor.poll(settings.sources[0])  # the feed's silent first sight


async def broadcast(database: str, replicas: int, chats: int, workdir: Path) -> dict[str, Any]:
    """One broadcast by ``replicas`` bot processes, against a fake of its own."""
    fake = await FakeProcess.start(LIMIT)
    try:
        return await _broadcast(fake, database, replicas, chats, workdir)
    finally:
        await fake.stop()


async def _broadcast(
    fake: FakeProcess, database: str, replicas: int, chats: int, workdir: Path
) -> dict[str, Any]:
    workdir.mkdir(parents=True)  # noqa: ASYNC240 - a benchmark's set-up, nothing waits on it
    feed = workdir / "feed.xml"
    feed.write_bytes(rss([Item(1)]))
    config = workdir / "kcrush-bot.toml"
    write_config(workdir, source_url=feed, interval=1.0)
    # The fake runs in another process: point the bot at it by URL.
    config.write_text(
        config.read_text()
        + f'\n[telegram]\nbase_url = "{fake.base_url}"\nbase_file_url = "{fake.base_url}"\n'
    )
    await prepare(config, database, chats)
    before = await fake.stats()
    env = dict(os.environ, KCRUSH_TELEGRAM_TOKEN=fake.token)
    env.pop("KCRUSH_DISCORD_TOKEN", None)
    log = (workdir / "bot.log").open("ab")
    bots = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "kcrush_bot", "--config", str(config), "--db", database, "run"),
            stdout=log,
            stderr=log,
            env=env,
        )
        for _ in range(replicas)
    ]
    try:
        if database.startswith("postgresql://"):
            conn = await asyncpg.connect(database)
            try:
                alive = "SELECT count(*) FROM replicas WHERE seen_at > now() - interval '6 s'"
                while await conn.fetchval(alive) < replicas:  # noqa: ASYNC110 - no event in SQL
                    await asyncio.sleep(0.2)
            finally:
                await conn.close()
            await asyncio.sleep(2.5)  # every replica beating, its worker awake
        else:
            await asyncio.sleep(4.0)  # started and polled once
        load = os.getloadavg()[0]
        cpu_before = sum(cpu_seconds(b.pid) for b in bots)
        feed.write_bytes(rss([Item(1), Item(2)]))
        started = time.monotonic()
        stats = await fake.stats()
        while stats["sent"] - before["sent"] < chats and time.monotonic() - started < 600:
            await asyncio.sleep(0.5)
            stats = await fake.stats()
        cpu = sum(cpu_seconds(b.pid) for b in bots) - cpu_before
        memory = [round(rss_mib(b.pid), 1) for b in bots]
    finally:
        for bot in bots:
            bot.send_signal(signal.SIGTERM)
        for bot in bots:
            await bot.wait()
        log.close()
    sent = stats["sent"] - before["sent"]
    rate = sent / max(stats["last"] - stats["first"], 1e-9)  # a fake of its own per run
    return {
        "replicas": replicas,
        "store": "postgres" if database.startswith("postgresql://") else "sqlite",
        "messages": sent,
        "rate_per_s": round(rate, 2),
        "of_limit": round(rate / LIMIT, 3),
        "too_many_requests": stats["too_many_requests"] - before["too_many_requests"],
        "cpu_ms_per_message": round(cpu / max(sent, 1) * 1000, 3),
        "rss_mib_per_replica": memory,
        "load_average": round(load, 2),  # the machine's, over the minute before the broadcast
    }


async def search_figures(database: str, posts: int, queries: int) -> dict[str, Any]:
    data = make_posts(posts)
    async with Store.open(database) as store:
        started = time.perf_counter()
        for i in range(0, len(data), 5000):
            await store.posts.upsert(data[i : i + 5000], source="bench", pushable=False)
        built = time.perf_counter() - started
    figures = await measure(database, make_queries(queries))  # type: ignore[arg-type]
    figures["insert_posts_per_s"] = round(posts / built)
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chats", type=int, default=2000)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=600)
    parser.add_argument("--replicas", type=int, nargs="*", default=[1, 2, 3])
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"limit_per_s": LIMIT, "chats": args.chats, "broadcasts": []}
    load = os.getloadavg()
    results["load_average"] = [round(x, 2) for x in load]
    with running_server() as server, tempfile.TemporaryDirectory() as tmp:
        admin = await asyncpg.connect(server.url())
        for n in args.replicas:
            name = f"bench_{n}"
            await admin.execute(f"CREATE DATABASE {name}")
            run = await broadcast(server.url(name), n, args.chats, Path(tmp) / name)
            print(json.dumps(run), flush=True)
            results["broadcasts"].append(run)
        run = await broadcast(str(Path(tmp) / "bot.db"), 1, args.chats, Path(tmp) / "sqlite")
        print(json.dumps(run), flush=True)
        results["broadcasts"].append(run)
        if args.posts:
            await admin.execute("CREATE DATABASE bench_search")
            pg = await search_figures(server.url("bench_search"), args.posts, args.queries)
            lite = await search_figures(str(Path(tmp) / "search.db"), args.posts, args.queries)
            results["search"] = {"posts": args.posts, "postgres": pg, "sqlite": lite}
            print(json.dumps(results["search"]))
        await admin.close()
    print(json.dumps(results, indent=2))
    (RESULTS / "replicas.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
