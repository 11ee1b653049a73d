"""Categories are listed as a tree, aligned, and the same set everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opskit import kcrush

from kcrush_bot.core.categories import category_tree
from kcrush_bot.core.commands import CommandService
from kcrush_bot.core.models import Category, CategoryCount
from kcrush_bot.core.replies import ListPage
from kcrush_bot.platforms.console import console_caller


def count(slug: str, posts: int, parent: str | None = None, name: str | None = None):  # type: ignore[no-untyped-def]
    return CategoryCount(Category(slug, name or slug.title(), parent), posts)


def test_children_follow_their_parent_and_empty_categories_are_left_out() -> None:
    counts = [
        count("featured-interview", 2, "interviews", "Featured Interview"),
        count("interviews", 5, name="Interviews"),
        count("kpop", 3, name="K-Pop"),
        count("k-pop-interviews", 3, "interviews", "K-Pop Interviews"),
        count("uncategorized", 0, name="Uncategorized"),
        count("video-interviews", 0, "interviews", "Video Interviews"),
    ]
    assert [(d, c.category.slug) for d, c in category_tree(counts)] == [
        (0, "interviews"),
        (1, "featured-interview"),
        (1, "k-pop-interviews"),
        (0, "kpop"),
    ]


def test_cli_tree_is_aligned_and_matches_the_chat_list(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "bot.db"
    listed = kcrush(capsys, monkeypatch, db, "categories")
    assert listed.code == 0
    header, *rows = listed.out.splitlines()
    count_column = header.index("posts") + len("posts")
    for row in rows:
        # Counts end in the same column whatever the depth of the row.
        assert row[count_column - 1].isdigit() and row[count_column] == " ", row
    slugs = [row.split()[0] for row in rows]
    children = [row.split()[0] for row in rows if row.startswith("  ")]
    assert children, listed.out
    for child in children:
        parent = next(
            r.split()[0] for r in reversed(rows[: slugs.index(child)]) if not r.startswith("  ")
        )
        assert parent == "interviews", (child, parent)
    as_json = json.loads(kcrush(capsys, monkeypatch, db, "categories", "--json").out)
    assert [c["slug"] for c in as_json] == slugs
    assert all(c["posts"] > 0 for c in as_json)


async def test_chat_category_list_shows_the_same_set(service: CommandService) -> None:
    tree = category_tree(await service.store.posts.category_counts())
    [page] = await service.dispatch(console_caller(), "category", "")
    assert isinstance(page, ListPage)
    assert [i.detail.split(" · ")[0] for i in page.items if i.detail] == [
        c.category.slug for _, c in tree
    ][: len(page.items)]
    assert not any("Uncategorized" in i.title for i in page.items)
