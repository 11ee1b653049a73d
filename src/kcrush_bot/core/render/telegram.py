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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, assert_never

from kcrush_bot.core.render.common import (
    CONTROL,
    NOTHING,
    UNTITLED,
    blank,
    clean,
    error_body,
    format_date,
    highlight_runs,
    line_or,
    one_line,
    split_text,
    visible_lines,
)
from kcrush_bot.core.render.common import http_url as http_url
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

    title = shorten(line_or(card.title, UNTITLED), TITLE_LIMIT, measure=utf16_len)
    head: _Block = [_Span(title, bold=True, href=url)]
    meta_text = shorten(_meta_line(card), META_LIMIT, measure=utf16_len)
    meta: _Block = [_Span(meta_text, italic=True)] if meta_text else []

    used = _measure(head) + (2 + _measure(meta) if meta else 0)
    teaser_text = clean(card.teaser).strip()
    teaser: _Block = []
    if not blank(teaser_text):
        teaser = [_Span(shorten(teaser_text, limit - used - 2, measure=utf16_len))]

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
            return _render_text(None, error_body(reply), ())
        case _:
            assert_never(reply)


# --- replies -------------------------------------------------------------------------------


def _render_text(
    title: str | None,
    body: str,
    buttons: Sequence[Button],
    *,
    fallback: str = NOTHING,
) -> list[TelegramCall]:
    head: _Block = []
    title_text = one_line(title or "")
    if not blank(title_text):
        head = [_Span(shorten(title_text, TITLE_LIMIT, measure=utf16_len), bold=True)]
    # Long text is split, not cut: help texts and announcements must arrive whole.
    room = TEXT_LIMIT - (_measure(head) + 1 if head else 0)
    chunks = split_text(clean(body).strip(), room)
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
    if reply.intro and not blank(clean(reply.intro)):
        calls.extend(_render_text(None, reply.intro, ()))
    calls.extend(render_card(card) for card in reply.cards)
    return calls or _render_text(None, "", (), fallback="No posts to show.")


def _render_list(page: ListPage) -> list[TelegramCall]:
    header_text = line_or(page.title, "Results")
    if page.total is not None:
        header_text = f"{header_text} ({page.total})"
    blocks: list[_Block] = [
        [_Span(shorten(header_text, TITLE_LIMIT, measure=utf16_len), bold=True)]
    ]
    blocks.extend(_list_item(number, item) for number, item in enumerate(page.items, page.first))
    tail: _Block = []
    footer = clean(page.footer or "").strip()
    if not blank(footer):
        tail.append(_Span(shorten(footer, DETAIL_LIMIT, measure=utf16_len), italic=True))
    if page.pages > 1:
        if tail:
            tail.append(_Span("\n"))
        tail.append(_Span(f"Page {page.page}/{page.pages}"))
    if tail:
        blocks.append(tail)
    return _messages(_pack(blocks, TEXT_LIMIT, "\n\n"), page.buttons)


def _list_item(number: int, item: ListItem) -> _Block:
    title = shorten(line_or(item.title, UNTITLED), ITEM_TITLE_LIMIT, measure=utf16_len)
    block: _Block = [_Span(f"{number}. "), _Span(title, href=http_url(item.url))]
    detail = _fit_spans(_snippet_spans(item.detail or ""), DETAIL_LIMIT)
    if detail:
        block.append(_Span("\n"))
        block.extend(detail)
    return block


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
        if not 0 < size <= CALLBACK_DATA_BYTES or CONTROL.search(button.action):
            continue
        label = shorten(line_or(button.label, "•"), BUTTON_LABEL_LIMIT, measure=utf16_len)
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
    spans = [_Span(text, bold=bold) for text, bold in highlight_runs(detail)]
    if blank(_plain(spans)):
        return []
    return spans


# --- plain text ----------------------------------------------------------------------------


def _meta_line(card: TeaserCard) -> str:
    parts = visible_lines(card.categories)
    if card.published_at is not None:
        parts.append(format_date(card.published_at))
    return " · ".join(parts)
