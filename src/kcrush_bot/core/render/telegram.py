"""Telegram renderer: neutral replies become Bot API calls in HTML parse mode.

Everything here is a pure function from ``core.replies`` to ``TelegramCall`` values. The
Telegram adapter adds ``chat_id`` (and ``message_thread_id`` for forum topics) and performs the
calls; nothing in this module knows about python-telegram-bot.

Telegram's rules shape the code:

* Only a few tags are accepted, and any unescaped ``<``, ``>`` or ``&`` fails the whole message,
  so text is kept as plain spans and escaped only when it becomes HTML.
* Limits (4096 for text, 1024 for a caption) count the text *after* entity parsing, in UTF-16
  code units, so we measure the plain text and cut it before escaping: a cut can never land
  inside ``&amp;`` or a tag.
* An empty (or all-whitespace) message is rejected, so every message has a visible fallback.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, assert_never
from urllib.parse import urlsplit

from kcrush_bot.core.models import HIGHLIGHT_END, HIGHLIGHT_START
from kcrush_bot.core.replies import (
    Button,
    Cards,
    Confirm,
    ErrorReply,
    ListItem,
    ListPage,
    Reply,
    TeaserCard,
    Text,
)
from kcrush_bot.core.text import ELLIPSIS, shorten, utf16_len

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_BYTES = 64

# Our own caps, well inside Telegram's: a title longer than this is not a title, and keeping
# each list item small guarantees that any single item fits in a message on its own.
TITLE_LIMIT = 256
META_LIMIT = 200
ITEM_TITLE_LIMIT = 256
DETAIL_LIMIT = 600
BUTTON_LABEL_LIMIT = 64
BUTTONS_PER_ROW = 3

UNTITLED = "Untitled post"
NOTHING = "Nothing to show."

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# C0/C1 controls (Telegram may reject or silently mangle them; ESC and NUL have no business in a
# chat) and lone surrogates (they cannot be encoded as UTF-8, so the request itself would fail).
# Bidi embeddings, overrides and isolates too: outside text (a title, a query, an announcement)
# must not reverse the bot's words around it. Tab and newline are handled separately.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True, slots=True)
class TelegramCall:
    """One Bot API call without its target: the adapter adds ``chat_id`` (and a topic)."""

    method: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Span:
    """A run of plain text with one style; HTML is produced only at the very end."""

    text: str
    bold: bool = False
    italic: bool = False
    href: str | None = None


_Block = list[_Span]


def visible_text(html_text: str) -> str:
    """What Telegram shows for ``html_text``: tags stripped, entities unescaped.

    Valid for our own output, where every ``<`` in text is escaped; limits are checked on this.
    """
    return html.unescape(_TAG.sub("", html_text))


def render_card(card: TeaserCard) -> TelegramCall:
    """A teaser card: ``sendPhoto`` with a caption when it has an image, else ``sendMessage``.

    The adapter may fall back to ``render_card(dataclasses.replace(card, image_url=None))``
    when Telegram cannot fetch the image.
    """
    url = http_url(card.url)
    image = http_url(card.image_url)
    limit = CAPTION_LIMIT if image else TEXT_LIMIT

    title = _fit_plain(_title(card.title, UNTITLED), TITLE_LIMIT)
    head: _Block = [_Span(title, bold=True, href=url)]
    meta_text = _fit_plain(_meta_line(card), META_LIMIT)
    meta: _Block = [_Span(meta_text, italic=True)] if meta_text else []

    used = _measure(head) + (2 + _measure(meta) if meta else 0)
    teaser_text = _clean(card.teaser).strip()
    teaser: _Block = []
    if not _blank(teaser_text):
        teaser = [_Span(_fit_plain(teaser_text, limit - used - 2))]

    body = _join([block for block in (head, teaser, meta) if block], "\n\n")
    if image:
        return TelegramCall(
            "sendPhoto", {"photo": image, "caption": _html(body), "parse_mode": "HTML"}
        )
    preview: dict[str, Any] = (
        {"url": url, "prefer_large_media": True} if url else {"is_disabled": True}
    )
    return TelegramCall(
        "sendMessage",
        {"text": _html(body), "parse_mode": "HTML", "link_preview_options": preview},
    )


def render_reply(reply: Reply) -> list[TelegramCall]:
    """Every call needed to show ``reply``, in order; buttons go on the last message."""
    match reply:
        case Text():
            return _render_text(reply.title, reply.text, reply.buttons)
        case Cards():
            return _render_cards(reply)
        case ListPage():
            return _render_list(reply)
        case Confirm():
            # The preview leaves out the text's own buttons: pressed before confirming, they
            # would act on something that has not been sent yet.
            preview = (
                _render_text(reply.preview.title, reply.preview.text, ())
                if isinstance(reply.preview, Text)
                else _render_cards(reply.preview)
            )
            prompt = _render_text(
                None, reply.prompt, (reply.confirm, reply.cancel), fallback="Send this?"
            )
            return preview + prompt
        case ErrorReply():
            return _render_text(None, _error_body(reply), ())
        case _:
            assert_never(reply)


def http_url(url: str | None) -> str | None:
    """``url`` if it is a plain http(s) URL we are willing to link, else None.

    Rejects other schemes (javascript:, data:, tg:), whitespace and controls, and user info
    (``https://kcrush.com@evil.example`` reads like our site but is not).
    """
    if not url:
        return None
    url = url.strip()
    if any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return None
    return url


# --- replies -------------------------------------------------------------------------------


def _render_text(
    title: str | None,
    body: str,
    buttons: Sequence[Button],
    *,
    fallback: str = NOTHING,
) -> list[TelegramCall]:
    head: _Block = []
    title_text = _one_line(title or "")
    if not _blank(title_text):
        head = [_Span(_fit_plain(title_text, TITLE_LIMIT), bold=True)]
    # Long text is split, not cut: help texts and announcements must arrive whole.
    room = TEXT_LIMIT - (_measure(head) + 1 if head else 0)
    chunks = split_text(_clean(body).strip(), room)
    messages: list[_Block] = [[_Span(chunk)] for chunk in chunks]
    if head:
        if messages:
            messages[0] = [*head, _Span("\n"), *messages[0]]
        else:
            messages = [head]
    if not messages:
        messages = [[_Span(fallback)]]
    return _messages(messages, buttons)


def _render_cards(reply: Cards) -> list[TelegramCall]:
    calls: list[TelegramCall] = []
    if reply.intro and not _blank(_clean(reply.intro)):
        calls.extend(_render_text(None, reply.intro, ()))
    calls.extend(render_card(card) for card in reply.cards)
    return calls or _render_text(None, "", (), fallback="No posts to show.")


def _render_list(page: ListPage) -> list[TelegramCall]:
    header_text = _title(page.title, "Results")
    if page.total is not None:
        header_text = f"{header_text} ({page.total})"
    blocks: list[_Block] = [[_Span(_fit_plain(header_text, TITLE_LIMIT), bold=True)]]
    blocks.extend(_list_item(number, item) for number, item in enumerate(page.items, 1))
    tail: _Block = []
    footer = _clean(page.footer or "").strip()
    if not _blank(footer):
        tail.append(_Span(_fit_plain(footer, DETAIL_LIMIT), italic=True))
    if page.pages > 1:
        if tail:
            tail.append(_Span("\n"))
        tail.append(_Span(f"Page {page.page}/{page.pages}"))
    if tail:
        blocks.append(tail)
    return _messages(_pack(blocks, TEXT_LIMIT, "\n\n"), page.buttons)


def _list_item(number: int, item: ListItem) -> _Block:
    title = _fit_plain(_title(item.title, UNTITLED), ITEM_TITLE_LIMIT)
    block: _Block = [_Span(f"{number}. "), _Span(title, href=http_url(item.url))]
    detail = _fit_spans(_snippet_spans(item.detail or ""), DETAIL_LIMIT)
    if detail:
        block.append(_Span("\n"))
        block.extend(detail)
    return block


def _error_body(reply: ErrorReply) -> str:
    message = _clean(reply.message).strip()
    if _blank(message):
        message = "Something went wrong."
    suggestions = [s for s in (_one_line(s) for s in reply.suggestions) if not _blank(s)]
    if not suggestions:
        return f"⚠️ {message}"
    return f"⚠️ {message}\n\nTry:\n" + "\n".join(f"• {s}" for s in suggestions)


def _messages(messages: list[_Block], buttons: Sequence[Button]) -> list[TelegramCall]:
    calls = []
    keyboard = _keyboard(buttons)
    for index, spans in enumerate(messages):
        params: dict[str, Any] = {
            "text": _html(spans),
            "parse_mode": "HTML",
            # Lists and notices carry many links; a preview of the first one is noise.
            "link_preview_options": {"is_disabled": True},
        }
        if keyboard and index == len(messages) - 1:
            params["reply_markup"] = keyboard
        calls.append(TelegramCall("sendMessage", params))
    return calls


def _keyboard(buttons: Sequence[Button]) -> dict[str, Any] | None:
    row: list[dict[str, str]] = []
    for button in buttons:
        # callback_data must be 1-64 bytes or Telegram rejects the whole message; a cut action
        # would run something else, so a button that cannot round-trip is left out.
        size = len(button.action.encode("utf-8", "surrogatepass"))
        if not 0 < size <= CALLBACK_DATA_BYTES or _CONTROL.search(button.action):
            continue
        label = _fit_plain(_title(button.label, "•"), BUTTON_LABEL_LIMIT)
        row.append({"text": label, "callback_data": button.action})
    if not row:
        return None
    rows = [row[i : i + BUTTONS_PER_ROW] for i in range(0, len(row), BUTTONS_PER_ROW)]
    return {"inline_keyboard": rows}


# --- spans ---------------------------------------------------------------------------------


def _html(spans: Sequence[_Span]) -> str:
    parts = []
    for span in spans:
        if not span.text:
            continue
        out = html.escape(span.text, quote=False)
        if span.bold:
            out = f"<b>{out}</b>"
        if span.italic:
            out = f"<i>{out}</i>"
        if span.href:
            out = f'<a href="{html.escape(span.href, quote=True)}">{out}</a>'
        parts.append(out)
    return "".join(parts)


def _plain(spans: Sequence[_Span]) -> str:
    return "".join(span.text for span in spans)


def _measure(spans: Sequence[_Span]) -> int:
    return utf16_len(_plain(spans))


def _join(blocks: Sequence[_Block], sep: str) -> _Block:
    out: _Block = []
    for block in blocks:
        if out:
            out.append(_Span(sep))
        out.extend(block)
    return out


def _pack(blocks: Sequence[_Block], limit: int, sep: str) -> list[_Block]:
    """Greedily fill messages with whole blocks; each block must fit ``limit`` on its own."""
    messages: list[_Block] = []
    current: _Block = []
    size = 0
    for block in blocks:
        length = _measure(block)
        if current and size + utf16_len(sep) + length > limit:
            messages.append(current)
            current, size = [], 0
        if current:
            current.append(_Span(sep))
            size += utf16_len(sep)
        current.extend(block)
        size += length
    if current:
        messages.append(current)
    return messages


def _fit_spans(spans: Sequence[_Span], limit: int) -> _Block:
    """Cut styled text at a word boundary, keeping each surviving character's style."""
    plain = _plain(spans)
    cut = shorten(plain, limit, measure=utf16_len)
    if cut == plain:
        return list(spans)
    if not (cut.endswith(ELLIPSIS) and plain.startswith(cut[: -len(ELLIPSIS)])):
        return [_Span(cut)]
    keep = len(cut) - len(ELLIPSIS)
    out: _Block = []
    for span in spans:
        if keep <= 0:
            break
        out.append(_Span(span.text[:keep], span.bold, span.italic, span.href))
        keep -= len(span.text)
    out.append(_Span(ELLIPSIS))
    return out


def _snippet_spans(detail: str) -> _Block:
    """A search snippet: text between HIGHLIGHT_START and HIGHLIGHT_END becomes bold."""
    spans: _Block = []
    bold = False
    for part in re.split(f"([{HIGHLIGHT_START}{HIGHLIGHT_END}])", detail):
        if part == HIGHLIGHT_START:
            bold = True
        elif part == HIGHLIGHT_END:
            bold = False
        else:
            # A snippet is one paragraph of a list item: its line breaks become spaces.
            text = _clean(part).replace("\n", " ")
            if text:
                spans.append(_Span(text, bold=bold))
    if _blank(_plain(spans)):
        return []
    return spans


# --- plain text ----------------------------------------------------------------------------


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` UTF-16 units, at line or word breaks."""
    chunks: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        lo, hi = 0, len(rest)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if utf16_len(rest[:mid]) <= limit:
                lo = mid
            else:
                hi = mid - 1
        fits = max(lo, 1)
        cut = fits
        newline = rest.rfind("\n", 0, fits)
        space = next((i for i in range(fits - 1, -1, -1) if rest[i].isspace()), -1)
        if newline >= fits // 2:
            cut = newline
        elif space >= fits // 2:
            cut = space
        chunk = rest[:cut].rstrip()
        if not _blank(chunk):
            chunks.append(chunk)
        rest = rest[cut:].lstrip()
    if not _blank(rest):
        chunks.append(rest)
    return chunks


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    return _CONTROL.sub("", text)


def _one_line(text: str) -> str:
    return " ".join(_clean(text).split())


def _title(text: str, fallback: str) -> str:
    line = _one_line(text)
    return fallback if _blank(line) else line


def _blank(text: str) -> bool:
    # Telegram treats whitespace-only text as empty; invisible format characters count as blank
    # too, so a title of zero-width spaces still gets a visible fallback.
    return all(unicodedata.category(ch)[0] in "ZC" for ch in text)


def _fit_plain(text: str, limit: int) -> str:
    return shorten(text, limit, measure=utf16_len)


def _meta_line(card: TeaserCard) -> str:
    parts = [name for name in (_one_line(c) for c in card.categories) if not _blank(name)]
    if card.published_at is not None:
        parts.append(_date(card.published_at))
    return " · ".join(parts)


def _date(when: datetime) -> str:
    # Month names spelled out here, not with %b, so the output does not depend on the locale.
    return f"{when.day} {_MONTHS[when.month - 1]} {when.year}"
