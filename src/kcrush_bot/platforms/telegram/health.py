"""Whether long polling reaches Telegram: the request object ``getUpdates`` goes through.

python-telegram-bot retries a failing ``getUpdates`` forever on its own and tells nobody when
it succeeds again; ``/healthz`` needs both. Every long poll goes through this request, which
remembers how the last one ended: answered (connected) or failed (why).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING

from telegram.error import TelegramError
from telegram.request import HTTPXRequest, RequestData

if TYPE_CHECKING:
    from telegram._utils.types import ODVInput

DEFAULT_NONE = HTTPXRequest.DEFAULT_NONE

# Answers that show Telegram is there even though the call did not succeed.
_ANSWERED = (HTTPStatus.OK, HTTPStatus.TOO_MANY_REQUESTS)


class PollingRequest(HTTPXRequest):
    """An ``HTTPXRequest`` for ``getUpdates`` that records the outcome of the last call."""

    problem: str | None = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        try:
            code, payload = await super().do_request(
                url,
                method,
                request_data,
                read_timeout,
                write_timeout,
                connect_timeout,
                pool_timeout,
            )
        except TelegramError as exc:  # NetworkError, TimedOut: Telegram was not reached
            self.problem = f"getUpdates failed: {exc.message}"[:300]
            raise
        self.problem = None if code in _ANSWERED else f"getUpdates answered HTTP {code}"
        return code, payload
