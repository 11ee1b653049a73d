"""Hypothesis strategies for the renderers' properties: hostile text, links, buttons, cards and
every kind of reply built from them.

All three renderers are fuzzed with the same input on purpose: text written to break one
platform (an ESC sequence for the terminal, ``<b>`` for Telegram's HTML, ``@everyone`` for
Discord) must come out harmless on every one of them.
"""

from __future__ import annotations

from datetime import UTC

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

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

# Each sample attacks something: Telegram's HTML, Discord's mentions and Markdown, the
# terminal, or the length and blank-text checks (Hangul, emoji sequences, invisible marks,
# a lone surrogate, the search highlight markers).
HOSTILE_SAMPLES = [
    "<b>", "</a>", "<a href=\"javascript:alert(1)\">", "&amp;", "&", "&lt;", "<", ">", '"', "'",
    "@", "#", "@everyone", "@here", "@EVERYONE", "<@&123>", "<@!1>", "<@42>", "<#5>",
    "**bold**", "**x**", "__u__", "*i*", "~~s~~", "`code`", "```", "||s||",
    "[x](javascript:alert(1))", "[x](https://evil.example)", "\\", "# heading", "> quote",
    ">>> q", "-# small", "- list", "1. item",
    "\x00", "\x08", "\x1b[31m", "\x1b[2J", "\x1b]0;pwned\x07", "\x9b", "\x9b31m", "\r", "\r\n",
    "\t", "\n", "\n\n",
    "방탄소년단", "한국어 인터뷰 ", "👩‍👩‍👧‍👦", "🇰🇷", "😀", "e\u0301", "\u200b", "\u202e", " ", "\ud83d",
    "…", HIGHLIGHT_START, HIGHLIGHT_END,
]  # fmt: skip
URL_SAMPLES = [
    "https://kcrush.com/2021/03/16/bts/",
    "http://kcrush.com/?p=1&x=\"'<>",
    "https://kcrush.com/a_(b)/@everyone/<@1>",
    "https://kcrush.com/a b",
    "https://kcrush.com@evil.example/",
    "javascript:alert(1)",
    "data:text/html,<b>x</b>",
    "data:text/html,x",
    "tg://resolve?domain=x",
    "",
]

fragments = st.one_of(
    st.sampled_from(HOSTILE_SAMPLES),
    st.text(max_size=12),
    st.text(st.characters(min_codepoint=0x1F000, max_codepoint=0x1FAFF), max_size=6),
    # Long Hangul runs make words wider than a terminal line.
    st.text(st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3), max_size=30),
)
hostile = st.lists(fragments, max_size=24).map("".join)
# Repetition makes long text cheaply, so limits and splitting are exercised too.
long_hostile = st.tuples(hostile, st.integers(1, 80)).map(lambda t: t[0] * t[1])
# Long runs of characters outside the BMP: each is one code point but two UTF-16 units, so a
# length counted with len() instead of in UTF-16 units lets these through at twice the limit.
astral_long = st.tuples(
    st.text(st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF), min_size=1, max_size=2),
    st.integers(300, 1200),
).map(lambda t: t[0] * t[1])
texts = st.one_of(hostile, hostile, long_hostile, astral_long)
urls = st.one_of(
    st.sampled_from(URL_SAMPLES),
    st.text(max_size=30),
    hostile,
    hostile.map(lambda s: "https://kcrush.com/" + s),
)

# More buttons than a Telegram keyboard or Discord's five rows of five, and more cards than
# the ten embeds of one Discord message.
buttons = st.lists(
    st.builds(Button, label=texts, action=st.one_of(st.sampled_from(["next", "s:bts:2"]), hostile)),
    max_size=30,
).map(tuple)
cards = st.builds(
    TeaserCard,
    title=texts,
    teaser=texts,
    url=urls,
    categories=st.lists(texts, max_size=4).map(tuple),
    # Stored times are UTC, but a naive one must render too.
    published_at=st.none() | st.datetimes() | st.datetimes(timezones=st.just(UTC)),
    image_url=st.none() | urls,
)
items = st.builds(ListItem, title=texts, url=st.none() | urls, detail=st.none() | texts)
text_replies = st.builds(
    Text, text=texts, title=st.none() | texts, ephemeral=st.booleans(), buttons=buttons
)
card_replies = st.builds(
    Cards, cards=st.lists(cards, max_size=14).map(tuple), intro=st.none() | texts
)
replies: st.SearchStrategy[Reply] = st.one_of(
    text_replies,
    card_replies,
    st.builds(
        ListPage,
        title=texts,
        items=st.lists(items, max_size=25).map(tuple),
        page=st.integers(1, 9),
        pages=st.integers(1, 9),
        total=st.none() | st.integers(0, 999),
        footer=st.none() | texts,
        buttons=buttons,
    ),
    st.builds(
        Confirm,
        prompt=texts,
        preview=text_replies | card_replies,
        confirm=st.builds(Button, label=hostile, action=st.just("confirm:1") | hostile),
        cancel=st.builds(Button, label=hostile, action=st.just("cancel:1") | hostile),
    ),
    st.builds(ErrorReply, message=texts, suggestions=st.lists(hostile, max_size=4).map(tuple)),
)

fuzz = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def utf16_units(text: str) -> int:
    """Length in UTF-16 code units, as Telegram and Discord count it, computed here rather than
    with the product's own helper so that a wrong measure in the product cannot pass itself."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2
