"""Resident memory of the running bot: ``kcrush-bot run`` as a process, both adapters connected.

The target (DESIGN.md §4): under 120 MB resident with 100,000 posts, 10,000 subscriptions and
both adapters. This runs the real bot, ``python -m kcrush_bot --config … --db … run``, with
both tokens set, against the fake Telegram Bot API and the fake Discord (REST and gateway) on
127.0.0.1. The fakes run in a child process of their own, so their memory is not the bot's.
Nothing leaves loopback.

Three runs, each a fresh bot process:

* ``empty-idle``: an empty database, nothing to do: the floor (interpreter, libraries,
  adapters connected, scheduler running);
* ``full-idle``: 100,000 posts, 10,000 subscriptions over ~6,500 chats (Telegram private
  chats, groups, forum topics and Discord channels; categories mixed; some daily and weekly
  digests), nothing to do;
* ``full-busy``: the same database, exercised: ``/latest``, ``/search`` (English and Hangul),
  ``/category`` and an inline query on Telegram, the same as slash commands on Discord, and a
  new post in the polled local file source that fans out to every subscribed chat, so the
  outbox fills and the delivery worker sends at the platforms' rates while commands arrive.

The bot's ``/proc/<pid>/status`` is read every 0.5 s: ``VmRSS`` (resident now) and ``VmHWM``
(the peak resident size so far). Reported: the steady-state RSS median (from a few seconds
after start-up until SIGTERM), the highest sample and ``VmHWM``; then SIGTERM and how long the
clean shutdown took. ``--profile`` adds where the memory goes: the resident cost of importing
each library the bot loads, and a tracemalloc snapshot of the bot at the end of a busy run.

The 100,000/10,000 database is built once and cached in bench/results/ (gitignored); each run
works on a copy. Each run's ``-v`` log is kept as bench/results/memory-<run>.log.

    .venv/bin/python bench/bench_memory.py [--seconds 60] [--idle-seconds 15] [--profile]
                                           [--runs empty-idle,full-idle,full-busy]

The busy run lasts 60 s by default because the fan-out reaches ~3,600 chats at the platforms'
rates (30/s Telegram, 50/s Discord), and both adapters should be sending while it is measured.
Prints the figures and writes them to bench/results/memory.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "tests"))  # the fake platforms live with the tests

TARGET_MB = 120.0
SAMPLE_EVERY = 0.5
WARMUP = 3.0  # seconds after "running" before samples count as steady state
CONTROL_CHAT = 777  # the Telegram private chat commands come from (subscribed to nothing)
CONTROL_CHANNEL = "500000000000000777"  # the Discord channel slash commands come from
FILE_SOURCE = "memory-bench-local"


def mb(kb: float) -> float:
    return round(kb / 1024, 1)


# -- the fake platforms, in a child process ------------------------------------------------------


async def serve_fakes() -> None:
    """Child process: both fakes on 127.0.0.1; one JSON command per stdin line, one answer per
    stdout line. EOF on stdin closes them."""
    from fakes.discord_api import FAKE_TOKEN, Where, option, start_fake_discord
    from fakes.telegram_api import start_fake_telegram, user_dict

    telegram = await start_fake_telegram()
    discord = await start_fake_discord()
    hello = {
        "telegram": {
            "base_url": telegram.base_url,
            "base_file_url": telegram.base_file_url,
            "token": telegram.token,
        },
        "discord": {
            "api_base": discord.api_base,
            "gateway_url": discord.gateway_url,
            "token": FAKE_TOKEN,
        },
    }
    print(json.dumps(hello), flush=True)
    where = Where(channel_id=CONTROL_CHANNEL, user_id="777", username="bench")
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def answer(cmd: dict[str, Any]) -> dict[str, Any]:
        op = cmd["op"]
        if op == "ready":
            within = float(cmd.get("within", 30))
            try:
                await discord.wait_identified(within=within)
                await telegram.wait_for_calls("getUpdates", 1, within=within)
            except TimeoutError:
                return {"ok": False, "error": "the bot did not connect to both fakes in time"}
            return {"ok": True}
        if op == "tg":
            telegram.message_update(CONTROL_CHAT, cmd["text"], user=user_dict(CONTROL_CHAT))
            return {"ok": True}
        if op == "tg_inline":
            telegram.inline_query_update(cmd["query"], user=user_dict(CONTROL_CHAT))
            return {"ok": True}
        if op == "dc":
            options = [option(name, value) for name, value in cmd.get("options", [])]
            try:
                await discord.dispatch_interaction(discord.slash(cmd["name"], options, where))
            except RuntimeError as exc:
                return {"ok": False, "error": str(exc)}
            return {"ok": True}
        if op == "stats":
            control = str(CONTROL_CHAT)
            sends = [
                c
                for c in telegram.calls_log
                if c.method in ("sendMessage", "sendPhoto") and c.chat_id != control
            ]
            replies = [
                c
                for c in telegram.calls_log
                if c.method in ("sendMessage", "sendPhoto", "answerInlineQuery")
                and (c.chat_id == control or c.method == "answerInlineQuery")
                and c.status == 200
            ]
            posts = [r for r in discord.channel_posts() if r.path != f"/channels/{CONTROL_CHANNEL}"]
            return {
                "telegram_delivered": sum(1 for c in sends if c.status == 200),
                "telegram_429": telegram.too_many_requests,
                "telegram_command_replies": len(replies),
                "telegram_get_updates": len(telegram.calls("getUpdates")),
                "discord_delivered": len(posts),
                "discord_429": discord.rate_limited,
                "discord_interaction_answers": len(discord.callbacks()),
                "discord_identified": discord.identify is not None,
            }
        return {"ok": False, "error": f"unknown op {op!r}"}

    try:
        while line := await reader.readline():
            if not line.strip():
                continue
            try:
                reply = await answer(json.loads(line))
            except Exception as exc:  # a broken command must not take the fakes down
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(reply), flush=True)
    finally:
        await telegram.close()
        await discord.close()


class Fakes:
    """The parent's handle on the fakes' child process."""

    def __init__(self, proc: asyncio.subprocess.Process, hello: dict[str, Any]) -> None:
        self.proc = proc
        self.hello = hello
        self._lock = asyncio.Lock()

    @classmethod
    async def start(cls) -> Fakes:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve-fakes",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            hello = json.loads(line)
        except (TimeoutError, ValueError):
            proc.kill()
            await proc.wait()
            raise RuntimeError("the fake platforms did not start") from None
        return cls(proc, hello)

    async def ask(self, op: str, answer_within: float = 10.0, **params: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        async with self._lock:
            self.proc.stdin.write(json.dumps({"op": op, **params}).encode() + b"\n")
            await self.proc.stdin.drain()
            line = await asyncio.wait_for(self.proc.stdout.readline(), answer_within)
        if not line:
            raise RuntimeError("the fake platforms' process exited")
        return json.loads(line)  # type: ignore[no-any-return]

    async def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), 10)
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


# -- the database --------------------------------------------------------------------------------

TAXONOMY_WEIGHTS = {  # what chats subscribe to, roughly as fans would
    "interviews": 40,
    "k-pop-interviews": 15,
    "featured-interview": 5,
    "video-interviews": 4,
    "film-maker-interviews": 3,
    "kpop": 15,
    "k-dramas": 10,
    "breaking": 8,
}


def chat_plan(subscriptions: int, seed: int = 5) -> list[tuple[str, str, str, str | None, str]]:
    """Chats as (key, platform, chat_id, thread_id, kind): Telegram private chats, groups and
    forum topics, Discord channels."""
    rng = random.Random(seed)
    chats = []
    for n in range(1, subscriptions + 1):
        roll = rng.random()
        if roll < 0.40:
            chats.append(
                (f"telegram:{10_000_000 + n}", "telegram", str(10_000_000 + n), None, "private")
            )
        elif roll < 0.58:
            cid = f"-100{2_000_000_000 + n}"
            chats.append((f"telegram:{cid}", "telegram", cid, None, "group"))
        elif roll < 0.63:
            cid = f"-100{3_000_000_000 + n}"
            thread = str(rng.randint(2, 400))
            chats.append((f"telegram:{cid}/{thread}", "telegram", cid, thread, "group"))
        else:
            cid = str(900_000_000_000_000_000 + n)
            chats.append((f"discord:{cid}", "discord", cid, None, "channel"))
    return chats


async def fill_subscriptions(store: Any, subscriptions: int, seed: int = 5) -> dict[str, int]:
    """Exactly ``subscriptions`` subscriptions, 1-3 categories per chat; ~20 % of chats take a
    daily or weekly digest instead of instant posts."""
    from kcrush_bot.storage.db import to_db_time

    rng = random.Random(seed)
    stamp = to_db_time(datetime.now(UTC))
    slugs, weights = list(TAXONOMY_WEIGHTS), list(TAXONOMY_WEIGHTS.values())
    chat_rows: list[tuple[Any, ...]] = []
    sub_rows: list[tuple[Any, ...]] = []
    digest_rows: list[tuple[Any, ...]] = []
    for key, platform, chat_id, thread_id, kind in chat_plan(subscriptions, seed):
        if len(sub_rows) >= subscriptions:
            break
        chat_rows.append((key, platform, chat_id, thread_id, kind, stamp, stamp))
        mode = rng.choices(("instant", "daily", "weekly"), (80, 15, 5))[0]
        count = min(rng.choices((1, 2, 3), (60, 30, 10))[0], subscriptions - len(sub_rows))
        wanted: set[str] = set()
        while len(wanted) < count:
            wanted.add(rng.choices(slugs, weights)[0])
        sub_rows.extend((key, slug, mode, stamp, stamp) for slug in sorted(wanted))
        if mode != "instant":
            time_of_day = f"{rng.randint(0, 23):02d}:{rng.choice((0, 15, 30, 45)):02d}"
            zone = rng.choice(("Asia/Seoul", "America/New_York", "America/Los_Angeles", "UTC"))
            weekday = rng.choice(("mon", "fri", "sun"))
            digest_rows.append((key, mode, time_of_day, zone, weekday, stamp, stamp))
    async with store.db.transaction() as db:
        await db.executemany(
            "INSERT INTO chats (key, platform, chat_id, thread_id, kind, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            chat_rows,
        )
        await db.executemany(
            "INSERT INTO subscriptions (chat_key, category, mode, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            sub_rows,
        )
        await db.executemany(
            "INSERT INTO digests (chat_key, frequency, time, timezone, weekday, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            digest_rows,
        )
    return {"chats": len(chat_rows), "subscriptions": len(sub_rows), "digests": len(digest_rows)}


async def build_database(path: Path, posts: int, subscriptions: int) -> dict[str, Any]:
    from bench_search import make_posts
    from kcrush_bot import app
    from kcrush_bot import settings as settings_mod
    from kcrush_bot.storage import Store

    settings = settings_mod.from_dict({"bot": {"sample_archive": False}})
    partial = path.with_name(path.name + ".partial")
    remove_database(partial)
    started = time.perf_counter()
    async with Store.open(partial) as store:
        await app.prepare_store(store, settings)
        data = make_posts(posts)
        for i in range(0, len(data), 5000):
            await store.posts.upsert(data[i : i + 5000], source="bench", pushable=False)
        del data
        await store.db.connection.execute("INSERT INTO posts_fts(posts_fts) VALUES ('optimize')")
        counts = await fill_subscriptions(store, subscriptions)
        await store.db.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    remove_database(path)
    partial.rename(path)
    remove_database(partial)
    counts.update(posts=posts, build_seconds=round(time.perf_counter() - started, 1))
    return counts


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy through SQLite's backup API (the source is never written)."""
    with (
        contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)


def database_counts(path: Path) -> dict[str, Any]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "posts": one("SELECT count(*) FROM posts"),
            "chats": one("SELECT count(*) FROM chats"),
            "subscriptions": one("SELECT count(*) FROM subscriptions"),
            "digests": one("SELECT count(*) FROM digests"),
            "outbox": {
                f"{platform} {status}": count
                for platform, status, count in db.execute(
                    "SELECT substr(chat_key, 1, instr(chat_key, ':') - 1), status, count(*) "
                    "FROM outbox GROUP BY 1, 2"
                )
            },
            "size_mb": round(path.stat().st_size / 2**20, 1),
        }


# -- one bot process -----------------------------------------------------------------------------


def write_config(directory: Path, fakes: Fakes, feed: Path, interval: float) -> Path:
    tg, dc = fakes.hello["telegram"], fakes.hello["discord"]
    config = directory / "kcrush-bot.toml"
    config.write_text(
        f"""
[bot]
sample_archive = false

[http]
listen = "127.0.0.1:0"

[telegram]
base_url = "{tg["base_url"]}"
base_file_url = "{tg["base_file_url"]}"

[discord]
api_base = "{dc["api_base"]}"
gateway_url = "{dc["gateway_url"]}"

[[sources]]
name = "{FILE_SOURCE}"
kind = "file"
url = "{feed}"
interval = {interval:g}
""",
        encoding="utf-8",
    )
    return config


def feed_line(slug: str, title: str, published: datetime) -> str:
    return json.dumps(
        {
            "url": f"https://www.kcrush.com/{slug}/",
            "title": title,
            "teaser": "Dreamcatcher talk about their new album, the tour and their fans in Seoul.",
            "categories": ["k-pop-interviews"],
            "published_at": published.isoformat(),
            "image_url": None,
        },
        ensure_ascii=False,
    )


async def see_source_once(config: Path, database: Path) -> None:
    """Poll the file source once, so the bot's own polls see the next post as news (a source's
    first sight is archived silently)."""
    from kcrush_bot import app
    from kcrush_bot import settings as settings_mod
    from kcrush_bot.sources.ingest import Ingestor
    from kcrush_bot.storage import Store

    settings = settings_mod.load(str(config), db=str(database))
    async with Store.open(database) as store, Ingestor(store, settings) as ingestor:
        await app.prepare_store(store, settings)
        report = await ingestor.poll(settings.sources[0])
        if report.error:
            raise RuntimeError(f"the file source failed: {report.error}")


def read_status(pid: int) -> dict[str, int] | None:
    """VmRSS, VmHWM, RssAnon, RssFile (kB) and Threads from /proc/<pid>/status."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    wanted = {"VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "Threads"}
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in wanted:
            values[key] = int(rest.split()[0])
    return values if "VmRSS" in values else None


@dataclass
class Sample:
    at: float  # seconds since the bot said "running"
    status: dict[str, int]


@dataclass
class BotRun:
    name: str
    proc: asyncio.subprocess.Process
    log: Path
    spawned: float
    ready_at: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)
    progress: list[tuple[float, int, int]] = field(default_factory=list)  # t, telegram, discord

    def since_ready(self) -> float:
        return time.monotonic() - self.ready_at

    def note(self, what: str) -> None:
        self.events.append((round(self.since_ready(), 2), what))

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_bytes().decode(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


async def start_bot(
    name: str, config: Path, database: Path, fakes: Fakes, workdir: Path, *, traced: Path | None
) -> BotRun:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KCRUSH_")}
    env.update(
        KCRUSH_TELEGRAM_TOKEN=fakes.hello["telegram"]["token"],
        KCRUSH_DISCORD_TOKEN=fakes.hello["discord"]["token"],
        PYTHONUNBUFFERED="1",
    )
    bot_args = ["--config", str(config), "--db", str(database), "-v", "run"]
    if traced is None:
        command = [sys.executable, "-m", "kcrush_bot", *bot_args]
    else:
        command = [sys.executable, __file__, "--traced", str(traced), "--", *bot_args]
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,  # no console: stdin is closed
            stdout=out,
            stderr=out,
            env=env,
            cwd=workdir,  # no config/kcrush-bot.toml here: only --config counts
        )
    run = BotRun(name, proc, log, time.monotonic())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.returncode is not None or " running: " in run.log_tail(100_000):
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 0.1)
    text = run.log_tail(100_000)
    if proc.returncode is not None or " running: " not in text:
        await stop_process(proc)
        raise RuntimeError(
            f"{name}: the bot did not start (exit status {proc.returncode}); its output:\n"
            + run.log_tail()
        )
    running_line = next(line for line in text.splitlines() if " running: " in line)
    if "console" in running_line or "telegram" not in running_line or "discord" not in running_line:
        await stop_process(proc)
        raise RuntimeError(f"{name}: expected telegram and discord only, got: {running_line}")
    run.ready_at = time.monotonic()
    ready = await fakes.ask("ready", answer_within=40, within=30)
    if not ready.get("ok"):
        await stop_process(proc)
        raise RuntimeError(f"{name}: {ready.get('error')}; the bot's output:\n{run.log_tail()}")
    return run


async def stop_process(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
    await proc.wait()


async def sample(run: BotRun, seconds: float) -> None:
    """Read the bot's /proc status every SAMPLE_EVERY seconds for ``seconds``."""
    for _ in range(int(seconds / SAMPLE_EVERY) + 1):
        status = read_status(run.proc.pid)
        if status is None or run.proc.returncode is not None:
            raise RuntimeError(f"{run.name}: the bot exited early:\n{run.log_tail()}")
        run.samples.append(Sample(round(run.since_ready(), 2), status))
        await asyncio.sleep(SAMPLE_EVERY)


async def exercise(run: BotRun, fakes: Fakes, feed: Path, seconds: float) -> None:
    """Commands on both platforms, and one new post that fans out to every subscribed chat."""
    commands: list[tuple[str, dict[str, Any]]] = [
        ("tg", {"text": "/latest 5"}),
        ("dc", {"name": "latest", "options": [("count", 5)]}),
        ("tg", {"text": "/search interview album"}),
        ("dc", {"name": "search", "options": [("query", "드림캐쳐")]}),
        ("tg", {"text": "/search 서울"}),
        ("dc", {"name": "search", "options": [("query", "album tour")]}),
        ("tg_inline", {"query": "knk"}),
        ("tg", {"text": "/category kpop"}),
        ("dc", {"name": "category", "options": [("name", "k-dramas")]}),
        ("tg", {"text": "/search Stray Kids comeback"}),
        ("dc", {"name": "search", "options": [("query", "인터뷰")]}),
        ("tg", {"text": "/status"}),
    ]
    await asyncio.sleep(1.0)
    for op, params in commands[:4]:
        await fakes.ask(op, **params)
        run.note(f"{op} {params}")
        await asyncio.sleep(0.75)
    # The new post: the bot's next poll of the file (every 2 s) finds it and fans it out.
    now = datetime.now(UTC)
    with feed.open("a", encoding="utf-8") as handle:
        title = "KCRUSH Interview with Dreamcatcher (드림캐쳐): the memory tour"
        handle.write(feed_line(f"memory-bench-{int(now.timestamp())}", title, now) + "\n")
    run.note("new post written to the file source")
    index = 4
    next_progress = 0.0
    while run.since_ready() < seconds - 2.5:
        op, params = commands[index % len(commands)]
        await fakes.ask(op, **params)
        run.note(f"{op} {params}")
        index += 1
        if run.since_ready() >= next_progress:
            stats = await fakes.ask("stats")
            run.progress.append(
                (
                    round(run.since_ready(), 1),
                    stats["telegram_delivered"],
                    stats["discord_delivered"],
                )
            )
            next_progress = run.since_ready() + 5
        await asyncio.sleep(1.5)


async def one_run(
    name: str,
    template: Path | None,
    workdir: Path,
    seconds: float,
    *,
    busy: bool,
    traced: Path | None = None,
) -> dict[str, Any]:
    fakes = await Fakes.start()
    try:
        database = workdir / f"{name}.db"
        remove_database(database)
        if template is not None:
            copy_database(template, database)
        feed = workdir / f"{name}-feed.jsonl"
        feed.write_text(
            feed_line("memory-bench-seed", "KCRUSH Interview with KNK (크나큰)", datetime.now(UTC))
            + "\n",
            encoding="utf-8",
        )
        config = write_config(workdir, fakes, feed, interval=2)
        await see_source_once(config, database)
        run = await start_bot(name, config, database, fakes, workdir, traced=traced)
        startup = round(run.ready_at - run.spawned, 2)
        try:
            tasks = [asyncio.create_task(sample(run, seconds))]
            if busy:
                tasks.append(asyncio.create_task(exercise(run, fakes, feed, seconds)))
            await asyncio.wait_for(asyncio.gather(*tasks), seconds + 30)
            if traced is not None:
                run.proc.send_signal(signal.SIGUSR1)
                await wait_for_file(traced, 120)
            stats = await fakes.ask("stats")
            last = read_status(run.proc.pid)
            stopping = time.monotonic()
            run.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(run.proc.wait(), 30)
                shutdown = round(time.monotonic() - stopping, 2)
            except TimeoutError:
                shutdown = None
                await stop_process(run.proc)
        except BaseException:
            await stop_process(run.proc)
            raise
        exit_status = run.proc.returncode
    finally:
        await fakes.stop()
    if exit_status != 0:
        print(f"{name}: the bot exited with status {exit_status}; its output:\n{run.log_tail()}")
    kept = RESULTS / f"memory-{name}.log"
    kept.write_bytes(run.log.read_bytes())  # the bot's -v log, for a look afterwards
    steady = [s.status["VmRSS"] for s in run.samples if s.at >= WARMUP]
    rss = [s.status["VmRSS"] for s in run.samples]
    hwm = max([s.status["VmHWM"] for s in run.samples] + [last["VmHWM"] if last else 0])
    final = last or run.samples[-1].status
    errors = [line for line in run.log_tail(200_000).splitlines() if " ERROR " in line]
    result: dict[str, Any] = {
        "run": name,
        "seconds": seconds,
        "startup_seconds": startup,
        "samples": len(run.samples),
        "steady_rss_median_mb": mb(statistics.median(steady or rss)),
        "rss_at_ready_mb": mb(rss[0]),
        "rss_max_sampled_mb": mb(max(rss)),
        "peak_vmhwm_mb": mb(hwm),
        "rss_anon_mb": mb(final.get("RssAnon", 0)),
        "rss_file_mb": mb(final.get("RssFile", 0)),
        "threads": final.get("Threads"),
        "shutdown_seconds": shutdown,
        "exit_status": exit_status,
        "database": database_counts(database),
        "platforms": stats,
        "error_lines": len(errors),
        "rss_timeline_mb": [[s.at, mb(s.status["VmRSS"])] for s in run.samples[:: max(1, 2)]],
    }
    if busy:
        result["events"] = run.events
        result["delivered_timeline"] = [
            {"at": at, "telegram": tg, "discord": dc} for at, tg, dc in run.progress
        ]
    if errors:
        result["first_errors"] = errors[:5]
    if traced is not None and (report := read_json(traced)) is not None:
        result["tracemalloc"] = report
    remove_database(database)
    return result


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


async def wait_for_file(path: Path, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if read_json(path) is not None:
            await asyncio.sleep(0.2)  # written in one go, but let the writer close it
            return
        await asyncio.sleep(0.2)


# -- where the memory goes -----------------------------------------------------------------------

IMPORT_STEPS = [
    ("python", ""),
    ("asyncio + sqlite3 + aiosqlite", "import asyncio, sqlite3, aiosqlite"),
    ("kcrush_bot core + storage + settings", "import kcrush_bot.app, kcrush_bot.cli"),
    ("httpx", "import httpx"),
    ("python-telegram-bot", "import telegram, telegram.ext"),
    ("kcrush_bot Telegram adapter", "import kcrush_bot.platforms.telegram"),
    ("aiohttp", "import aiohttp"),
    ("discord.py", "import discord, discord.app_commands"),
    ("kcrush_bot Discord adapter", "import kcrush_bot.platforms.discord"),
    ("APScheduler + publisher", "import kcrush_bot.publisher"),
    ("sources (feedparser, selectolax, ftfy)", "import kcrush_bot.sources.ingest"),
]
_RSS_SNIPPET = (
    "import re;print(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read()).group(1))"
)


def import_costs() -> list[dict[str, Any]]:
    """Resident size of a fresh interpreter after each step's imports (cumulative)."""
    rows = []
    code = ""
    previous = None
    for label, step in IMPORT_STEPS:
        code = f"{code};{step}" if step else code
        program = f"{code.lstrip(';')}\n{_RSS_SNIPPET}" if code else _RSS_SNIPPET
        done = subprocess.run(
            [sys.executable, "-c", program],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            check=False,
        )
        if done.returncode != 0:
            rows.append({"step": label, "error": done.stderr.strip().splitlines()[-1:]})
            continue
        kb = int(done.stdout.split()[-1])
        rows.append(
            {"step": label, "rss_mb": mb(kb), "added_mb": mb(kb - previous) if previous else None}
        )
        previous = kb
    return rows


def traced_main(out: Path, bot_args: list[str]) -> int:
    """The bot under tracemalloc; SIGUSR1 writes where its Python allocations live to ``out``."""
    import tracemalloc

    tracemalloc.start(1)

    def dump(signum: int, frame: Any) -> None:
        snapshot = tracemalloc.take_snapshot()
        snapshot = snapshot.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        stats = snapshot.statistics("filename")
        by_package: dict[str, int] = {}
        for stat in stats:
            by_package[package_of(stat.traceback[0].filename)] = (
                by_package.get(package_of(stat.traceback[0].filename), 0) + stat.size
            )
        current, peak = tracemalloc.get_traced_memory()
        lines = snapshot.statistics("lineno")[:15]
        report = {
            "traced_now_mb": round(current / 2**20, 1),
            "traced_peak_mb": round(peak / 2**20, 1),
            "by_package_mb": {
                k: round(v / 2**20, 2)
                for k, v in sorted(by_package.items(), key=lambda kv: -kv[1])[:20]
            },
            "top_lines": [
                {
                    "where": f"{short(s.traceback[0].filename)}:{s.traceback[0].lineno}",
                    "mb": round(s.size / 2**20, 2),
                    "blocks": s.count,
                }
                for s in lines
            ],
        }
        partial = out.with_name(out.name + ".partial")
        partial.write_text(json.dumps(report, indent=2))
        partial.rename(out)

    signal.signal(signal.SIGUSR1, dump)
    from kcrush_bot.cli import main

    sys.argv = ["kcrush-bot", *bot_args]
    return int(main() or 0)


def short(filename: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def package_of(filename: str) -> str:
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/src/kcrush_bot/" in filename:
        parts = filename.split("/src/kcrush_bot/", 1)[1].split("/")
        return "kcrush_bot." + (parts[0].removesuffix(".py") if len(parts) > 1 else parts[0])
    if filename.startswith("<frozen"):
        return "importlib (code objects of imported modules)"
    if "/lib/python3" in filename:
        return "stdlib:" + filename.rsplit("/lib/python3", 1)[1].split("/", 2)[1].removesuffix(
            ".py"
        )
    return filename


# -- main ----------------------------------------------------------------------------------------


def show(result: dict[str, Any]) -> None:
    p = result["platforms"]
    outbox = result["database"]["outbox"]
    print(
        f"{result['run']:10}  steady RSS median {result['steady_rss_median_mb']:6.1f} MB"
        f"  peak (VmHWM) {result['peak_vmhwm_mb']:6.1f} MB"
        f"  [anon {result['rss_anon_mb']:.1f} + file {result['rss_file_mb']:.1f} MB,"
        f" {result['threads']} threads]"
        f"  start-up {result['startup_seconds']:.1f} s"
        f"  shutdown {result['shutdown_seconds']} s (exit {result['exit_status']})",
        flush=True,
    )
    print(
        f"{'':10}  delivered: telegram {p['telegram_delivered']}, discord {p['discord_delivered']}"
        f"  (429s: {p['telegram_429']}/{p['discord_429']});"
        f"  command answers: telegram {p['telegram_command_replies']},"
        f" discord {p['discord_interaction_answers']};  outbox {outbox};"
        f"  ERROR lines {result['error_lines']}",
        flush=True,
    )


async def main(args: argparse.Namespace) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    template = RESULTS / f"memory-{args.posts}-{args.subscriptions}.db"
    built = None
    if args.rebuild or not template.exists():
        print(f"building {template.name}: {args.posts:,} posts, {args.subscriptions:,} subs…")
        built = await build_database(template, args.posts, args.subscriptions)
        print(f"built in {built['build_seconds']} s")
    counts = database_counts(template)
    print(
        f"database: {counts['posts']:,} posts, {counts['chats']:,} chats, "
        f"{counts['subscriptions']:,} subscriptions, {counts['digests']:,} digests,"
        f" {counts['size_mb']} MB",
        flush=True,
    )
    runs = []
    with tempfile.TemporaryDirectory(prefix="kcrush-memory-") as tmp:
        workdir = Path(tmp)
        plan = [
            ("empty-idle", None, args.idle_seconds, False),
            ("full-idle", template, args.idle_seconds, False),
            ("full-busy", template, args.seconds, True),
        ]
        for name, source, seconds, busy in plan:
            if name not in args.runs.split(","):
                continue
            result = await one_run(name, source, workdir, seconds, busy=busy)
            show(result)
            runs.append(result)
        profile: dict[str, Any] | None = None
        if args.profile:
            print("profiling: import costs…", flush=True)
            profile = {"import_costs": import_costs()}
            for row in profile["import_costs"]:
                print(f"  {row['step']:42} {row.get('rss_mb')} MB (+{row.get('added_mb')})")
            print("profiling: a busy run under tracemalloc…", flush=True)
            traced = await one_run(
                "traced-busy",
                template,
                workdir,
                args.seconds,
                busy=True,
                traced=workdir / "tracemalloc.json",
            )
            show(traced)
            profile["traced_busy"] = {
                k: traced[k]
                for k in ("steady_rss_median_mb", "peak_vmhwm_mb", "tracemalloc")
                if k in traced
            }
            print(json.dumps(profile["traced_busy"].get("tracemalloc"), indent=2))
    busy = runs[-1] if runs else None
    if busy is None:
        return
    verdict = {
        "target_mb": TARGET_MB,
        "steady_rss_median_mb": busy["steady_rss_median_mb"],
        "peak_vmhwm_mb": busy["peak_vmhwm_mb"],
        "steady_within_target": busy["steady_rss_median_mb"] < TARGET_MB,
        "peak_within_target": busy["peak_vmhwm_mb"] < TARGET_MB,
    }
    print(
        f"target: under {TARGET_MB:g} MB resident -> busy steady median "
        f"{busy['steady_rss_median_mb']} MB, peak {busy['peak_vmhwm_mb']} MB: "
        + ("within" if verdict["peak_within_target"] else "OVER"),
        flush=True,
    )
    report = {
        "python": sys.version.split()[0],
        "database": counts,
        "database_build": built,
        "verdict": verdict,
        "runs": runs,
        "profile": profile,
    }
    out = RESULTS / "memory.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the busy run")
    parser.add_argument("--idle-seconds", type=float, default=15.0)
    parser.add_argument(
        "--runs", default="empty-idle,full-idle,full-busy", help="which runs, comma-separated"
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached database")
    parser.add_argument(
        "--profile", action="store_true", help="also show where the memory goes (slower)"
    )
    parser.add_argument("--serve-fakes", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--traced", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("bot_args", nargs="*", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve_fakes:
        asyncio.run(serve_fakes())
    elif options.traced is not None:
        raise SystemExit(traced_main(options.traced, options.bot_args))
    else:
        asyncio.run(main(options))
