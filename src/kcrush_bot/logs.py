"""Logging set-up, with every secret redacted from every record before it is written.

httpx logs request URLs at INFO, and Telegram's URLs carry the bot token, so redaction sits on
the handler: whatever logger a record comes from, a token never reaches the output.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import TextIO
from urllib.parse import quote

REDACTED = "***"
# A Telegram bot token's shape ("<bot id>:<35 characters>"): hidden even when it is not ours.
TELEGRAM_TOKEN_SHAPE = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}")


class RedactSecrets(logging.Filter):
    """Replaces each secret (and its URL-quoted form) in a record's message and traceback."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Short strings would redact ordinary words; real tokens are long. URLs may carry a
        # token percent-encoded (":" as %3A), so that form is redacted too.
        values = {s for s in secrets if s and len(s) >= 8}
        values |= {quote(s, safe="") for s in values}
        self.secrets = sorted(values, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return TELEGRAM_TOKEN_SHAPE.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            message = str(record.msg)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.redact(formatted)
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def setup(
    verbosity: int, secrets: Iterable[str] = (), stream: TextIO | None = None
) -> logging.Handler:
    """Log to stderr: warnings by default, -v info, -vv debug. Returns the handler."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    if verbosity < 3:
        # httpx logs every request and APScheduler every job run at INFO: -vvv shows them.
        for chatty in ("httpx", "apscheduler"):
            logging.getLogger(chatty).setLevel(max(level, logging.WARNING))
    return handler
