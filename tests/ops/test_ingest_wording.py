"""What `ingest` prints says where first-seen posts went."""

from __future__ import annotations

from pathlib import Path

import pytest
from opskit import kcrush


def test_first_sight_says_archived_not_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_text(
        '{"url": "https://www.kcrush.com/a-new-interview/", "title": "A new interview"}\n'
    )
    first = kcrush(capsys, monkeypatch, tmp_path / "bot.db", "ingest", str(feed))
    assert first.code == 0
    assert "archived for search, not sent to chats" in first.out
