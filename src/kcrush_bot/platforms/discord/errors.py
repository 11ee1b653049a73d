"""discord.py's exceptions translated into the core's delivery errors.

The publisher only knows ``RetryableDelivery`` (try later, after ``retry_after`` if given) and
``PermanentDelivery`` (this chat cannot receive: deactivate the subscription, never retry).
Getting this mapping wrong is costly both ways: retrying a deleted channel forever counts
towards Discord's invalid-request limit (10,000 per 10 minutes bans the token for a while),
and treating a blip as permanent silently unsubscribes a server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
import discord

from kcrush_bot.core.errors import (
    DeliveryError,
    MessageRejected,
    PermanentDelivery,
    RetryableDelivery,
)

log = logging.getLogger(__name__)

# Discord's JSON error codes that mean "this target is gone or closed to us".
UNKNOWN_CHANNEL = 10003
UNKNOWN_MESSAGE = 10008  # an edit or deletion of a message someone deleted meanwhile
UNKNOWN_WEBHOOK = 10015
MISSING_ACCESS = 50001
CANNOT_SEND_TO_USER = 50007
MISSING_PERMISSIONS = 50013
GONE = {UNKNOWN_CHANNEL, UNKNOWN_WEBHOOK, MISSING_ACCESS, CANNOT_SEND_TO_USER, MISSING_PERMISSIONS}


def retry_after_of(exc: discord.HTTPException) -> float | None:
    """The wait a 429 asked for: ``Retry-After`` (seconds), else ``X-RateLimit-Reset-After``."""
    headers = getattr(exc.response, "headers", None) or {}
    for name in ("Retry-After", "X-RateLimit-Reset-After"):
        value = headers.get(name)
        if value is not None:
            with contextlib.suppress(ValueError):
                return max(float(value), 0.0)
    return None


def translate(exc: BaseException, target: str) -> DeliveryError:
    """The core's error for ``exc`` raised while sending to ``target`` (for messages and logs).

    Callers ``raise translate(exc, target) from exc``. Anything not recognised is treated as
    retryable: the publisher's attempt limit ends a retry loop, while a wrong "permanent"
    would unsubscribe a chat for good.
    """
    if isinstance(exc, discord.RateLimited):
        # Raised instead of sleeping when the wait exceeds the client's max_ratelimit_timeout.
        return RetryableDelivery(
            f"Discord rate limit for {target}: retry in {exc.retry_after:.1f}s",
            retry_after=exc.retry_after,
        )
    if isinstance(exc, discord.DiscordServerError):
        return RetryableDelivery(f"Discord server error {exc.status} for {target}")
    if isinstance(exc, discord.HTTPException):
        return _translate_http(exc, target)
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ClientError | OSError):
        return RetryableDelivery(f"network error sending to {target}: {type(exc).__name__}")
    return RetryableDelivery(f"unexpected error sending to {target}: {type(exc).__name__}")


def _translate_http(exc: discord.HTTPException, target: str) -> DeliveryError:
    status, code = exc.status, exc.code
    detail = f"{status} {code} {exc.text[:200]}".strip()
    if status == 429:
        # discord.py retried the 429 itself and gave up after five tries, or the 429 came
        # without Discord's headers (a Cloudflare ban). Either way: later, not never.
        return RetryableDelivery(
            f"Discord rate limit for {target}: {detail}", retry_after=retry_after_of(exc)
        )
    if status >= 500:
        return RetryableDelivery(f"Discord server error for {target}: {detail}")
    if status == 401:
        # A revoked or wrong token is the operator's problem, not the chat's: deactivating
        # every subscription because of it would be a disaster. Retry until the token is fixed.
        log.error("Discord refused the bot token (401); check KCRUSH_DISCORD_TOKEN")
        return RetryableDelivery(f"Discord refused the bot token while sending to {target}")
    if status in (403, 404) or code in GONE:
        return PermanentDelivery(f"cannot send to {target}: {detail}")
    # Any other 4xx is about this message (e.g. 50035 invalid form body): sending it again
    # would fail the same way and count as another invalid request.
    return MessageRejected(f"Discord rejected the message for {target}: {detail}")
