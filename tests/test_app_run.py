"""``app.run``: the platforms it is given, one publisher, and shutdown in the designed order."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from kcrush_bot import app
from kcrush_bot import settings as settings_mod
from kcrush_bot.core.models import ChatRef
from kcrush_bot.core.replies import Reply
from kcrush_bot.publisher import Publisher


class RecordingPlatform:
    """Implements the Platform port and writes down what was asked of it, in order."""

    def __init__(self, name: str, events: list[str]) -> None:
        self.name = name
        self.events = events
        self.connected = asyncio.Event()

    async def __aenter__(self) -> RecordingPlatform:
        self.events.append(f"{self.name} connected")
        self.connected.set()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.events.append(f"{self.name} disconnected")

    async def send(self, chat: ChatRef, reply: Reply) -> list[str]:
        return ["1"]

    async def edit(self, chat: ChatRef, message_ids: Sequence[str], reply: Reply) -> None:
        return None

    async def delete(self, chat: ChatRef, message_ids: Sequence[str]) -> None:
        return None

    async def stop_receiving(self) -> None:
        self.events.append(f"{self.name} stopped taking commands")


@pytest.mark.timeout(30)
async def test_shutdown_stops_intake_then_drains_then_disconnects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    drain = Publisher.__aexit__

    async def recording_exit(self: Publisher, *exc_info: object) -> None:
        events.append("publisher finished its sends")
        await drain(self, *exc_info)

    monkeypatch.setattr(Publisher, "__aexit__", recording_exit)
    settings = settings_mod.from_dict(
        {
            "bot": {"sample_archive": False, "database": str(tmp_path / "bot.db")},
            "http": {"listen": "127.0.0.1:0"},
        },
        environ={},
    )
    platforms = {n: RecordingPlatform(n, events) for n in ("telegram", "discord")}
    stop = asyncio.Event()
    running = asyncio.create_task(app.run(settings, platforms=platforms, stop=stop))  # type: ignore[arg-type]
    await asyncio.wait_for(platforms["discord"].connected.wait(), 10)
    stop.set()
    await asyncio.wait_for(running, 10)
    assert events == [
        "telegram connected",
        "discord connected",
        "telegram stopped taking commands",
        "discord stopped taking commands",
        "publisher finished its sends",
        "discord disconnected",
        "telegram disconnected",
    ]
