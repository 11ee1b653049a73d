"""Keeping the bot token out of the logs.

The token is part of every Bot API URL (``https://api.telegram.org/bot<token>/sendMessage``),
and httpx logs request URLs at INFO while PTB logs them in some errors. A filter on the
*handler* sees every record, whichever logger it came from (a filter on a logger would miss
records propagated from its children), so the composition root attaches this one to the
root handler.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import quote

from kcrush_bot.logs import RedactSecrets


class TokenRedactingFilter(RedactSecrets):
    """Replaces the bot token (plain or URL-quoted, or anything token-shaped) with ``***``.

    Redacting and filtering are ``RedactSecrets``'s: it also hides anything shaped like a bot
    token, so a token that reached the logs from somewhere else is hidden too.
    """

    def __init__(self, token: str | Iterable[str]) -> None:
        tokens = [token] if isinstance(token, str) else list(token)
        # httpx may log the path percent-encoded (":" as %3A).
        super().__init__([*tokens, *(quote(t, safe="") for t in tokens)])


def install_token_filter(
    token: str, handlers: Iterable[logging.Handler] | None = None
) -> TokenRedactingFilter:
    """Attach a ``TokenRedactingFilter`` to ``handlers`` (default: the root logger's)."""
    redactor = TokenRedactingFilter(token)
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        handler.addFilter(redactor)
    return redactor
