"""The doorbell: how the command service tells the publisher that work was enqueued.

The service is built before the publisher (the platforms need the service, the publisher needs
the platforms), so it cannot hold the publisher. It holds a doorbell instead (the core's
``Notifier`` port), and the publisher, while it runs, answers each ring. Rings while nobody
answers are remembered as one: the publisher looks at the outbox when it starts anyway.
"""

from __future__ import annotations

import asyncio


class Doorbell:
    """Implements ``Notifier``: ``wake()`` rings; ``rung()`` waits for a ring and takes it."""

    def __init__(self) -> None:
        self._rung = asyncio.Event()
        # True while a running publisher answers: commands then say "on its way" rather than
        # "queued until the bot runs".
        self.listening = False

    def wake(self) -> None:
        self._rung.set()

    async def rung(self) -> None:
        await self._rung.wait()
        self._rung.clear()
