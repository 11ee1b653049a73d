"""The database setting: a path is SQLite, a postgresql:// URL is PostgreSQL, and the password of
a URL is never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from factories import REPO
from kcrush_bot import settings as settings_mod
from kcrush_bot.storage.urls import is_postgres_url, shown
from ops.opskit import kcrush
from pg import free_port

CONFIG = str(REPO / "config" / "kcrush-bot.toml")
URL = "postgresql://bot:s3cret@db.internal:5432/kcrush?sslmode=require"


def test_a_url_is_kept_as_given_and_shown_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loaded = settings_mod.load(CONFIG, db=URL)
    assert loaded.database_path == URL
    assert loaded.database_shown == "postgresql://bot:***@db.internal:5432/kcrush?sslmode=require"
    monkeypatch.setenv("KCRUSH_DB", "postgres://bot@db.internal/kcrush")
    from_env = settings_mod.load(CONFIG)
    assert from_env.database_path == from_env.database_shown == "postgres://bot@db.internal/kcrush"


def test_a_relative_path_is_still_a_file_beside_the_working_directory() -> None:
    loaded = settings_mod.load(CONFIG, db="data/bot.db")
    assert loaded.database_path.endswith("/data/bot.db") and not is_postgres_url(
        loaded.database_path
    )


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("postgresql://u:p@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:p:q@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql:///db?host=/run/pg", "postgresql:///db?host=/run/pg"),
        ("postgresql://u:p@[::1]:5432/db", "postgresql://u:***@[::1]:5432/db"),
        ("/var/lib/kcrush/bot.db", "/var/lib/kcrush/bot.db"),
    ],
)
def test_shown_hides_only_the_password(target: str, expected: str) -> None:
    assert shown(target) == expected


def test_a_server_that_refuses_is_one_clear_error_without_the_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"postgresql://bot:s3cret@127.0.0.1:{free_port()}/kcrush"  # nothing listens there
    outcome = kcrush(capsys, monkeypatch, tmp_path / "bot.db", "--db", url, "stats")
    assert outcome.code == 2
    assert "cannot connect to postgresql://bot:***@127.0.0.1" in outcome.err
    assert "s3cret" not in outcome.out + outcome.err
