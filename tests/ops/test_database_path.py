"""A database path that cannot work gets one line naming it, exit 2; a new one is private."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from opskit import kcrush

from kcrush_bot.storage.db import _why_not


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: tmp, "it is a directory"),
        (lambda tmp: (tmp / "f").write_text("x") and tmp / "f" / "bot.db", "Not a directory"),
        (lambda tmp: (tmp / "junk.db").write_text("junk" * 100) and tmp / "junk.db", "not a"),
    ],
    ids=["directory", "under-a-file", "not-a-database"],
)
def test_a_bad_database_path_is_one_line_naming_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    make,  # type: ignore[no-untyped-def]
    reason: str,
) -> None:
    db = make(tmp_path)
    result = kcrush(capsys, monkeypatch, db, "latest", "-n", "1")
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert str(db) in lines[0] and reason in lines[0]
    assert "OperationalError" not in result.err and "Event loop" not in result.err


def test_a_read_only_database_says_why_it_cannot_serve(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    readonly = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as raised:
        readonly.execute("INSERT INTO t VALUES (1)")
    message = _why_not(str(path), raised.value)
    assert str(path) in message and "read-only" in message


def test_a_new_database_is_readable_by_its_owner_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "new" / "bot.db"
    old_umask = os.umask(0o022)
    try:
        assert kcrush(capsys, monkeypatch, db, "latest", "-n", "1").code == 0
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
