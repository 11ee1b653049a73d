"""Discord rendering: payloads within every limit, nobody pinged, Markdown shown as written."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from hypothesis import given
from hypothesis import strategies as st

from core.strategies import cards, fuzz, replies, texts, utf16_units
from kcrush_bot.core.models import HIGHLIGHT_END, HIGHLIGHT_START
from kcrush_bot.core.render.discord import (
    defuse_mentions,
    escape_markdown,
    render_card_embed,
    render_reply,
)
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

# --- what Discord accepts --------------------------------------------------------------------

_LIVE_MENTION = re.compile("@(?:everyone|here)|<[@#](?!\u200b)", re.IGNORECASE)


def check_text(text: str, limit: int) -> None:
    assert text.strip(), "Discord rejects blank text"
    assert utf16_units(text) <= limit
    assert not _LIVE_MENTION.search(text), text
    text.encode("utf-8")


def check_embed(embed: dict[str, Any]) -> int:
    """Assert one embed is within its limits; return the text it counts towards 6000."""
    size = 0
    for key, limit in (("title", 256), ("description", 4096)):
        if key in embed:
            check_text(embed[key], limit)
            size += utf16_units(embed[key])
    for key, sub, limit in (("footer", "text", 2048), ("author", "name", 256)):
        if key in embed:
            check_text(embed[key][sub], limit)
            size += utf16_units(embed[key][sub])
    assert len(embed.get("fields", ())) <= 25
    for field in embed.get("fields", ()):
        check_text(field["name"], 256)
        check_text(field["value"], 1024)
        size += utf16_units(field["name"]) + utf16_units(field["value"])
    for key in ("url",):
        if key in embed:
            assert urlsplit(embed[key]).scheme in ("http", "https")
    if "image" in embed:
        assert urlsplit(embed["image"]["url"]).scheme in ("http", "https")
    if "timestamp" in embed:
        assert datetime.fromisoformat(embed["timestamp"]).tzinfo is not None
    assert size > 0, "Discord rejects an empty embed"
    return size


def check_payload(payload: dict[str, Any]) -> None:
    assert payload["allowed_mentions"] == {"parse": []}
    assert payload.get("content") or payload.get("embeds"), "Discord rejects an empty message"
    if "content" in payload:
        check_text(payload["content"], 2000)
    embeds = payload.get("embeds", [])
    assert len(embeds) <= 10
    assert sum(check_embed(e) for e in embeds) <= 6000
    rows = payload.get("components", [])
    assert len(rows) <= 5
    custom_ids = []
    for row in rows:
        assert row["type"] == 1 and 1 <= len(row["components"]) <= 5
        for button in row["components"]:
            assert button["type"] == 2 and button["style"] in (1, 2, 3, 4)
            assert button["label"].strip() and utf16_units(button["label"]) <= 80
            assert 1 <= len(button["custom_id"]) <= 100
            custom_ids.append(button["custom_id"])
    assert len(custom_ids) == len(set(custom_ids)), "custom_id must be unique in a message"
    assert payload.get("flags", 64) == 64


def embed_texts(payloads: list[dict[str, Any]]) -> str:
    parts = []
    for payload in payloads:
        parts.append(payload.get("content", ""))
        for embed in payload.get("embeds", []):
            parts += [embed.get("title", ""), embed.get("description", "")]
    return "\n".join(parts)


# --- properties ------------------------------------------------------------------------------


@fuzz
@given(cards)
def test_any_card_embed_is_within_limits(card: TeaserCard) -> None:
    embed = render_card_embed(card)
    assert embed["color"] == 0xE4007F
    assert check_embed(embed) <= 6000


@fuzz
@given(replies)
def test_any_reply_is_within_every_limit_and_pings_nobody(reply: Reply) -> None:
    payloads = render_reply(reply)
    assert payloads
    for payload in payloads:
        check_payload(payload)
    assert sum("components" in p for p in payloads) <= 1
    if isinstance(reply, ErrorReply | Confirm) or (isinstance(reply, Text) and reply.ephemeral):
        assert all(p.get("flags") == 64 for p in payloads)


@fuzz
@given(st.lists(texts, min_size=1, max_size=40))
def test_long_list_is_split_and_keeps_every_item(details: list[str]) -> None:
    page = ListPage(
        "Search",
        tuple(
            ListItem(f"item{i:03d} {d}", "https://kcrush.com/", d) for i, d in enumerate(details)
        ),
        buttons=(Button("Next ▶", "next"),),
    )
    payloads = render_reply(page)
    for payload in payloads:
        check_payload(payload)
    shown = embed_texts(payloads)
    for i in range(len(details)):
        assert f"item{i:03d}" in shown
    assert "components" in payloads[-1]


@fuzz
@given(texts)
def test_escaped_markdown_reads_as_the_original(text: str) -> None:
    escaped = escape_markdown(text)
    assert re.sub(r"\\(.)", r"\1", escaped, flags=re.DOTALL) == text


@fuzz
@given(texts)
def test_defusing_is_idempotent_and_leaves_no_live_mention(text: str) -> None:
    once = defuse_mentions(text)
    assert defuse_mentions(once) == once
    assert not _LIVE_MENTION.search(once)
    assert once.replace("\u200b", "") == text.replace("\u200b", "")


# --- examples --------------------------------------------------------------------------------

CARD = TeaserCard(
    title="Stray Kids talk MAXIDENT & world tours",
    teaser="We sat down with the eight members before their show in Newark.",
    url="https://kcrush.com/2021/03/16/stray-kids-interview/",
    categories=("Interviews", "K-Pop"),
    published_at=datetime(2021, 3, 16, 14, 0, tzinfo=UTC),
    image_url="https://kcrush.com/wp-content/uploads/skz.jpg",
)


def test_card_embed_has_title_link_teaser_footer_date_and_image() -> None:
    assert render_card_embed(CARD) == {
        "title": "Stray Kids talk MAXIDENT & world tours",
        "url": "https://kcrush.com/2021/03/16/stray-kids-interview/",
        "description": "We sat down with the eight members before their show in Newark.",
        "footer": {"text": "Interviews · K-Pop"},
        "timestamp": "2021-03-16T14:00:00+00:00",
        "image": {"url": "https://kcrush.com/wp-content/uploads/skz.jpg"},
        "color": 0xE4007F,
    }


def test_naive_date_is_taken_as_utc() -> None:
    card = TeaserCard("T", "", CARD.url, published_at=datetime(2021, 3, 16, 14, 0))
    assert render_card_embed(card)["timestamp"] == "2021-03-16T14:00:00+00:00"


def test_a_post_titled_everyone_pings_nobody() -> None:
    card = TeaserCard(title="@everyone @here <@&123> <@!1>", teaser="@everyone", url=CARD.url)
    (payload,) = render_reply(Cards((card,), intro="@here new post"))
    assert payload["allowed_mentions"] == {"parse": []}
    assert payload["content"] == "@\u200bhere new post"
    assert payload["embeds"][0]["title"] == "@\u200beveryone @\u200bhere <@\u200b&123> <@\u200b!1>"
    assert payload["embeds"][0]["description"] == "@\u200beveryone"


def test_markdown_in_a_title_is_shown_not_applied() -> None:
    embed = render_card_embed(TeaserCard("**BTS** _x_ [a](b) # 1", "> quoted", CARD.url))
    assert embed["title"] == r"\*\*BTS\*\* \_x\_ \[a\](b) # 1"
    assert embed["description"] == r"\> quoted"


def test_unsafe_urls_are_left_out() -> None:
    embed = render_card_embed(TeaserCard("T", "", "javascript:alert(1)", image_url="data:x"))
    assert "url" not in embed and "image" not in embed


def test_cards_are_grouped_ten_to_a_message() -> None:
    payloads = render_reply(Cards((CARD,) * 23, intro="Latest"))
    assert [len(p["embeds"]) for p in payloads] == [10, 10, 3]
    assert payloads[0]["content"] == "Latest"
    assert "content" not in payloads[1]


def test_big_cards_are_grouped_within_6000() -> None:
    big = TeaserCard("t " * 200, "word " * 1000, CARD.url)
    payloads = render_reply(Cards((big,) * 4))
    assert len(payloads) == 4
    for payload in payloads:
        check_payload(payload)


def test_list_page_is_an_embed_with_links_highlights_page_and_buttons() -> None:
    page = ListPage(
        "Search: bts",
        (
            ListItem(
                "BTS (live)",
                "https://kcrush.com/bts_(2019)",
                f"{HIGHLIGHT_START}BTS{HIGHLIGHT_END} & army",
            ),
            ListItem("No link", "javascript:x"),
        ),
        page=2,
        pages=5,
        total=12,
        buttons=(Button("◀ Previous", "search:bts:1"), Button("Next ▶", "search:bts:3")),
    )
    (payload,) = render_reply(page)
    (embed,) = payload["embeds"]
    assert embed["title"] == "Search: bts (12)"
    assert embed["description"] == (
        "1. [BTS (live)](https://kcrush.com/bts_%282019%29)\n**BTS** & army\n\n2. **No link**"
    )
    assert embed["footer"] == {"text": "Page 2/5"}
    assert payload["components"] == [
        {
            "type": 1,
            "components": [
                {"type": 2, "style": 2, "label": "◀ Previous", "custom_id": "search:bts:1"},
                {"type": 2, "style": 2, "label": "Next ▶", "custom_id": "search:bts:3"},
            ],
        }
    ]
    assert "flags" not in payload


def test_two_hundred_long_results_arrive_whole_in_several_messages() -> None:
    items = tuple(
        ListItem(f"Result {i} " + "long title " * 40, f"https://kcrush.com/p/{i}", "snippet " * 100)
        for i in range(1, 201)
    )
    payloads = render_reply(ListPage("Search", items, buttons=(Button("Next", "next"),)))
    assert len(payloads) > 1
    for payload in payloads:
        check_payload(payload)
    numbers = re.findall(r"^(\d+)\. \[Result (\d+) ", embed_texts(payloads), re.MULTILINE)
    assert [(int(n), int(r)) for n, r in numbers] == [(i, i) for i in range(1, 201)]
    assert [("components" in p) for p in payloads] == [False] * (len(payloads) - 1) + [True]


def test_long_text_is_split_into_messages() -> None:
    words = [f"w{i}" for i in range(1500)]
    payloads = render_reply(Text(" ".join(words), title="Help", ephemeral=True))
    assert len(payloads) > 1
    for payload in payloads:
        check_payload(payload)
        assert payload["flags"] == 64
    shown = " ".join(p["content"] for p in payloads).split()
    assert shown == ["**Help**", *words]


def test_confirm_is_ephemeral_with_primary_and_danger_buttons() -> None:
    payloads = render_reply(
        Confirm(
            "Send to 12 chats?", Text("Hi *all*"), Button("Send", "a:1"), Button("Cancel", "a:0")
        )
    )
    assert [p["content"] for p in payloads] == [r"Hi \*all\*", "Send to 12 chats?"]
    assert all(p["flags"] == 64 for p in payloads)
    styles = [b["style"] for b in payloads[1]["components"][0]["components"]]
    assert styles == [1, 4]


def test_error_is_ephemeral_and_lists_suggestions() -> None:
    (payload,) = render_reply(ErrorReply("No category kpop.", ("category interviews",)))
    assert payload["content"] == "⚠️ No category kpop.\n\nTry:\n• category interviews"
    assert payload["flags"] == 64
    assert payload["allowed_mentions"] == {"parse": []}


def test_duplicate_or_oversized_button_actions_are_left_out() -> None:
    (payload,) = render_reply(
        Text("x", buttons=(Button("a", "go"), Button("b", "go"), Button("c", "x" * 101)))
    )
    assert payload["components"] == [
        {"type": 1, "components": [{"type": 2, "style": 2, "label": "a", "custom_id": "go"}]}
    ]
