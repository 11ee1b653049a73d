"""Webhook mode through the real python-telegram-bot (and its tornado listener) on loopback.

The fake Bot API records ``setWebhook`` and posts updates to the bot's listener the way
Telegram does, with the ``X-Telegram-Bot-Api-Secret-Token`` header; the bot answers through
the fake as in polling mode.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest

from fakes.telegram_api import (
    FakeError,
    FakeTelegram,
    Limits,
    start_fake_telegram,
    telegram_settings,
)
from kcrush_bot.core.commands import CommandService
from kcrush_bot.core.errors import ConfigError
from kcrush_bot.platforms.telegram import TelegramPlatform
from kcrush_bot.platforms.telegram.adapter import ALLOWED_UPDATES

pytestmark = pytest.mark.timeout(30)

PRIVATE = 42
HOOK_PATH = "/telegram/hook"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    fake = await start_fake_telegram(limits=Limits.off())
    yield fake
    await fake.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def webhook_platform(
    fake: FakeTelegram, service: CommandService, port: int | None = None
) -> TelegramPlatform:
    port = port or free_port()
    settings = telegram_settings(
        fake,
        mode="webhook",
        webhook_url=f"http://127.0.0.1:{port}{HOOK_PATH}",
        webhook_listen="127.0.0.1",
        webhook_port=port,
    )
    return TelegramPlatform(settings, service, request_timeout=2)


async def handled(platform: TelegramPlatform) -> None:
    """Until every update the listener accepted has been handled (one at a time, in order)."""
    async with asyncio.timeout(10):
        await platform.application.update_queue.join()


async def test_webhook_mode_registers_its_listener_with_a_secret(fake, service):
    platform = webhook_platform(fake, service)
    async with platform:
        (call,) = fake.calls("setWebhook")
        assert call.params["url"] == platform.settings.webhook_url
        assert call.params["allowed_updates"] == ALLOWED_UPDATES
        secret = call.params["secret_token"]
        assert isinstance(secret, str) and len(secret) >= 32
        assert fake.webhook["url"] == platform.settings.webhook_url
        assert fake.webhook["secret_token"] == secret
        assert fake.calls("getUpdates") == []  # no polling next to the webhook


async def test_an_update_posted_with_the_secret_is_answered_through_the_bot_api(fake, service):
    async with webhook_platform(fake, service) as platform:
        update = fake.message_update(PRIVATE, "/latest 2")
        assert await fake.post_to_webhook(update) == 200
        await handled(platform)
    texts = fake.texts(PRIVATE)
    assert texts[0] == "The latest 2 posts."
    assert len(texts) == 3
    sends = fake.calls("sendMessage", PRIVATE) + fake.calls("sendPhoto", PRIVATE)
    assert len(sends) == 3 and all(c.status == 200 for c in sends)


@pytest.mark.parametrize("secret", ["not-the-registered-secret", "", None])
async def test_a_post_without_the_registered_secret_is_refused_and_not_answered(
    fake, service, secret
):
    async with webhook_platform(fake, service) as platform:
        forged = fake.message_update(PRIVATE, "/latest 1")
        assert await fake.post_to_webhook(forged, secret_token=secret) == 403
        # The genuine update after it is answered, and it is the only thing answered.
        genuine = fake.message_update(PRIVATE, "/help")
        assert await fake.post_to_webhook(genuine) == 200
        await handled(platform)
    assert len(fake.texts(PRIVATE)) == 1
    assert fake.calls("sendPhoto") == []
    assert "/latest" in fake.texts(PRIVATE)[0]  # the /help text, not a list of posts


async def test_leaving_stops_the_webhook_server_cleanly(fake, service, caplog):
    port = free_port()
    platform = webhook_platform(fake, service, port)
    with caplog.at_level(logging.WARNING):
        async with platform:
            app = platform.application
            assert app.updater is not None and app.updater.running
            url = platform.settings.webhook_url
        assert not app.updater.running and not app.running
        with pytest.raises(RuntimeError):
            platform.application  # noqa: B018
        # Nothing listens any more, and the port is free for the next start.
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientConnectionError):
                await session.post(url, json={})
        with socket.socket() as again:
            again.bind(("127.0.0.1", port))
    assert caplog.records == []


async def test_each_start_registers_a_new_secret(fake, service):
    port = free_port()
    for _ in range(2):
        async with webhook_platform(fake, service, port):
            pass
    first, second = (c.params["secret_token"] for c in fake.calls("setWebhook"))
    assert first != second
    # A post with the first run's secret is refused by the second run's listener.
    async with webhook_platform(fake, service, port):
        update = fake.message_update(PRIVATE, "/help")
        assert await fake.post_to_webhook(update, secret_token=first) == 403


async def test_polling_after_webhook_mode_removes_the_webhook(fake, service):
    async with webhook_platform(fake, service):
        assert fake.webhook["url"]
    settings = telegram_settings(fake)
    async with TelegramPlatform(settings, service, poll_timeout=1) as platform:
        assert fake.calls("deleteWebhook")
        assert fake.webhook["url"] == ""
        update = fake.message_update(PRIVATE, "/help")
        await fake.wait_consumed(update)
        await handled(platform)
    assert len(fake.texts(PRIVATE)) == 1


async def test_a_webhook_url_telegram_refuses_is_a_configuration_error(fake, service):
    fake.script(
        "setWebhook",
        error=FakeError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"),
    )
    platform = webhook_platform(fake, service)
    with pytest.raises(ConfigError, match=r"(?i)telegram\.webhook_url.*https url must be provided"):
        async with platform:
            pass


async def test_a_port_already_in_use_is_a_configuration_error(fake, service):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        platform = webhook_platform(fake, service, port)
        with pytest.raises(ConfigError, match=rf"telegram\.webhook_port.*127\.0\.0\.1:{port}"):
            async with platform:
                pass
    with pytest.raises(RuntimeError, match="not connected"):
        platform.application  # noqa: B018  (stopped and shut down again)


async def test_the_secret_stays_out_of_the_debug_log(fake, service, caplog):
    with caplog.at_level(logging.DEBUG):
        async with webhook_platform(fake, service):
            secret = fake.webhook["secret_token"]
    assert "setWebhook" in caplog.text  # PTB logs the call's parameters at debug
    assert secret not in caplog.text
    assert caplog.handler.filters == []  # the redaction ends with the run
