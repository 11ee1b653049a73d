"""Every answer about an announcement says what will actually happen to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opskit import kcrush

from kcrush_bot.core.commands import CommandService, CoreConfig, default_registry
from kcrush_bot.core.models import Mode
from kcrush_bot.core.replies import Confirm, Text
from kcrush_bot.platforms.console import console_caller
from kcrush_bot.storage import Store


def test_a_scheduled_announcement_is_listed_and_can_be_cancelled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "bot.db"
    kcrush(capsys, monkeypatch, db, "subscribe", "telegram:1")
    made = kcrush(capsys, monkeypatch, db, "announce", "Later", "--at", "2030-01-01T09:00", "--yes")
    assert made.code == 0
    assert "scheduled for 2030-01-01 09:00 KST" in made.out
    assert "on its way" not in made.out
    [waiting] = json.loads(kcrush(capsys, monkeypatch, db, "announce", "--list", "--json").out)
    assert waiting["text"] == "Later" and waiting["scheduled_for"].startswith("2030-01-01T00:00")
    cancelled = kcrush(capsys, monkeypatch, db, "announce", "--cancel", str(waiting["id"]))
    assert cancelled.code == 0 and "cancelled" in cancelled.out
    assert json.loads(kcrush(capsys, monkeypatch, db, "announce", "--list", "--json").out) == []
    again = kcrush(capsys, monkeypatch, db, "announce", "--cancel", str(waiting["id"]))
    assert again.code == 2 and "can no longer be cancelled" in again.err


def test_an_announcement_from_the_shell_says_it_waits_for_a_running_bot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "bot.db"
    kcrush(capsys, monkeypatch, db, "subscribe", "telegram:1")
    made = kcrush(capsys, monkeypatch, db, "announce", "Now", "--yes")
    assert made.code == 0
    assert "on its way" not in made.out and "kcrush-bot run" in made.out


class Doorbell:
    def __init__(self, listening: bool) -> None:
        self.listening = listening
        self.rang = 0

    def wake(self) -> None:
        self.rang += 1


@pytest.mark.parametrize(("listening", "expected"), [(True, "on its way"), (False, "queued")])
async def test_the_console_says_on_its_way_only_when_something_delivers(
    filled_store: Store, listening: bool, expected: str
) -> None:
    await filled_store.chats.subscribe(console_caller().chat, ["interviews"], Mode.INSTANT)
    service = CommandService(
        filled_store, default_registry(), CoreConfig(), notifier=Doorbell(listening)
    )
    [confirm] = await service.dispatch(console_caller(), "announce", "Hello fans")
    assert isinstance(confirm, Confirm)
    [answer] = await service.handle_action(console_caller(), confirm.confirm.action)
    assert isinstance(answer, Text) and expected in answer.text
