"""One-off ingests are the operator's: listed and removable, never shown to a chat."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opskit import kcrush

from kcrush_bot.core.commands import CommandService, CoreConfig, default_registry
from kcrush_bot.core.replies import Text
from kcrush_bot.platforms.console import console_caller
from kcrush_bot.storage import Store


def test_a_one_off_source_is_listed_apart_and_can_be_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "bot.db"
    assert kcrush(capsys, monkeypatch, db, "ingest", "not a url").code == 1
    listed = json.loads(kcrush(capsys, monkeypatch, db, "sources", "--json").out)
    [one_off] = [s for s in listed if not s["configured"]]
    assert one_off["name"] == "not a url" and one_off["state"] == "failing"
    # stats reports the configured sources only: a one-off failure is not "failing forever".
    stats = json.loads(kcrush(capsys, monkeypatch, db, "stats", "--json").out)
    assert "not a url" not in {s["name"] for s in stats["sources"]}
    assert kcrush(capsys, monkeypatch, db, "sources", "remove", "not a url").code == 0
    listed = json.loads(kcrush(capsys, monkeypatch, db, "sources", "--json").out)
    assert all(s["configured"] for s in listed)
    assert kcrush(capsys, monkeypatch, db, "sources", "remove", "not a url").code == 2


def test_a_configured_source_is_removed_from_the_file_not_the_shell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = kcrush(capsys, monkeypatch, tmp_path / "bot.db", "sources", "remove", "kcrush-all")
    assert refused.code == 2 and "configuration file" in refused.err


async def test_status_in_a_chat_names_configured_sources_only(store: Store, tmp_path: Path) -> None:
    secret_path = str(tmp_path / "private" / "korean.xml")
    await store.sources.record_poll("magazine", "wordpress", "https://x.test/", ok=True)
    await store.sources.record_poll(secret_path, "file", secret_path, ok=True)
    service = CommandService(store, default_registry(), CoreConfig(sources=frozenset({"magazine"})))
    [status] = await service.dispatch(console_caller(), "status", "")
    assert isinstance(status, Text)
    assert "Source magazine: ok" in status.text
    assert str(tmp_path) not in status.text
