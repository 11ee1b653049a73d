"""The operator's shell speaks the shell's language: its own verbs, no chat commands, and
suggestions only when they are close."""

from __future__ import annotations

from pathlib import Path

import pytest
from opskit import kcrush

from kcrush_bot.core.categories import CategoryIndex
from kcrush_bot.core.models import Category


@pytest.mark.parametrize(
    "args",
    [
        ("latest", "--category", "nonsense"),
        ("subscribe", "telegram:1", "nonsense"),
        ("unsubscribe", "telegram:1", "nonsense"),
        ("announce", "hello", "--category", "nonsense", "--yes"),
    ],
)
def test_an_unknown_category_points_to_the_cli_listing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
) -> None:
    refused = kcrush(capsys, monkeypatch, tmp_path / "bot.db", *args)
    assert refused.code == 2
    assert "kcrush-bot categories" in refused.err
    assert "/category" not in refused.err
    assert "Did you mean" not in refused.err  # "nonsense" is close to nothing


@pytest.mark.parametrize(
    ("args", "usage"),
    [
        (("search", " "), "kcrush-bot search QUERY"),
        (("announce", " ", "--yes"), "kcrush-bot announce"),
    ],
)
def test_empty_text_gets_the_shell_usage(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    usage: str,
) -> None:
    refused = kcrush(capsys, monkeypatch, tmp_path / "bot.db", *args)
    assert refused.code == 2 and usage in refused.err and "/announce" not in refused.err


def test_suggestions_are_typos_not_shared_letters() -> None:
    index = CategoryIndex(
        [
            Category("breaking", "Breaking"),
            Category("interviews", "Interviews"),
            Category("k-dramas", "K-Dramas"),
        ]
    )
    assert index.suggest("nonsense") == []
    assert index.suggest("inteviews") == ["interviews"]
    assert index.suggest("k-dra") == ["k-dramas"]
