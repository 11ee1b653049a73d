"""Running the command line in-process, as an operator would type it, against a real SQLite file."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kcrush_bot import cli


@contextlib.contextmanager
def kept_logging() -> Iterator[None]:
    """Undo what ``cli.main``'s logging set-up does to the process: it points the root logger
    at this test's captured stderr (closed once the test ends) and quiets httpx and
    APScheduler; later tests must inherit neither."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    levels = {
        name: logger.level
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    level = root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, logger in logging.root.manager.loggerDict.items():
            if isinstance(logger, logging.Logger):
                logger.setLevel(levels.get(name, logging.NOTSET))


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
    with kept_logging():
        code = cli.main(list(args))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return Outcome(code, captured.out, captured.err)
