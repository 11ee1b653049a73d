"""python-telegram-bot's exceptions, translated into the core's delivery errors.

PTB's hierarchy: ``TelegramError`` → ``NetworkError`` → (``BadRequest``, ``TimedOut``), plus
``Forbidden``, ``RetryAfter``, ``ChatMigrated``, ``InvalidToken``, ``Conflict``. ``BadRequest``
is a ``NetworkError``, so it must be matched first or a malformed message would be retried
forever.

What each answer means for the publisher:

* ``RetryAfter`` (429): retry after exactly that long.
* ``TimedOut``, ``NetworkError``, 5xx, an unknown ``TelegramError``: retry with back-off.
* ``InvalidToken``: retry. It is the operator's problem, not the chat's; deactivating every
  subscription because the token was revoked would destroy the subscriber list.
* ``Forbidden`` (403: blocked, kicked, not a member) and the chat-level 400s (chat not found,
  no rights, closed or deleted topic): permanent for the chat.
* ``ChatMigrated``: the group became a supergroup; move the subscription to the new id.
* Any other 400 (can't parse entities, message too long, bad photo URL) is about this message:
  it will never succeed, but the chat itself is fine: ``MessageRejected``.
"""

from __future__ import annotations

import warnings
from datetime import timedelta

from telegram import error as tg
from telegram.warnings import PTBDeprecationWarning

from kcrush_bot.core.errors import (
    ChatMoved,
    DeliveryError,
    MessageRejected,
    PermanentDelivery,
    RetryableDelivery,
)

MESSAGE_REJECTED = "Telegram rejected the message"

# Lower-cased fragments of 400 descriptions that mean "this chat cannot receive from the bot".
_CHAT_GONE = (
    "chat not found",
    "have no rights to send",
    "not enough rights to send",
    "need administrator rights in the channel",
    "chat_write_forbidden",
    "chat_restricted",
    "topic_closed",
    "topic_deleted",
    "message thread not found",
    "group chat was deactivated",
    "peer_id_invalid",
    "bot was kicked",
    "user is deactivated",
    "channel_private",
)
# 400s about the image only: the card can still go out as text with a link preview.
_PHOTO_REJECTED = (
    "wrong file identifier/http url specified",
    "failed to get http url content",
    "wrong type of the web page content",
    "wrong remote file identifier",
    "image_process_failed",
    "photo_invalid_dimensions",
    "wrong file id",
)
NOT_MODIFIED = "message is not modified"


def retry_after_seconds(exc: tg.RetryAfter) -> float:
    """``RetryAfter.retry_after`` as float seconds, whichever type this PTB version returns."""
    with warnings.catch_warnings():
        # PTB 22 warns that the int will become a timedelta; we accept both.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def chat_is_gone(exc: tg.BadRequest) -> bool:
    text = exc.message.lower()
    return any(fragment in text for fragment in _CHAT_GONE)


def photo_rejected(exc: tg.TelegramError) -> bool:
    """Telegram could not use the card's image; a text card would still go through."""
    if not isinstance(exc, tg.BadRequest):
        return False
    text = exc.message.lower()
    return any(fragment in text for fragment in _PHOTO_REJECTED)


def is_not_modified(exc: tg.TelegramError) -> bool:
    return isinstance(exc, tg.BadRequest) and NOT_MODIFIED in exc.message.lower()


def translate(exc: tg.TelegramError) -> DeliveryError:
    """The core's delivery error for a PTB exception (order matters: see the module doc)."""
    if isinstance(exc, tg.RetryAfter):
        seconds = retry_after_seconds(exc)
        return RetryableDelivery(f"Telegram flood limit: retry after {seconds:g}s", seconds)
    if isinstance(exc, tg.ChatMigrated):
        return ChatMoved(
            f"the group became supergroup {exc.new_chat_id}", new_chat_id=str(exc.new_chat_id)
        )
    if isinstance(exc, tg.Forbidden):
        return PermanentDelivery(f"Telegram refused: {exc.message}")
    if isinstance(exc, tg.BadRequest):  # before NetworkError: BadRequest subclasses it
        if chat_is_gone(exc):
            return PermanentDelivery(f"Telegram refused: {exc.message}")
        return MessageRejected(f"{MESSAGE_REJECTED}: {exc.message}")
    if isinstance(exc, tg.TimedOut):
        return RetryableDelivery(f"Telegram did not answer in time: {exc.message}")
    if isinstance(exc, tg.InvalidToken | tg.EndPointNotFound):
        # After start-up PTB reports a 401/404 as EndPointNotFound: the token was revoked.
        return RetryableDelivery("Telegram rejected the bot token; check KCRUSH_TELEGRAM_TOKEN")
    # NetworkError (connection failures, 5xx, unparsable answers) and anything else.
    return RetryableDelivery(f"Telegram is unavailable: {exc.message}")
