"""Every command's answer time reaches the ``Metrics`` port, failures and refusals included,
so the latency histogram on ``/metrics`` covers what fans actually waited for."""

from __future__ import annotations

from factories import caller
from kcrush_bot.core.commands import CommandService, CoreConfig, default_registry
from kcrush_bot.core.replies import ErrorReply
from kcrush_bot.storage import Store


class RecordingMetrics:
    """Implements the ``Metrics`` port and keeps what it was told."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, float]] = []

    def delivered(self, platform: str, outcome: str) -> None:
        pass

    def rate_limited(self, platform: str) -> None:
        pass

    def polled(self, source: str, ok: bool) -> None:
        pass

    def push_notice(self, outcome: str) -> None:
        pass

    def command_seconds(self, name: str, seconds: float) -> None:
        self.commands.append((name, seconds))


async def test_each_command_run_is_timed_whatever_its_outcome(
    filled_store: Store, core_config: CoreConfig
) -> None:
    metrics = RecordingMetrics()
    service = CommandService(filled_store, default_registry(), core_config, metrics=metrics)
    await service.dispatch(caller(), "latest", "3")
    refused = await service.dispatch(caller(), "announce", "hello")  # not a moderator
    assert isinstance(refused[0], ErrorReply)
    await service.dispatch(caller(), "nosuchcommand")  # not a command: nothing to time
    assert [name for name, _ in metrics.commands] == ["latest", "announce"]
    assert all(seconds >= 0 for _, seconds in metrics.commands)
