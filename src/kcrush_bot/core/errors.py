"""One exception root for the bot; SDK exceptions are translated into these at the edges."""

from __future__ import annotations


class KcrushError(Exception):
    """Root of every error the bot raises on purpose. Its message is safe to show a user."""


class ConfigError(KcrushError):
    """The configuration file or environment is invalid; the message names the key."""


class BadInput(KcrushError):
    """A user or operator gave input the bot cannot act on; the message says what would work."""


class NotFound(KcrushError):
    """A post, category or chat that was asked for does not exist."""


class Forbidden(KcrushError):
    """The caller may not run this command here."""


class StoreUnavailable(KcrushError):
    """The database cannot be opened or written; the message names its path and why."""


class SourceError(KcrushError):
    """A source could not be fetched or parsed; nothing from that document was stored."""


class DeliveryError(KcrushError):
    """A send to a chat failed."""


class RetryableDelivery(DeliveryError):
    """Try again later: after ``retry_after`` seconds if the platform said so, else back off."""

    def __init__(
        self, message: str, retry_after: float | None = None, *, is_global: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        # The platform said the limit was for the whole bot, not one chat: pause every send.
        self.is_global = is_global


class PermanentDelivery(DeliveryError):
    """The chat cannot receive messages (blocked, kicked, deleted): deactivate, never retry."""


class MessageRejected(DeliveryError):
    """The platform refused this message (malformed, too long), not the chat: the message
    fails, the subscription stays. Sending it again would fail the same way."""


class ChatMoved(DeliveryError):
    """A Telegram group became a supergroup: the subscription moves to ``new_chat_id``."""

    def __init__(self, message: str, new_chat_id: str) -> None:
        super().__init__(message)
        self.new_chat_id = new_chat_id


class MessageGone(DeliveryError):
    """The message to edit or delete is no longer there (someone deleted it): nothing to do."""


class CannotDelete(DeliveryError):
    """The platform will not delete this message (Telegram: older than 48 hours in a private
    chat or a basic group, without the right to delete others' messages): edit it instead."""
