"""The bot token never reaches a log: not in messages, arguments, URLs or tracebacks."""

from __future__ import annotations

import io
import logging
from urllib.parse import quote

import pytest

from fakes.telegram_api import (
    DEFAULT_TOKEN,
    Limits,
    processed,
    start_fake_telegram,
    telegram_settings,
)
from kcrush_bot.platforms.telegram import (
    TelegramPlatform,
    TokenRedactingFilter,
    install_token_filter,
)

pytestmark = pytest.mark.timeout(30)
TOKEN = "7654321098:AAE_secret-Token-of-the-bot-0123456789"


def render(filter_: logging.Filter, msg: str, *args: object, exc: BaseException | None = None):
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, msg, args, None)
    if exc is not None:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    assert filter_.filter(record)
    formatter = logging.Formatter("%(message)s")
    return formatter.format(record)


def test_the_token_in_a_request_url_is_redacted():
    url = f"https://api.telegram.org/bot{TOKEN}/getUpdates"
    out = render(TokenRedactingFilter(TOKEN), 'HTTP Request: POST %s "HTTP/1.1 200 OK"', url)
    assert TOKEN not in out
    assert "https://api.telegram.org/bot***/getUpdates" in out


def test_a_url_quoted_token_is_redacted():
    out = render(TokenRedactingFilter(TOKEN), "url %s", quote(TOKEN, safe=""))
    assert "AAE_secret" not in out


def test_anything_token_shaped_is_redacted_even_when_not_configured():
    other = "1234567:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789"
    out = render(TokenRedactingFilter(""), "leaked %s", other)
    assert "ABCdef" not in out and "***" in out


def test_tracebacks_are_redacted():
    try:
        raise RuntimeError(f"cannot reach https://api.telegram.org/bot{TOKEN}/sendMessage")
    except RuntimeError as exc:
        out = render(TokenRedactingFilter(TOKEN), "send failed", exc=exc)
    assert "RuntimeError" in out and TOKEN not in out


def test_ordinary_messages_are_left_alone():
    out = render(TokenRedactingFilter(TOKEN), "chat %s subscribed to %s", -1001234, "kpop")
    assert out == "chat -1001234 subscribed to kpop"


async def test_a_real_run_logs_no_token(service):
    """httpx logs every Bot API URL at INFO; with the filter on the handler none shows."""
    fake = await start_fake_telegram(limits=Limits.off())
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    install_token_filter(DEFAULT_TOKEN, [handler])
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    try:
        async with TelegramPlatform(telegram_settings(fake), service, poll_timeout=1) as bot:
            await processed(fake, fake.message_update(42, "/latest 1"), bot.application)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        await fake.close()
    output = stream.getvalue()
    assert "bot***/getMe" in output  # httpx did log the URLs...
    assert DEFAULT_TOKEN not in output  # ...without the token
    assert DEFAULT_TOKEN.split(":")[1] not in output
