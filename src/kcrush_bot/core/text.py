"""Small text helpers shared by cleaning, rendering and settings: length in UTF-16 units,
word-boundary cuts, and whether a text is a URL of the wanted scheme."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from urllib.parse import urlsplit

from kcrush_bot.core.errors import ConfigError

ELLIPSIS = "…"
_SPACE = re.compile(r"\s")


def utf16_len(text: str) -> int:
    """Length as Telegram and Discord count it: UTF-16 code units (an emoji outside the BMP is 2)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def fitting_prefix(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """How many characters of ``text`` fit in ``limit`` as ``measure`` counts them.

    ``measure`` must not shrink as a prefix grows (true of lengths and of escaping), which lets
    bisection find the longest fitting prefix in a few measurements of a long text.
    """
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if measure(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo


def shorten(
    text: str,
    limit: int,
    *,
    measure: Callable[[str], int] = len,
    escape: Callable[[str], str] | None = None,
    ellipsis: str = ELLIPSIS,
) -> str:
    """Cut ``text`` to at most ``limit`` (as ``measure`` counts) at a word boundary, with an ellipsis.

    The one truncation rule: sources cut excerpts with it, renderers cut to their platform's
    limits (``measure=utf16_len``), adapters cut labels. Text that already fits is returned
    unchanged. A single word longer than the limit is cut between characters (a Python
    ``str`` holds code points, so a surrogate pair is never split).

    With ``escape`` (Markdown escaping, mention defusing) the result is escaped and it is the
    escaped form that must fit: cutting before escaping means a cut never separates an escape
    from what it escapes.
    """
    if escape is None:
        return _cut(text, limit, measure, ellipsis)
    escaping = escape

    def escaped_measure(part: str) -> int:
        return measure(escaping(part))

    cut = _cut(text, limit, escaped_measure, ellipsis)
    out = escape(cut)
    while measure(out) > limit and cut:  # escaping is monotonic: only guards the ellipsis
        cut = cut[:-1]
        out = escape(cut)
    return out


def _cut(text: str, limit: int, measure: Callable[[str], int], ellipsis: str) -> str:
    if measure(text) <= limit:
        return text
    room = limit - measure(ellipsis)
    if room <= 0:
        return ellipsis[: max(limit, 0)]
    lo = fitting_prefix(text, room, measure)
    cut = text[:lo]
    # Prefer the last whitespace, unless that throws away most of the room (one huge word).
    boundary = max((m.start() for m in _SPACE.finditer(cut)), default=-1)
    if boundary >= lo // 2:
        cut = cut[:boundary]
    return cut.rstrip(" \t\n,;:.-–—") + ellipsis


def is_url(text: str, schemes: Collection[str]) -> bool:
    """Whether ``text`` is an absolute URL with one of ``schemes`` (lower case) and a host."""
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    return parts.scheme.lower() in schemes and bool(parts.netloc)


def check_url(key: str, text: str, schemes: tuple[str, ...]) -> str:
    """``text`` when it is a URL of one of ``schemes``; else a ConfigError naming ``key``."""
    if not is_url(text, schemes):
        raise ConfigError(f"{key}: {text!r} is not a {'/'.join(schemes)} URL")
    return text
