"""Text rules every renderer applies the same way: cleaning outside text, telling blank text
from visible text, which links may be linked, dates, splitting to a limit, and the words of an
error. Cutting to a limit is ``core.text.shorten``, the same rule sources and adapters use.

Each renderer keeps its own markup (HTML for Telegram, Markdown for Discord, plain text for the
console) and its platform's limits. What lives here is what must not drift apart between them:
a control character or a ``javascript:`` link that one platform strips and another lets through
is a hole, so the rule is written once. Where platforms really differ (how a length is counted,
how text is escaped before it is measured) the difference is a parameter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import datetime
from urllib.parse import urlsplit

from kcrush_bot.core.models import HIGHLIGHT_END, HIGHLIGHT_START
from kcrush_bot.core.replies import ErrorReply
from kcrush_bot.core.text import fitting_prefix, is_url, utf16_len

UNTITLED = "Untitled post"
NOTHING = "Nothing to show."

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# C0/C1 controls: a chat may reject or silently mangle them, and in a terminal ESC and CSI
# recolour, retitle or clear the screen. Lone surrogates: they cannot be encoded as UTF-8, so
# the request (or the print) would fail. Bidi embeddings, overrides and isolates: outside text
# (a title, a query, an announcement) must not reverse the bot's words around it. Tab and
# newline are not here: cleaning turns a tab into a space and keeps line breaks.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
_HIGHLIGHT = re.compile(f"([{HIGHLIGHT_START}{HIGHLIGHT_END}])")


def clean(text: str) -> str:
    """``text`` with line breaks made ``\\n``, tabs made spaces and every ``CONTROL`` removed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    return CONTROL.sub("", text)


def one_line(text: str) -> str:
    """``text`` cleaned, with every run of whitespace (line breaks too) made one space."""
    return " ".join(clean(text).split())


def blank(text: str) -> bool:
    """Whether ``text`` would show as nothing.

    Telegram treats whitespace-only text as empty and Discord rejects it; invisible format
    characters count as blank too, so a title of zero-width spaces still gets a visible fallback.
    """
    return all(unicodedata.category(ch)[0] in "ZC" for ch in text)


def line_or(text: str, fallback: str) -> str:
    """``text`` on one line, or ``fallback`` when nothing visible is left of it."""
    line = one_line(text)
    return fallback if blank(line) else line


def visible_lines(texts: Iterable[str]) -> list[str]:
    """Each of ``texts`` on one line, leaving out the blank ones (categories, suggestions)."""
    return [line for line in (one_line(text) for text in texts) if not blank(line)]


def http_url(url: str | None) -> str | None:
    """``url`` if it is a plain http(s) URL we are willing to link, else None.

    Rejects other schemes (javascript:, data:, tg:; Discord also refuses them in embeds),
    whitespace and controls, and user info (``https://kcrush.com@evil.example`` reads like our
    site but is not).
    """
    if not url:
        return None
    url = url.strip()
    if any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in url):
        return None
    if not is_url(url, ("http", "https")) or "@" in urlsplit(url).netloc:
        return None
    return url


def format_date(when: datetime) -> str:
    """``16 Mar 2021``."""
    # Month names spelled out here, not with %b, so the output does not depend on the locale.
    return f"{when.day} {_MONTHS[when.month - 1]} {when.year}"


def error_body(reply: ErrorReply) -> str:
    """An error as chat text: the message, then what to try instead, one per line."""
    message = clean(reply.message).strip()
    if blank(message):
        message = "Something went wrong."
    suggestions = visible_lines(reply.suggestions)
    if not suggestions:
        return f"⚠️ {message}"
    return f"⚠️ {message}\n\nTry:\n" + "\n".join(f"• {s}" for s in suggestions)


def highlight_runs(detail: str) -> list[tuple[str, bool]]:
    """A search snippet as ``(text, highlighted)`` runs, cleaned and on one line.

    Text between ``HIGHLIGHT_START`` and ``HIGHLIGHT_END`` is highlighted. The runs are as the
    markers cut them, so two neighbours may share a style; empty runs are left out.
    """
    runs: list[tuple[str, bool]] = []
    highlighted = False
    for part in _HIGHLIGHT.split(detail):
        if part == HIGHLIGHT_START:
            highlighted = True
        elif part == HIGHLIGHT_END:
            highlighted = False
        else:
            # A snippet is one paragraph of a list item: its line breaks become spaces.
            text = clean(part).replace("\n", " ")
            if text:
                runs.append((text, highlighted))
    return runs


def split_text(text: str, limit: int, measure: Callable[[str], int] = utf16_len) -> list[str]:
    """Split ``text`` into chunks that ``measure`` at most ``limit``, at line or word breaks.

    Long text is split, not cut: help texts and announcements must arrive whole. Blank chunks
    are left out.
    """
    chunks: list[str] = []
    rest = text
    while measure(rest) > limit:
        fits = max(fitting_prefix(rest, limit, measure), 1)
        cut = fits
        newline = rest.rfind("\n", 0, fits)
        space = next((i for i in range(fits - 1, -1, -1) if rest[i].isspace()), -1)
        if newline >= fits // 2:
            cut = newline
        elif space >= fits // 2:
            cut = space
        chunk = rest[:cut].rstrip()
        if not blank(chunk):
            chunks.append(chunk)
        rest = rest[cut:].lstrip()
    if not blank(rest):
        chunks.append(rest)
    return chunks
