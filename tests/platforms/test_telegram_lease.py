"""Telegram's long polling is a singleton duty: only the replica holding the lease polls."""

from __future__ import annotations

import pytest

from fakes.telegram_api import Limits, start_fake_telegram, telegram_settings
from kcrush_bot.platforms.telegram import TelegramPlatform
from publisher.publisherkit import wait_until


class Lease:
    held = False
    shared = True


@pytest.mark.timeout(45)
async def test_only_the_lease_holder_long_polls(service) -> None:
    fake = await start_fake_telegram(limits=Limits.off())
    lease = Lease()
    try:
        bot = TelegramPlatform(telegram_settings(fake), service, poll_timeout=1)
        bot.follow_lease(lease)
        async with bot:
            assert fake.calls("getUpdates") == []  # another replica polls
            assert bot._app is not None and bot._app.updater is not None
            assert not bot._app.updater.running

            lease.held = True
            await bot.lease_changed(True)
            await wait_until(lambda: len(fake.calls("getUpdates")) > 0, within=10)

            lease.held = False
            await bot.lease_changed(False)
            assert not bot._app.updater.running
    finally:
        await fake.close()
