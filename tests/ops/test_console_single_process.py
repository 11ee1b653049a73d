"""The console is one process's terminal: on a PostgreSQL database shared by replicas it says
so when it opens, and on SQLite (one process by nature) it does not."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from kcrush_bot.platforms.console import SINGLE_PROCESS
from ops.opskit import kcrush


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_console_says_whether_it_is_single_process(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = request.getfixturevalue("pg_url") if backend == "postgres" else str(tmp_path / "bot.db")
    monkeypatch.setattr("sys.stdin", io.StringIO("/latest 1\n/quit\n"))
    outcome = kcrush(capsys, monkeypatch, Path(db), "--db", db, "console")
    assert outcome.code == 0, outcome.err
    assert "KCrush bot console" in outcome.out
    shown = " ".join(outcome.out.split())  # the console wraps to the terminal's width
    assert (SINGLE_PROCESS in shown) == (backend == "postgres")
