"""Discord renderer: neutral replies become message JSON payloads (content, embeds, buttons).

Pure functions with no discord.py import: the adapter sends the dicts as they are (through
``discord.http`` or a webhook) or builds SDK objects from them.

Two things matter more than looks here:

* Nobody is ever pinged. Every payload carries ``allowed_mentions: {"parse": []}``, and on top
  of that every piece of outside text has its mention syntax defused with a zero-width space, so
  a post titled "@everyone" stays harmless even if a future adapter forgets the first guard.
* Limits are never exceeded and nothing is dropped silently: long text is split into several
  messages, long lists into several embeds and messages.

Lengths are counted in UTF-16 code units (``utf16_len``). Discord documents its limits in
"characters" without saying which; UTF-16 units are never fewer than code points, so counting
them is safe whichever Discord means, and it matches what its JavaScript client counts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, assert_never

from kcrush_bot.core.render.common import (
    CONTROL,
    NOTHING,
    UNTITLED,
    blank,
    clean,
    error_body,
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
from kcrush_bot.core.times import as_utc

CONTENT_LIMIT = 2000
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
EMBEDS_PER_MESSAGE = 10
BUTTON_LABEL_LIMIT = 80
CUSTOM_ID_LIMIT = 100
BUTTONS_PER_ROW = 5
ACTION_ROWS = 5

# Our own caps. A card footer of 256 keeps one embed (256 + 4096 + 256) under the 6000 total;
# small list items guarantee that any single item fits in a description on its own.
FOOTER_LIMIT = 256
ITEM_TITLE_LIMIT = 200
DETAIL_LIMIT = 500
ITEM_URL_LIMIT = 512

KCRUSH_PINK = 0xE4007F
EPHEMERAL = 64
STYLE_PRIMARY, STYLE_SECONDARY, STYLE_DANGER = 1, 2, 4

ZWSP = "\u200b"

# Characters that start or end Markdown anywhere in a line: bold/italic, underline, strike,
# code, spoiler, masked links, and the backslash itself.
_MD_INLINE = re.compile(r"([\\*_~`|\[\]])")
# Syntax that only counts at the start of a line: quotes, headings and -# subtext, lists.
_MD_LINE_START = re.compile(r"^([ \t]*)(?:([>#-])|(\d+)\.)", re.MULTILINE)
_MD_LINE_START_INNER = re.compile(r"(?<=\n)([ \t]*)(?:([>#-])|(\d+)\.)")
# "@everyone"/"@here" ping by name; "<@id>", "<@!id>", "<@&role>" and "<#channel>" are mention
# syntax. A zero-width space after the sigil breaks each; the lookahead keeps this idempotent.
_MENTION = re.compile(f"@(?=everyone|here)|(?<=<)[@#](?!{ZWSP})", re.IGNORECASE)
# Characters that would end a Markdown link target early or form mention syntax inside it.
_URL_UNSAFE = {"(": "%28", ")": "%29", "<": "%3C", ">": "%3E", "@": "%40"}

Payload = dict[str, Any]


def render_card_embed(card: TeaserCard) -> dict[str, Any]:
    """One teaser card as an embed: linked title, teaser, categories, date, image."""
    embed: dict[str, Any] = {
        "title": _fit_md(line_or(card.title, UNTITLED), EMBED_TITLE_LIMIT),
        "color": KCRUSH_PINK,
    }
    url = http_url(card.url)
    if url:
        embed["url"] = url
    teaser = clean(card.teaser).strip()
    if not blank(teaser):
        embed["description"] = _fit_md(teaser, EMBED_DESCRIPTION_LIMIT)
    categories = " · ".join(visible_lines(card.categories))
    if categories:
        # Footers do not render Markdown, so they are defused but not escaped.
        embed["footer"] = {"text": _fit_plain(categories, FOOTER_LIMIT)}
    if card.published_at is not None:
        # Stored times are UTC; a naive one would otherwise be read as the server's local time.
        embed["timestamp"] = as_utc(card.published_at).isoformat()
    image = http_url(card.image_url)
    if image:
        embed["image"] = {"url": image}
    return embed


def render_reply(reply: Reply) -> list[Payload]:
    """Every message payload needed to show ``reply``, in order; buttons go on the last one."""
    match reply:
        case Text():
            return _render_text(reply.title, reply.text, reply.buttons, ephemeral=reply.ephemeral)
        case Cards():
            return _render_cards(reply)
        case ListPage():
            return _render_list(reply)
        case Confirm():
            # A confirmation is for the moderator who asked: only they can answer it, so the
            # preview and the question are ephemeral.
            preview = reply.preview
            payloads = (
                # Without the text's own buttons: pressed before confirming, they would act
                # on something that has not been sent yet.
                _render_text(preview.title, preview.text, (), ephemeral=True)
                if isinstance(preview, Text)
                else _render_cards(preview, ephemeral=True)
            )
            buttons = [(reply.confirm, STYLE_PRIMARY), (reply.cancel, STYLE_DANGER)]
            payloads += _render_text(
                None, reply.prompt, buttons, ephemeral=True, fallback="Send this?"
            )
            return payloads
        case ErrorReply():
            return _render_text(None, error_body(reply), (), ephemeral=True)
        case _:
            assert_never(reply)


def escape_markdown(text: str, *, line_start: bool = True) -> str:
    """Backslash-escape Markdown so ``text`` shows as written (the backslashes do not show).

    ``line_start`` says whether ``text`` begins a line, where ``>``, ``#``, ``-`` and ``1.``
    would start a quote, heading or list.
    """
    text = _MD_INLINE.sub(r"\\\1", text)
    pattern = _MD_LINE_START if line_start else _MD_LINE_START_INNER
    return pattern.sub(_escape_line_start, text)


def defuse_mentions(text: str) -> str:
    """Break ``@everyone``, ``@here`` and ``<@…>``/``<#…>`` with a zero-width space."""
    return _MENTION.sub(lambda m: m.group() + ZWSP, text)


# --- replies -------------------------------------------------------------------------------


def _render_text(
    title: str | None,
    body: str,
    buttons: Sequence[Button] | Sequence[tuple[Button, int]],
    *,
    ephemeral: bool,
    fallback: str = NOTHING,
) -> list[Payload]:
    head = ""
    title_text = one_line(title or "")
    if not blank(title_text):
        head = f"**{_fit_md(title_text, EMBED_TITLE_LIMIT)}**"
    # Long text is split, not cut: help texts and announcements must arrive whole. Splitting
    # the plain text and escaping each chunk keeps every escape whole.
    room = CONTENT_LIMIT - (utf16_len(head) + 1 if head else 0)
    contents = [_md(chunk) for chunk in split_text(clean(body).strip(), room, _md_len)]
    if head:
        contents = [f"{head}\n{contents[0]}", *contents[1:]] if contents else [head]
    if not contents:
        contents = [fallback]
    last = len(contents) - 1
    return [
        _payload(content=c, buttons=buttons if i == last else (), ephemeral=ephemeral)
        for i, c in enumerate(contents)
    ]


def _render_cards(reply: Cards, *, ephemeral: bool = False) -> list[Payload]:
    intro = clean(reply.intro or "").strip()
    embeds = [render_card_embed(card) for card in reply.cards]
    payloads: list[Payload] = []
    content = ""
    if not blank(intro):
        if _md_len(intro) <= CONTENT_LIMIT and embeds:
            content = _md(intro)
        else:
            payloads = _render_text(None, intro, (), ephemeral=ephemeral)
    for group in _group_embeds(embeds):
        payloads.append(_payload(content=content, embeds=group, ephemeral=ephemeral))
        content = ""
    return payloads or _render_text(None, "", (), ephemeral=ephemeral, fallback="No posts to show.")


def _render_list(page: ListPage) -> list[Payload]:
    title = line_or(page.title, "Results")
    if page.total is not None:
        title = f"{title} ({page.total})"
    lines = [_list_item(number, item) for number, item in enumerate(page.items, page.first)]
    descriptions = _pack(lines, EMBED_DESCRIPTION_LIMIT, "\n\n") or [""]
    embeds: list[dict[str, Any]] = []
    for description in descriptions:
        embed: dict[str, Any] = {"color": KCRUSH_PINK}
        if description:
            embed["description"] = description
        embeds.append(embed)
    embeds[0]["title"] = _fit_md(title, EMBED_TITLE_LIMIT)
    # The footer is cut on its own so that a long one cannot push the page number out.
    footer = [_fit_plain(one_line(page.footer or ""), FOOTER_LIMIT - 20)]
    if page.pages > 1:
        footer.append(f"Page {page.page}/{page.pages}")
    footer_text = " · ".join(part for part in footer if not blank(part))
    if footer_text:
        embeds[-1]["footer"] = {"text": _fit_plain(footer_text, FOOTER_LIMIT)}
    groups = _group_embeds(embeds)
    last = len(groups) - 1
    return [
        _payload(embeds=group, buttons=page.buttons if i == last else ())
        for i, group in enumerate(groups)
    ]


def _list_item(number: int, item: ListItem) -> str:
    title = _fit_md(line_or(item.title, UNTITLED), ITEM_TITLE_LIMIT)
    url = http_url(item.url)
    link = "".join(_URL_UNSAFE.get(ch, ch) for ch in url) if url else ""
    # A masked link's text is already escaped ([ and ] included), so it cannot close early.
    line = (
        f"{number}. [{title}]({link})"
        if link and len(link) <= ITEM_URL_LIMIT
        else f"{number}. **{title}**"
    )
    detail = _snippet_md(item.detail or "", DETAIL_LIMIT)
    return f"{line}\n{detail}" if detail else line


# --- payloads ------------------------------------------------------------------------------


def _payload(
    *,
    content: str = "",
    embeds: Sequence[dict[str, Any]] = (),
    buttons: Sequence[Button] | Sequence[tuple[Button, int]] = (),
    ephemeral: bool = False,
) -> Payload:
    # A fresh dict each time: adapters may mutate payloads, and a shared one would leak.
    payload: Payload = {"allowed_mentions": {"parse": []}}
    if content:
        payload["content"] = content
    if embeds:
        payload["embeds"] = list(embeds)
    components = _components(buttons)
    if components:
        payload["components"] = components
    if ephemeral:
        payload["flags"] = EPHEMERAL
    return payload


def _components(buttons: Sequence[Button] | Sequence[tuple[Button, int]]) -> list[dict[str, Any]]:
    row: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in buttons:
        button, style = entry if isinstance(entry, tuple) else (entry, STYLE_SECONDARY)
        action = button.action
        # custom_id must be 1-100 characters and unique within the message, or Discord rejects
        # the message; a cut action would run something else, so such a button is left out.
        if not 0 < len(action) <= CUSTOM_ID_LIMIT or action in seen or CONTROL.search(action):
            continue
        seen.add(action)
        label = _fit_plain(line_or(button.label, "•"), BUTTON_LABEL_LIMIT)
        row.append({"type": 2, "style": style, "label": label, "custom_id": action})
    # Discord allows five rows of five; more buttons than that is a handler bug.
    rows = [row[i : i + BUTTONS_PER_ROW] for i in range(0, len(row), BUTTONS_PER_ROW)]
    return [{"type": 1, "components": r} for r in rows[:ACTION_ROWS]]


def embed_size(embed: dict[str, Any]) -> int:
    """The text Discord counts towards the 6000 limit of all embeds in one message."""
    size = utf16_len(embed.get("title", "")) + utf16_len(embed.get("description", ""))
    size += utf16_len(embed.get("footer", {}).get("text", ""))
    size += utf16_len(embed.get("author", {}).get("name", ""))
    for field in embed.get("fields", ()):
        size += utf16_len(field.get("name", "")) + utf16_len(field.get("value", ""))
    return size


def _group_embeds(embeds: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Fill messages with up to 10 embeds while their text stays within 6000 together."""
    groups: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for embed in embeds:
        length = embed_size(embed)
        if current and (len(current) == EMBEDS_PER_MESSAGE or size + length > EMBED_TOTAL_LIMIT):
            groups.append(current)
            current, size = [], 0
        current.append(embed)
        size += length
    if current:
        groups.append(current)
    return groups


def _pack(lines: Sequence[str], limit: int, sep: str) -> list[str]:
    """Join whole lines into chunks of at most ``limit``; each line must fit on its own."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        if current and utf16_len(current) + utf16_len(sep) + utf16_len(line) > limit:
            chunks.append(current)
            current = ""
        current = f"{current}{sep}{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


# --- text ----------------------------------------------------------------------------------


def _md(text: str, *, line_start: bool = True) -> str:
    """Outside text made safe for content and descriptions: escaped, mentions defused."""
    return defuse_mentions(escape_markdown(text, line_start=line_start))


def _md_len(text: str) -> int:
    return utf16_len(_md(text))


def _fit_md(text: str, limit: int) -> str:
    """``text`` cut at a word boundary so that its escaped form fits ``limit``, then escaped."""
    return shorten(text, limit, measure=utf16_len, escape=_md)


def _fit_plain(text: str, limit: int) -> str:
    """For places that show text literally (footers, button labels): defused, not escaped."""
    return shorten(text, limit, measure=utf16_len, escape=defuse_mentions)


def _snippet_md(detail: str, limit: int) -> str:
    """A search snippet with its highlighted words in bold, cut to about ``limit``."""
    segments: list[tuple[str, bool]] = []
    for text, bold in highlight_runs(detail):
        # Neighbours of one style are merged: escaped apart, "<" and "@1>" would meet again
        # as "<@1>" with nothing defusing them.
        if segments and segments[-1][1] == bold:
            segments[-1] = (segments[-1][0] + text, bold)
        else:
            segments.append((text, bold))
    plain = "".join(text for text, _ in segments)
    if blank(plain):
        return ""
    cut = shorten(plain, limit, measure=_md_len)
    if cut == plain:
        keep = len(plain)
        tail = ""
    elif cut.endswith(ELLIPSIS) and plain.startswith(cut[: -len(ELLIPSIS)]):
        keep = len(cut) - len(ELLIPSIS)
        tail = ELLIPSIS
    else:
        return _md(cut)
    out: list[str] = []
    for text, is_bold in segments:
        piece = text[: max(keep, 0)]
        keep -= len(text)
        if not piece:
            break
        escaped = _md(piece, line_start=not out)
        out.append(f"**{escaped}**" if is_bold and piece.strip() else escaped)
    rendered = "".join(out) + tail
    # Each highlight adds four asterisks; a snippet that is mostly highlights falls back to
    # plain text rather than grow past what a list item may take.
    return rendered if utf16_len(rendered) <= 2 * limit else _md(cut)


def _escape_line_start(match: re.Match[str]) -> str:
    indent, sigil, number = match.group(1), match.group(2), match.group(3)
    return f"{indent}\\{sigil}" if sigil else f"{indent}{number}\\."
