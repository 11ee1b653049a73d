"""Telegram rendering: valid HTML with only Telegram's tags, within limits, nothing lost."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit

from hypothesis import given
from hypothesis import strategies as st

from core.strategies import cards, fuzz, replies, texts, utf16_units
from kcrush_bot.core.models import HIGHLIGHT_END, HIGHLIGHT_START
from kcrush_bot.core.render.telegram import (
    TelegramCall,
    render_card,
    render_reply,
    visible_text,
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

ALLOWED_TAGS = {"b", "i", "u", "s", "a", "code", "pre", "blockquote", "tg-spoiler"}

# --- what Telegram accepts -------------------------------------------------------------------


class TagChecker(HTMLParser):
    """Collects tags the way Telegram's parser sees them and fails on anything it would reject."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ALLOWED_TAGS, tag
        if tag == "a":
            assert len(attrs) == 1 and attrs[0][0] == "href", attrs
            self.hrefs.append(attrs[0][1] or "")
        else:
            assert not attrs, attrs
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise AssertionError(f"self-closing <{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"


_OUR_TAG = re.compile(r'</?(?:b|i|u|s|code|pre|blockquote|tg-spoiler)>|<a href="[^"<>]*">|</a>')
_ENTITY = re.compile(r"&(?:amp|lt|gt|quot|#x27|#\d+);")


def check_html(markup: str) -> str:
    """Assert ``markup`` is HTML Telegram accepts; return its visible text."""
    # Every < > & outside our own tags must be escaped, or Telegram rejects the message.
    rest = _ENTITY.sub("", _OUR_TAG.sub("", markup))
    assert not {"<", ">", "&"} & set(rest), markup
    checker = TagChecker()
    checker.feed(markup)
    checker.close()
    assert not checker.stack, f"unclosed {checker.stack}"
    for href in checker.hrefs:
        assert urlsplit(href).scheme in ("http", "https"), href
    text = visible_text(markup)
    assert text.strip(), "Telegram rejects empty messages"
    text.encode("utf-8")  # no lone surrogates: the request could not even be encoded
    return text


def check_call(call: TelegramCall) -> str:
    params = call.params
    assert "chat_id" not in params
    assert params["parse_mode"] == "HTML"
    if call.method == "sendPhoto":
        assert urlsplit(params["photo"]).scheme in ("http", "https")
        text = check_html(params["caption"])
        assert utf16_units(text) <= 1024
    else:
        assert call.method == "sendMessage"
        text = check_html(params["text"])
        assert utf16_units(text) <= 4096
        preview = params["link_preview_options"]
        assert preview == {"is_disabled": True} or urlsplit(preview["url"]).scheme in (
            "http",
            "https",
        )
    for row in params.get("reply_markup", {}).get("inline_keyboard", []):
        for button in row:
            assert button["text"].strip()
            assert 0 < len(button["callback_data"].encode("utf-8")) <= 64
    return text


# --- properties ------------------------------------------------------------------------------


@fuzz
@given(cards)
def test_any_card_renders_to_valid_html_within_limits(card: TeaserCard) -> None:
    check_call(render_card(card))


@fuzz
@given(replies)
def test_any_reply_renders_to_valid_messages_within_limits(reply: Reply) -> None:
    calls = render_reply(reply)
    assert calls
    for call in calls:
        check_call(call)
    keyboards = [i for i, c in enumerate(calls) if "reply_markup" in c.params]
    assert len(keyboards) <= 1


@fuzz
@given(st.lists(texts, min_size=1, max_size=40))
def test_long_list_is_split_and_keeps_every_item(titles: list[str]) -> None:
    page = ListPage(
        "Search",
        tuple(
            ListItem(f"item-{i:03d} {t}", "https://kcrush.com/", t) for i, t in enumerate(titles)
        ),
        page=1,
        pages=3,
        buttons=(Button("Next ▶", "next"),),
    )
    calls = render_reply(page)
    shown = "\n".join(check_call(call) for call in calls)
    for i in range(len(titles)):
        assert shown.count(f"item-{i:03d}") >= 1
    assert "reply_markup" in calls[-1].params


# --- examples --------------------------------------------------------------------------------

CARD = TeaserCard(
    title="Stray Kids talk <MAXIDENT> & world tours",
    teaser="We sat down with the eight members before their show in Newark.",
    url="https://kcrush.com/2021/03/16/stray-kids-interview/",
    categories=("Interviews",),
    published_at=datetime(2021, 3, 16, 14, 0, tzinfo=UTC),
)


def test_card_shows_linked_title_teaser_and_meta() -> None:
    call = render_card(CARD)
    assert call.method == "sendMessage"
    assert call.params["text"] == (
        '<a href="https://kcrush.com/2021/03/16/stray-kids-interview/">'
        "<b>Stray Kids talk &lt;MAXIDENT&gt; &amp; world tours</b></a>\n\n"
        "We sat down with the eight members before their show in Newark.\n\n"
        "<i>Interviews · 16 Mar 2021</i>"
    )
    assert call.params["link_preview_options"] == {
        "url": "https://kcrush.com/2021/03/16/stray-kids-interview/",
        "prefer_large_media": True,
    }


def test_card_with_image_is_a_photo_with_a_short_caption() -> None:
    card = TeaserCard(
        title=CARD.title,
        teaser="word " * 2000,
        url=CARD.url,
        image_url="https://kcrush.com/wp-content/uploads/skz.jpg",
    )
    call = render_card(card)
    assert call.method == "sendPhoto"
    assert call.params["photo"] == "https://kcrush.com/wp-content/uploads/skz.jpg"
    caption = check_call(call)
    assert caption.endswith("…")
    assert "word wo…" not in caption  # cut between words


def test_cut_never_lands_inside_an_entity() -> None:
    card = TeaserCard(title="&" * 300, teaser="&amp;<b> " * 1000, url=CARD.url)
    text = check_call(render_card(card))
    assert utf16_units(text) <= 4096


def test_emoji_count_as_two_units_and_are_never_split() -> None:
    card = TeaserCard(title="😀" * 3000, teaser="", url=CARD.url)
    text = check_call(render_card(card))
    assert utf16_units(text) <= 4096
    assert "\ud83d" not in text


def test_unsafe_urls_are_not_links() -> None:
    for url in ("javascript:alert(1)", "data:text/html,x", "https://kcrush.com@evil.example/"):
        call = render_card(TeaserCard(title="T", teaser="", url=url, image_url=url))
        assert call.method == "sendMessage"
        assert "<a " not in call.params["text"]
        assert call.params["link_preview_options"] == {"is_disabled": True}


def test_quotes_in_a_url_cannot_leave_the_href() -> None:
    call = render_card(TeaserCard(title="T", teaser="", url='https://kcrush.com/?q="><b>x'))
    assert 'href="https://kcrush.com/?q=&quot;&gt;&lt;b&gt;x"' in call.params["text"]
    check_call(call)


def test_blank_title_and_text_still_show_something() -> None:
    assert check_call(render_card(TeaserCard(title="\u200b \x00", teaser="", url=""))) == (
        "Untitled post"
    )
    (call,) = render_reply(Text(text="  \n "))
    assert check_call(call)


def test_long_text_is_split_with_buttons_on_the_last_message() -> None:
    words = [f"w{i}" for i in range(3000)]
    calls = render_reply(
        Text(text=" ".join(words), title="Help", buttons=(Button("More", "help:2"),))
    )
    assert len(calls) > 1
    shown = " ".join(check_call(c) for c in calls).split()
    assert shown[0] == "Help"
    assert shown[1:] == words
    assert [("reply_markup" in c.params) for c in calls] == [False] * (len(calls) - 1) + [True]


def test_list_page_has_numbers_links_highlights_page_and_buttons() -> None:
    page = ListPage(
        "Search: bts",
        (
            ListItem(
                "BTS at the Rose Bowl",
                "https://kcrush.com/bts",
                f"{HIGHLIGHT_START}BTS{HIGHLIGHT_END} & army",
            ),
            ListItem("No link", "javascript:x", None),
        ),
        page=2,
        pages=5,
        total=12,
        buttons=(Button("◀ Previous", "search:bts:1"), Button("Next ▶", "search:bts:3")),
    )
    (call,) = render_reply(page)
    text = call.params["text"]
    assert text.startswith("<b>Search: bts (12)</b>")
    assert (
        '1. <a href="https://kcrush.com/bts">BTS at the Rose Bowl</a>\n<b>BTS</b> &amp; army'
        in text
    )
    assert "2. No link" in text
    assert text.endswith("Page 2/5")
    assert call.params["reply_markup"] == {
        "inline_keyboard": [
            [
                {"text": "◀ Previous", "callback_data": "search:bts:1"},
                {"text": "Next ▶", "callback_data": "search:bts:3"},
            ]
        ]
    }


def test_two_hundred_long_results_arrive_whole_in_several_messages() -> None:
    items = tuple(
        ListItem(f"Result {i} " + "long title " * 40, f"https://kcrush.com/p/{i}", "snippet " * 100)
        for i in range(1, 201)
    )
    calls = render_reply(ListPage("Search", items, buttons=(Button("Next", "next"),)))
    assert len(calls) > 1
    shown = "\n".join(check_call(c) for c in calls)
    numbers = re.findall(r"^(\d+)\. Result (\d+) ", shown, re.MULTILINE)
    assert [(int(n), int(r)) for n, r in numbers] == [(i, i) for i in range(1, 201)]
    assert "reply_markup" in calls[-1].params


def test_button_whose_action_cannot_round_trip_is_left_out() -> None:
    (call,) = render_reply(Text("x", buttons=(Button("ok", "a"), Button("bad", "x" * 65))))
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "ok", "callback_data": "a"}]]
    }


def test_confirm_shows_preview_then_asks() -> None:
    calls = render_reply(
        Confirm(
            "Send this to 12 chats?",
            Text("New interview <today>!", title="Announcement"),
            Button("Send", "announce:7:yes"),
            Button("Cancel", "announce:7:no"),
        )
    )
    assert [check_call(c) for c in calls] == [
        "Announcement\nNew interview <today>!",
        "Send this to 12 chats?",
    ]
    assert calls[1].params["reply_markup"]["inline_keyboard"] == [
        [
            {"text": "Send", "callback_data": "announce:7:yes"},
            {"text": "Cancel", "callback_data": "announce:7:no"},
        ]
    ]


def test_error_lists_suggestions() -> None:
    (call,) = render_reply(ErrorReply("No category <kpop>.", ("category interviews", "latest 5")))
    assert check_call(call) == ("⚠️ No category <kpop>.\n\nTry:\n• category interviews\n• latest 5")


def test_cards_reply_sends_intro_then_each_card() -> None:
    calls = render_reply(Cards((CARD, CARD), intro="Latest interviews"))
    assert [c.method for c in calls] == ["sendMessage"] * 3
    assert calls[0].params["text"] == "Latest interviews"
