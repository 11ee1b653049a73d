"""Keeping the bot token out of the logs.

The token is part of every Bot API URL (``https://api.telegram.org/bot<token>/sendMessage``),
and httpx logs request URLs at INFO while PTB logs them in some errors. A filter on the
*handler* sees every record, whichever logger it came from (a filter on a logger would miss
records propagated from its children), so the composition root attaches this one to the
root handler.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import quote

from kcrush_bot.logs import REDACTED, RedactSecrets

# The shape of any bot token: "<bot id>:<35 characters>". Redacting the shape as well as the
# configured value also hides a token that reached the logs from somewhere else.
TOKEN_SHAPE = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}")


class TokenRedactingFilter(RedactSecrets):
    """Replaces the bot token (plain or URL-quoted, or anything token-shaped) with ``***``."""

    def __init__(self, token: str | Iterable[str]) -> None:
        tokens = [token] if isinstance(token, str) else list(token)
        # httpx may log the path percent-encoded (":" as %3A).
        super().__init__([*tokens, *(quote(t, safe="") for t in tokens)])

    def redact(self, text: str) -> str:
        return TOKEN_SHAPE.sub(REDACTED, super().redact(text))

    def filter(self, record: logging.LogRecord) -> bool:
        # Unlike the base class, never skip: the token shape is checked even with no token.
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            message = str(record.msg)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def install_token_filter(
    token: str, handlers: Iterable[logging.Handler] | None = None
) -> TokenRedactingFilter:
    """Attach a ``TokenRedactingFilter`` to ``handlers`` (default: the root logger's)."""
    redactor = TokenRedactingFilter(token)
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        handler.addFilter(redactor)
    return redactor
