"""Regenerate the sample archive from the seed pages: ``python -m kcrush_bot.sample.build DIR``.

Every item of the three seed listings becomes a post: its title, its teaser (cleaned and cut
like any ingested teaser), the link WordPress would give the title, and the category the page
lists (a post on two pages gets both). The seeds carry no post dates, so ``published_at`` is
null. The output is deterministic, so regenerating an unchanged seed set changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kcrush_bot.settings import load_categories, packaged_file
from kcrush_bot.sources.items import ParseContext
from kcrush_bot.sources.listing import parse_listing_text
from kcrush_bot.sources.normalise import CategoryMap

# Which category each seed page is: the page's WordPress category slug.
SEED_PAGES = {
    "interviews-listing.txt": "interviews",
    "featured-interview-listing.txt": "featured-interview",
    "kpop-articles-listing.txt": "kpop",
}
TEASER_CHARS = 300


def build(seeds: Path) -> list[dict[str, object]]:
    """The archive's records, in the order the seed pages list them."""
    cmap = CategoryMap(load_categories(packaged_file("categories.toml")))
    records: dict[str, dict[str, object]] = {}
    for filename, category in SEED_PAGES.items():
        text = (seeds / filename).read_text(encoding="utf-8")
        ctx = ParseContext(cmap=cmap, teaser_chars=TEASER_CHARS, extra_categories=(category,))
        for post in parse_listing_text(text, ctx).posts:
            record = records.get(post.url)
            if record is None:
                record = post.to_json()
                record.pop("id")  # ids belong to a store, not to the archive
                records[post.url] = record
            else:
                cats = record["categories"]
                assert isinstance(cats, list)
                cats.extend(c for c in post.categories if c not in cats)
    return list(records.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", type=Path, help="the directory holding the seed listing files")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path(__file__).with_name("archive.jsonl"),
        help="where to write the archive (default: the package's archive.jsonl)",
    )
    args = parser.parse_args(argv)
    missing = [name for name in SEED_PAGES if not (args.seeds / name).is_file()]
    if missing:
        print(f"{args.seeds}: missing {', '.join(missing)}", file=sys.stderr)
        return 2
    records = build(args.seeds)
    lines = [json.dumps(r, ensure_ascii=False, sort_keys=True) for r in records]
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(records)} posts to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
