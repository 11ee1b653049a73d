"""Running the command line in-process, as an operator would type it, against a real SQLite file."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pytest

from kcrush_bot import cli


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def kcrush(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db: Path,
    *args: str,
) -> Outcome:
    for name in ("KCRUSH_CONFIG", "KCRUSH_TELEGRAM_TOKEN", "KCRUSH_DISCORD_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KCRUSH_DB", str(db))
    capsys.readouterr()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        code = cli.main(list(args))
    finally:
        # cli.main points the root logger at this test's captured stderr, which is closed
        # once the test ends: later tests must not inherit a handler writing there.
        root.handlers[:] = handlers
        root.setLevel(level)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return Outcome(code, captured.out, captured.err)
