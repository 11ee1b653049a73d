"""``kcrush-bot deliveries`` and ``kcrush-bot db backup``, in-process through ``cli.main``:
the history an operator reads, filtered, as text and JSON; a backup that is consistent,
private, checked, and never replaces a file by accident."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from factories import make_post
from kcrush_bot import cli
from kcrush_bot.core.models import ChatRef, Mode
from kcrush_bot.storage import Store
from kcrush_bot.storage.outbox import FAILED, SENT, NewRow, Outcome, stamp
from ops.opskit import kept_logging

NOW = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
POST_URL = "https://www.kcrush.com/post-1/"


async def fill(database: Path) -> None:
    """One post sent to a Telegram group and failed for a Discord channel."""
    async with Store.open(database) as store:
        [post_id] = (await store.posts.upsert([make_post(1)], source="t", pushable=True)).new
        for chat in ("telegram:-1001", "discord:77"):
            await store.chats.subscribe(ChatRef.parse(chat), ["interviews"], Mode.INSTANT)
        outbox = store.outbox
        async with outbox.transaction() as db:
            await outbox.insert(
                db,
                [NewRow(f"post:{post_id}", c, {}, "a") for c in ("telegram:-1001", "discord:77")],
                NOW,
            )
        rows = {d.chat_key: d.id for d in await outbox.history()}
        await outbox.record(
            [
                Outcome(rows["telegram:-1001"], SENT, stamp(NOW), "5"),
                Outcome(
                    rows["discord:77"], FAILED, stamp(NOW), attempts=3, error="403 Missing Access"
                ),
            ]
        )


def main(database: Path, *args: str) -> int:
    with kept_logging():
        return cli.main(["--db", str(database), *args])


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "bot.db"
    asyncio.run(fill(path))
    return path


def test_deliveries_as_text_say_when_where_what_and_why(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(database, "deliveries") == 0
    out = capsys.readouterr().out
    assert "sent     telegram:-1001  KCRUSH Interview number 1" in out
    assert "failed   discord:77  KCRUSH Interview number 1 with Artist1 after 3 tries" in out
    assert "why: 403 Missing Access" in out and POST_URL in out
    assert "2025-03-01 10:00:00" in out


def test_deliveries_filters_and_json(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(database, "deliveries", "--failed", "--json") == 0
    [failed] = json.loads(capsys.readouterr().out)
    assert failed["chat"] == "discord:77" and failed["status"] == "failed"
    assert failed["error"] == "403 Missing Access" and failed["attempts"] == 3
    assert set(failed) == {
        "id", "chat", "item", "post_url", "post_title", "status", "attempts",
        "queued_at", "sent_at", "message_ids", "error",
    }  # fmt: skip

    assert main(database, "deliveries", "--chat", "telegram:-1001", "--json") == 0
    [sent] = json.loads(capsys.readouterr().out)
    assert sent["message_ids"] == ["5"] and sent["sent_at"].startswith("2025-03-01T10:00")

    # The post's URL as an operator might paste it: http, no trailing slash.
    assert main(database, "deliveries", "--post", "http://kcrush.com/post-1", "--json") == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    assert main(database, "deliveries", "-n", "1", "--json") == 0
    assert len(json.loads(capsys.readouterr().out)) == 1


def test_deliveries_refuses_what_it_cannot_look_up(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(database, "deliveries", "--post", "https://www.kcrush.com/nope/") == 2
    assert "no stored post has the URL" in capsys.readouterr().err
    assert main(database, "deliveries", "--chat", "somewhere") == 2
    assert "is not a chat" in capsys.readouterr().err


def test_backup_is_a_checked_private_copy_that_never_overwrites_unasked(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copies" / "bot-backup.db"
    copy.parent.mkdir()
    assert main(database, "db", "backup", str(copy)) == 0
    assert "integrity ok" in capsys.readouterr().out
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    with sqlite3.connect(copy) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert db.execute("SELECT count(*) FROM outbox").fetchone() == (2,)
    assert os.listdir(copy.parent) == ["bot-backup.db"]  # no -wal, no leftovers

    before = copy.stat().st_mtime_ns
    assert main(database, "db", "backup", str(copy)) == 2
    assert "already exists" in capsys.readouterr().err
    assert copy.stat().st_mtime_ns == before
    assert main(database, "db", "backup", str(copy), "--force") == 0

    assert main(tmp_path / "missing.db", "db", "backup", str(tmp_path / "x.db")) == 2
    assert "no database to back up" in capsys.readouterr().err
    assert main(database, "db", "backup", str(tmp_path / "no-such-dir" / "x.db")) == 2
    assert "does not exist" in capsys.readouterr().err
