"""Fetching a source document politely: conditional GET, a deadline, a size cap.

``fetch`` sends ``If-None-Match`` / ``If-Modified-Since`` when it has validators and reports a
304 as ``not_modified`` without a body. The body is streamed and reading stops as soon as it
passes ``max_bytes`` (after decompression, so a gzip bomb is caught as well), so a 50 MB answer
costs at most ``max_bytes`` of memory. Every failure becomes a ``SourceError`` whose message
is one readable line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from kcrush_bot.core.errors import SourceError

log = logging.getLogger(__name__)

# Enough of an error body to read WordPress's {"code": …, "message": …} answer.
_ERROR_BODY_BYTES = 64 * 1024


class FetchStatusError(SourceError):
    """The server answered with an HTTP error; ``status`` and the start of the body kept so
    callers can tell "past the last page" (404/400) from a real failure."""

    def __init__(self, message: str, status: int, body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str  # after redirects
    status: int
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None
    headers: httpx.Headers

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def _host(url: str) -> str:
    try:
        return urlsplit(url).netloc or url
    except ValueError:
        return url


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise SourceError(
            f"document is {int(declared):,} bytes, over the {max_bytes:,}-byte cap; not read"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            # Leaving the stream context closes the connection: the rest is never read.
            raise SourceError(f"document is over the {max_bytes:,}-byte cap; stopped reading")
        chunks.append(chunk)
    return b"".join(chunks)


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    deadline: float = 20.0,
    max_bytes: int = 10_000_000,
    accept: str | None = None,
) -> Fetched:
    """GET ``url`` within ``deadline`` seconds (the whole exchange, not per read)."""
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    if accept:
        headers["Accept"] = accept
    try:
        async with asyncio.timeout(deadline):
            async with client.stream(
                "GET", url, headers=headers, timeout=deadline, follow_redirects=True
            ) as response:
                status = response.status_code
                if status == 304:
                    body = b""
                elif status >= 400:
                    body = b""
                    with contextlib.suppress(SourceError):  # the status is the news
                        body = await _read_capped(response, _ERROR_BODY_BYTES)
                    reason = response.reason_phrase or "error"
                    raise FetchStatusError(f"HTTP {status} {reason}", status, body)
                elif status >= 300:
                    raise SourceError(f"HTTP {status} redirect without a usable Location")
                else:
                    body = await _read_capped(response, max_bytes)
                return Fetched(
                    url=str(response.url),
                    status=status,
                    body=body,
                    content_type=response.headers.get("content-type", ""),
                    etag=response.headers.get("etag"),
                    last_modified=response.headers.get("last-modified"),
                    headers=response.headers,
                )
    except TimeoutError:
        raise SourceError(f"no complete answer from {_host(url)} within {deadline:g} s") from None
    except httpx.TimeoutException:
        raise SourceError(f"no complete answer from {_host(url)} within {deadline:g} s") from None
    except httpx.ConnectError as exc:
        reason = str(exc) or type(exc).__name__
        raise SourceError(f"cannot connect to {_host(url)}: {reason}") from None
    except httpx.TooManyRedirects:
        raise SourceError(f"too many redirects from {url}") from None
    except httpx.DecodingError as exc:
        raise SourceError(f"cannot decode the answer from {_host(url)}: {exc}") from None
    except httpx.InvalidURL as exc:
        raise SourceError(f"{url!r} is not a valid URL: {exc}") from None
    except httpx.HTTPError as exc:
        raise SourceError(f"HTTP error from {_host(url)}: {exc or type(exc).__name__}") from None
