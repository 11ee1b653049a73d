"""Console rendering: readable plain text that hostile input cannot use to drive the terminal."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from core.strategies import fuzz, replies
from kcrush_bot.core.models import HIGHLIGHT_END, HIGHLIGHT_START
from kcrush_bot.core.render.console import render_reply
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


def cells(line: str) -> int:
    """Terminal columns: wide (Hangul, most emoji) take two, combining and format marks none."""
    return sum(
        0
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf")
        else 2
        if unicodedata.east_asian_width(ch) in ("W", "F")
        else 1
        for ch in line
    )


@fuzz
@given(replies, st.sampled_from([20, 40, 80, 120]))
def test_any_reply_is_printable_clean_text_within_the_width(reply: Reply, width: int) -> None:
    out = render_reply(reply, width)
    assert out.strip()
    assert not any(unicodedata.category(ch) in ("Cc", "Cs") and ch != "\n" for ch in out)
    out.encode("utf-8")
    for line in out.split("\n"):
        # A link wider than the terminal stays whole on a line of its own, so it still opens.
        assert cells(line) <= width or re.fullmatch(r" *https?://\S+", line), line


def test_card_reads_as_title_teaser_link_and_meta() -> None:
    card = TeaserCard(
        title="Stray Kids talk MAXIDENT",
        teaser="We sat down with the eight members before their show.",
        url="https://kcrush.com/2021/03/16/stray-kids-interview/",
        categories=("Interviews",),
        published_at=datetime(2021, 3, 16, tzinfo=UTC),
    )
    assert render_reply(Cards((card,), intro="Latest")) == (
        "Latest\n"
        "\n"
        "Stray Kids talk MAXIDENT\n"
        "  We sat down with the eight members before their show.\n"
        "  https://kcrush.com/2021/03/16/stray-kids-interview/\n"
        "  Interviews · 16 Mar 2021"
    )


def test_list_is_numbered_with_highlights_page_and_buttons() -> None:
    page = ListPage(
        "Search: bts",
        (
            ListItem(
                "BTS at the Rose Bowl",
                "https://kcrush.com/bts",
                f"{HIGHLIGHT_START}BTS{HIGHLIGHT_END} live",
            ),
        ),
        page=2,
        pages=5,
        total=12,
        buttons=(Button("◀ Previous", "search:bts:1"), Button("Next ▶", "search:bts:3")),
        first=6,
    )
    assert render_reply(page) == (
        "Search: bts (12)\n"
        "6. BTS at the Rose Bowl\n"
        "   https://kcrush.com/bts\n"
        "   BTS live\n"
        "Page 2/5\n"
        "Choose: [1] ◀ Previous [2] Next ▶"
    )


def test_escape_sequences_cannot_reach_the_terminal() -> None:
    out = render_reply(Text("\x1b]0;pwned\x07hi\x1b[2J\r\x9b", title="\x1b[31mred"))
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out and "\x9b" not in out


def test_hangul_wraps_by_terminal_cells() -> None:
    out = render_reply(Text("방탄소년단 " * 30), width=40)
    assert all(cells(line) <= 40 for line in out.split("\n"))
    assert len(out.split("\n")) > 1


def test_confirm_and_error() -> None:
    confirm = Confirm("Send?", Text("Hello"), Button("Send", "a:1"), Button("Cancel", "a:0"))
    assert render_reply(confirm) == "Hello\n\nSend?\nChoose: [1] Send [2] Cancel"
    error = ErrorReply("No category kpop.", ("category interviews",))
    assert render_reply(error) == "Error: No category kpop.\nTry:\n  • category interviews"


def test_many_items_are_all_shown() -> None:
    items = tuple(ListItem(f"Result {i}", None, "snippet " * 30) for i in range(1, 201))
    out = render_reply(ListPage("Search", items))
    numbers = [int(n) for n in re.findall(r"^ *(\d+)\. Result", out, re.MULTILINE)]
    assert numbers == list(range(1, 201))


def test_a_link_is_never_cut_across_lines() -> None:
    url = "https://www.kcrush.com/2024/05/01/" + "a-very-long-interview-slug-" * 4 + "/"
    card = TeaserCard(title="Interview", teaser="words " * 20, url=url, categories=())
    out = render_reply(Cards((card,)), width=40)
    assert f"  {url}" in out.split("\n")


def test_buttons_are_numbered_choices_without_internal_data() -> None:
    page = ListPage(
        "Search: bts",
        (ListItem("One", None),),
        buttons=(Button("◀ Previous", "search:DQmQ3DpF:1"), Button("Next ▶", "search:DQmQ3DpF:3")),
    )
    out = render_reply(page)
    assert "Choose: [1] ◀ Previous [2] Next ▶" in out
    assert "search:" not in out


def test_later_pages_continue_the_numbering() -> None:
    page = ListPage("Search", tuple(ListItem(f"Result {i}", None) for i in (6, 7)), first=6)
    assert re.findall(r"^ *(\d+)\. Result (\d+)", render_reply(page), re.MULTILINE) == [
        ("6", "6"),
        ("7", "7"),
    ]


def test_highlights_are_bold_on_a_terminal_and_plain_elsewhere() -> None:
    snippet = f"an {HIGHLIGHT_START}interview{HIGHLIGHT_END} with"
    page = ListPage("Search", (ListItem("One", None, snippet),))
    assert "an \x1b[1minterview\x1b[22m with" in render_reply(page, bold=True)
    plain = render_reply(page)
    assert "an interview with" in plain and "*" not in plain


def test_bold_is_the_only_escape_sequence_ever_written() -> None:
    page = ListPage("Search", (ListItem("\x02x\x03", None, "\x1b[31m\x02y\x03 \x1b]0;t\x07"),))
    out = render_reply(page, bold=True)
    assert "\x1b" not in out.replace("\x1b[1m", "").replace("\x1b[22m", "")
    assert "\x1b[1mx" not in out  # markers in a title are not highlights
