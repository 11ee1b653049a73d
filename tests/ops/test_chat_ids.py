"""Chats are named the way the platforms number them: anything else is refused with the form
that works, and nothing is subscribed."""

from __future__ import annotations

from pathlib import Path

import pytest
from opskit import kcrush

from kcrush_bot.core.errors import BadInput
from kcrush_bot.core.models import ChatRef


@pytest.mark.parametrize(
    "text",
    [
        "telegram:abc",
        "telegram:12/abc",
        "discord:abc",
        "discord:-5",
        "discord:18446744073709551616",  # one past the largest snowflake
        "discord:1/2",
        "console:../x",
        "slack:1",
    ],
)
def test_impossible_chat_ids_are_refused(text: str) -> None:
    with pytest.raises(BadInput, match="telegram:ID"):
        ChatRef.parse(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("telegram:-1001234567890", ChatRef("telegram", "-1001234567890")),
        ("telegram:-1001234567890/42", ChatRef("telegram", "-1001234567890", "42")),
        ("discord:1200000000000000009", ChatRef("discord", "1200000000000000009")),
        ("console:local", ChatRef("console", "local")),
    ],
)
def test_real_chat_ids_are_accepted(text: str, expected: ChatRef) -> None:
    assert ChatRef.parse(text) == expected


def test_subscribing_an_impossible_chat_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "bot.db"
    refused = kcrush(capsys, monkeypatch, db, "subscribe", "telegram:abc")
    assert refused.code == 2
    assert "telegram:ID" in refused.err and "Traceback" not in refused.err
    listed = kcrush(capsys, monkeypatch, db, "subscriptions", "--json")
    assert listed.code == 0 and "abc" not in listed.out
