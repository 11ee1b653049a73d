"""Ingest rate: feedparser alone versus the whole ingest of the same WordPress-style feed.

Generates (once, cached in bench/results/) a feed of N items shaped like the magazine's
(``bench/make_feed.py``: ~6 KB per item with content:encoded), then times, median of R runs:

- ``feedparser.parse`` alone, with its defaults (HTML sanitiser on);
- ``feedparser.parse`` as ingest calls it (sanitiser and relative-URI pass off: the HTML is
  reduced to text by our cleaner anyway);
- parse + clean + normalise (``parse_feed``), no store;
- the full ingest: read the file, parse, clean, normalise and store into a fresh SQLite file
  through ``Ingestor.poll`` (one transaction), as the bot does.

Prints items/s and the ratios, and writes bench/results/ingest.json (ingest-lean.json with
``--lean``: items without content:encoded, as a feed set to excerpts only publishes them).

    .venv/bin/python bench/bench_ingest.py [--items 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import feedparser

from kcrush_bot import settings as settings_mod
from kcrush_bot.sources import Ingestor
from kcrush_bot.sources.feed import parse_feed
from kcrush_bot.sources.items import ParseContext
from kcrush_bot.sources.normalise import CategoryMap
from kcrush_bot.storage import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_feed import make_feed

RESULTS = Path(__file__).resolve().parent / "results"


def median_seconds(runs: int, action: Callable[[], Any]) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


async def full_ingest(path: Path, settings: settings_mod.Settings, expect: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        async with Store.open(Path(tmp) / "bench.db") as store:
            await store.posts.sync_categories(settings.categories)
            async with Ingestor(store, settings) as ingestor:
                start = time.perf_counter()
                report = await ingestor.poll(settings.sources[0])
                elapsed = time.perf_counter() - start
            if report.error or len(report.new) != expect:
                raise SystemExit(f"ingest went wrong: {report.line()}")
            return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--lean",
        action="store_true",
        help="items without content:encoded (a feed set to publish excerpts only)",
    )
    args = parser.parse_args()

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"feed-{args.items}{'-lean' if args.lean else ''}.xml"
    if not path.exists():
        path.write_bytes(make_feed(args.items, content=not args.lean))
    data = path.read_bytes()
    settings = settings_mod.from_dict(
        {
            "ingest": {"max_bytes": max(len(data) * 2, 10_000_000)},
            "sources": [{"name": "bench", "kind": "file", "url": str(path)}],
        },
        base_dir=RESULTS,
        environ={},
    )
    ctx = ParseContext(cmap=CategoryMap(settings.categories), base_url="https://www.kcrush.com/")
    print(f"{args.items:,} items, {len(data) / 1e6:.1f} MB, median of {args.runs} runs")

    fp_default, fp_default_runs = median_seconds(
        args.runs, lambda: feedparser.parse(io.BytesIO(data))
    )
    fp_ours, fp_ours_runs = median_seconds(
        args.runs,
        lambda: feedparser.parse(
            io.BytesIO(data), sanitize_html=False, resolve_relative_uris=False
        ),
    )
    parse_clean, parse_clean_runs = median_seconds(args.runs, lambda: parse_feed(data, ctx))
    ingest_runs = [asyncio.run(full_ingest(path, settings, args.items)) for _ in range(args.runs)]
    ingest = statistics.median(ingest_runs)

    def rate(seconds: float) -> float:
        return args.items / seconds

    results = {
        "items": args.items,
        "bytes": len(data),
        "runs": args.runs,
        "feedparser_default": {
            "seconds": fp_default,
            "items_per_s": rate(fp_default),
            "runs": fp_default_runs,
        },
        "feedparser_as_ingest_calls_it": {
            "seconds": fp_ours,
            "items_per_s": rate(fp_ours),
            "runs": fp_ours_runs,
        },
        "parse_clean_normalise": {
            "seconds": parse_clean,
            "items_per_s": rate(parse_clean),
            "runs": parse_clean_runs,
        },
        "full_ingest": {"seconds": ingest, "items_per_s": rate(ingest), "runs": ingest_runs},
        "ratio_full_ingest_to_feedparser_default": ingest / fp_default,
        "ratio_full_ingest_to_feedparser_same_options": ingest / fp_ours,
        "overhead_beyond_feedparser_items_per_s": args.items / max(ingest - fp_ours, 1e-9),
        "python": sys.version.split()[0],
    }
    rows = [
        ("feedparser.parse (defaults)", fp_default),
        ("feedparser.parse (as ingest calls it)", fp_ours),
        ("parse + clean + normalise", parse_clean),
        ("full ingest into SQLite", ingest),
    ]
    for label, seconds in rows:
        print(f"  {label:<40} {seconds:7.2f} s  {rate(seconds):8,.0f} items/s")
    print(
        f"  ratio full ingest / feedparser defaults:       {results['ratio_full_ingest_to_feedparser_default']:.2f}x"
    )
    print(
        f"  ratio full ingest / feedparser same options:   {results['ratio_full_ingest_to_feedparser_same_options']:.2f}x"
    )
    print(
        f"  everything beyond feedparser: {results['overhead_beyond_feedparser_items_per_s']:,.0f} items/s"
    )
    out = RESULTS / ("ingest-lean.json" if args.lean else "ingest.json")
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
