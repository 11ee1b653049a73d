"""Console renderer: neutral replies become plain text for a terminal.

The console is the way to try the bot without a token, so the output aims to read like the
chat platforms: cards as title / teaser / link / categories · date, numbered lists, buttons as
numbered choices (``[1] Next ▶``) that the console presses when the number is typed. Links are
never broken across lines, so the terminal keeps them clickable; search highlights are bold
on a terminal and plain elsewhere.

Text from the feed is hostile until proven otherwise: every control character except the
newline is removed, so an ESC sequence in a title cannot recolour, retitle or clear the
terminal. Wrapping counts terminal cells (Hangul and most emoji take two), not code points,
so Korean text stays within the width too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import assert_never

from kcrush_bot.core.models import HIGHLIGHT_END, HIGHLIGHT_START
from kcrush_bot.core.render.common import CONTROL, NOTHING, UNTITLED, clean, format_date, one_line
from kcrush_bot.core.replies import (
    Button,
    Cards,
    Confirm,
    ErrorReply,
    ListPage,
    Reply,
    TeaserCard,
    Text,
)

MIN_WIDTH = 20
BOLD, NORMAL = "\x1b[1m", "\x1b[22m"
# Every control character but the highlight markers our own snippets put in (fields from the
# feed are cleaned as they are read, so a marker in the output is always ours).
_CONTROL_BUT_MARKERS = re.compile(CONTROL.pattern.replace("\x00-\x08", "\x00\x01\x04-\x08"))
_URL = re.compile(r"https?://\S+")


def render_reply(reply: Reply, width: int = 80, *, bold: bool = False) -> str:
    """``reply`` as plain text wrapped to ``width`` terminal cells (no trailing newline).

    With ``bold`` the words a search matched are wrapped in the terminal's bold codes (the
    only escape sequences this renderer ever writes); without, they are shown plain.
    """
    width = max(width, MIN_WIDTH)
    lines = _render(reply, width)
    # Fields are cleaned as they are read; this last pass is the guarantee.
    out = _CONTROL_BUT_MARKERS.sub("", "\n".join(lines).replace("\t", " ").strip("\n"))
    out = out.replace(HIGHLIGHT_START, BOLD if bold else "")
    out = out.replace(HIGHLIGHT_END, NORMAL if bold else "")
    # As on the chat platforms, a reply never shows as nothing at all.
    return out if out.strip() else NOTHING


def strip_controls(text: str) -> str:
    """``text`` without control characters other than newline; tabs become spaces.

    Unlike ``common.clean``, a lone carriage return is removed rather than made a line break.
    """
    return CONTROL.sub("", text.replace("\r\n", "\n").replace("\t", " "))


def _render(reply: Reply, width: int) -> list[str]:
    match reply:
        case Text():
            return _text(reply.title, reply.text, width) + _buttons(reply.buttons, width)
        case Cards():
            return _cards(reply, width)
        case ListPage():
            return _list(reply, width)
        case Confirm():
            preview = (
                # Without the text's own buttons, as on the chat platforms.
                _text(reply.preview.title, reply.preview.text, width)
                if isinstance(reply.preview, Text)
                else _cards(reply.preview, width)
            )
            prompt = _wrap(_clean(reply.prompt) or "Send this?", width)
            return [*preview, "", *prompt, *_buttons((reply.confirm, reply.cancel), width)]
        case ErrorReply():
            lines = _wrap(f"Error: {_clean(reply.message) or 'something went wrong.'}", width)
            suggestions = [s for s in (one_line(s) for s in reply.suggestions) if s]
            if suggestions:
                lines.append("Try:")
                for suggestion in suggestions:
                    lines.extend(_wrap(suggestion, width, "  • ", "    "))
            return lines
        case _:
            assert_never(reply)


def _text(title: str | None, body: str, width: int) -> list[str]:
    lines = []
    heading = one_line(title or "")
    if heading:
        lines.extend(_wrap(heading, width))
        lines.append("=" * min(_cells(heading), width))
    lines.extend(_wrap(_clean(body), width))
    return lines


def _cards(reply: Cards, width: int) -> list[str]:
    lines = _wrap(_clean(reply.intro or ""), width)
    for card in reply.cards:
        if lines:
            lines.append("")
        lines.extend(_card(card, width))
    return lines or ["No posts to show."]


def _card(card: TeaserCard, width: int) -> list[str]:
    lines = _wrap(one_line(card.title) or UNTITLED, width)
    lines.extend(_wrap(_clean(card.teaser), width, "  ", "  "))
    url = one_line(card.url)
    if url:
        lines.extend(_wrap(url, width, "  ", "  "))
    meta = [c for c in (one_line(c) for c in card.categories) if c]
    if card.published_at is not None:
        meta.append(format_date(card.published_at))
    if meta:
        lines.extend(_wrap(" · ".join(meta), width, "  ", "  "))
    return lines


def _list(page: ListPage, width: int) -> list[str]:
    title = one_line(page.title) or "Results"
    if page.total is not None:
        title = f"{title} ({page.total})"
    lines = _wrap(title, width)
    # Numbers continue from page to page (page 2 of a search starts at 6) and are right-aligned
    # so that wrapped lines of every item start in the same column.
    digits = len(str(page.first + len(page.items) - 1))
    indent = " " * (digits + 2)
    for number, item in enumerate(page.items, page.first):
        lines.extend(
            _wrap(one_line(item.title) or UNTITLED, width, f"{number:>{digits}}. ", indent)
        )
        url = one_line(item.url or "")
        if url:
            lines.extend(_wrap(url, width, indent, indent))
        detail = _snippet(item.detail or "")
        if detail:
            lines.extend(_wrap(detail, width, indent, indent))
    footer = _clean(page.footer or "")
    if footer:
        lines.extend(_wrap(footer, width))
    if page.pages > 1:
        lines.append(f"Page {page.page}/{page.pages}")
    return lines + _buttons(page.buttons, width)


def _buttons(buttons: Sequence[Button], width: int) -> list[str]:
    """Buttons as numbered choices, ``[1] ◀ Previous  [2] Next ▶``: typing the number presses
    one. What a button does inside the bot is not the reader's business, so it is not shown."""
    if not buttons:
        return []
    lines: list[str] = []
    line = "Choose:"
    for number, button in enumerate(buttons, 1):
        hint = f"[{number}] {one_line(button.label) or '•'}"
        # Hints are kept whole where they fit; only a hint wider than a line is wrapped.
        if _cells(line) + 1 + _cells(hint) <= width:
            line = f"{line} {hint}"
            continue
        lines.append(line)
        wrapped = _wrap(hint, width, "  ", "  ")
        lines.extend(wrapped[:-1])
        line = wrapped[-1] if wrapped else "  "
    lines.append(line)
    return lines


def _snippet(detail: str) -> str:
    """The snippet on one line, its highlight markers kept (``render_reply`` makes them bold)."""
    parts = re.split(f"([{HIGHLIGHT_START}{HIGHLIGHT_END}])", detail)
    return " ".join(
        "".join(p if p in (HIGHLIGHT_START, HIGHLIGHT_END) else clean(p) for p in parts).split()
    )


# --- text ----------------------------------------------------------------------------------


def _clean(text: str) -> str:
    return strip_controls(text.replace("\r", "\n")).strip()


def _char_cells(ch: str) -> int:
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf", "Cc"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _cells(text: str) -> int:
    return sum(_char_cells(ch) for ch in text)


def _wrap(text: str, width: int, first: str = "", rest: str | None = None) -> list[str]:
    """Word-wrap ``text`` to ``width`` cells, paragraph by paragraph, like ``textwrap.wrap``.

    ``textwrap`` counts code points, so a line of Hangul would take twice the width; this
    counts cells. A word wider than a line is broken between characters, except a link: it
    goes whole on a line of its own, since a link cut in two no longer opens.
    """
    rest = first if rest is None else rest
    lines: list[str] = []
    for paragraph in text.split("\n"):
        words = paragraph.split()
        if not words:
            if lines:
                lines.append("")
            continue
        prefix = first if not lines else rest
        line, used, base = prefix, _cells(prefix), _cells(prefix)
        for word in words:
            size = _cells(word)
            if used > base and used + 1 + size <= width:
                line, used = f"{line} {word}", used + 1 + size
                continue
            if used > base:
                lines.append(line)
                line, used, base = rest, _cells(rest), _cells(rest)
            if _URL.fullmatch(word):
                line, used = line + word, used + size
                continue
            # A word wider than a whole line is broken between characters.
            for ch in word:
                cells = _char_cells(ch)
                if used + cells > width and used > base:
                    lines.append(line)
                    line, used, base = rest, _cells(rest), _cells(rest)
                line, used = line + ch, used + cells
        lines.append(line)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines
