"""Small text helpers shared by cleaning and rendering: length in UTF-16 units, word-boundary cuts."""

from __future__ import annotations

import re
from collections.abc import Callable

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
    ellipsis: str = ELLIPSIS,
    measure: Callable[[str], int] = len,
) -> str:
    """Cut ``text`` to at most ``limit`` (as ``measure`` counts) at a word boundary, with an ellipsis.

    Text that already fits is returned unchanged. A single word longer than the limit is cut
    between characters (a Python ``str`` holds code points, so a surrogate pair is never split).
    """
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
