"""The fake Bot API itself: other tests and the benchmarks trust it to behave like Telegram."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from fakes.telegram_api import (
    BLOCKED,
    DEFAULT_TOKEN,
    FakeTelegram,
    Limits,
    parse_html,
    start_fake_telegram,
)

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    fake = await start_fake_telegram(limits=Limits.off())
    yield fake
    await fake.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def api(http, fake, method, *, form=None, body=None, data=None, token=DEFAULT_TOKEN):
    url = f"{fake.base_url[: -len('/bot')]}/bot{token}/{method}"
    async with http.post(url, data=data or form, json=body) as response:
        return response.status, await response.json()


async def test_form_fields_hold_json_values_except_plain_strings(fake, http):
    form = {
        "chat_id": "42",
        "text": "123",
        "reply_markup": json.dumps({"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]}),
    }
    status, answer = await api(http, fake, "sendMessage", form=form)
    assert status == 200 and answer["ok"]
    (call,) = fake.calls("sendMessage")
    assert call.params["chat_id"] == 42 and call.params["text"] == "123"
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "b"
    assert answer["result"]["chat"]["id"] == 42 and answer["result"]["message_id"] == 1


async def test_json_and_multipart_bodies_are_understood(fake, http):
    await api(http, fake, "sendMessage", body={"chat_id": 7, "text": "json"})
    data = aiohttp.FormData()
    data.add_field("chat_id", "7")
    data.add_field("photo", b"\x89PNG...", filename="a.png", content_type="image/png")
    status, _ = await api(http, fake, "sendPhoto", data=data)
    assert status == 200
    photo = fake.calls("sendPhoto")[0]
    assert photo.files["photo"] == b"\x89PNG..."
    assert fake.texts(7) == ["json", ""]


async def test_a_wrong_token_is_unauthorized_and_an_unknown_method_not_found(fake, http):
    status, answer = await api(http, fake, "getMe", token="1:nope")
    assert (status, answer["description"]) == (401, "Unauthorized")
    status, _ = await api(http, fake, "noSuchMethod")
    assert status == 404


async def test_get_updates_keeps_updates_until_a_later_offset_confirms_them(fake, http):
    first = fake.message_update(42, "/start")
    second = fake.message_update(42, "/help")
    _, answer = await api(http, fake, "getUpdates", form={"timeout": "0"})
    assert [u["update_id"] for u in answer["result"]] == [first["update_id"], second["update_id"]]
    _, again = await api(http, fake, "getUpdates", form={"timeout": "0"})
    assert len(again["result"]) == 2  # nothing confirmed yet
    offset = str(second["update_id"] + 1)
    _, confirmed = await api(http, fake, "getUpdates", form={"offset": offset, "timeout": "0"})
    assert confirmed["result"] == []


async def test_a_long_poll_returns_as_soon_as_an_update_arrives(fake, http):
    poll = asyncio.create_task(api(http, fake, "getUpdates", form={"timeout": "10"}))
    await asyncio.sleep(0.1)
    assert not poll.done()
    fake.message_update(42, "/latest")
    _, answer = await asyncio.wait_for(poll, 2)
    assert answer["result"][0]["message"]["entities"][0]["type"] == "bot_command"


async def test_allowed_updates_filter_what_is_delivered(fake, http):
    fake.inline_query_update("knk")
    message = fake.message_update(42, "/latest")
    form = {"timeout": "0", "allowed_updates": json.dumps(["message"])}
    _, answer = await api(http, fake, "getUpdates", form=form)
    assert [u["update_id"] for u in answer["result"]] == [message["update_id"]]


@pytest.mark.parametrize(
    ("text", "caption", "description"),
    [
        ("x" * 4097, False, "Bad Request: message is too long"),
        ("x" * 1025, True, "Bad Request: message caption is too long"),
        ("<b>unclosed", False, "Can't find end tag"),
        ("<script>x</script>", False, "Unsupported start tag"),
        ("1 < 2", False, "can't parse entities"),
        ("&nbsp;", False, "Unsupported HTML entity"),
        ("   ", False, "Bad Request: message text is empty"),
    ],
)
async def test_telegrams_text_rules_are_enforced(fake, http, text, caption, description):
    method, field = ("sendPhoto", "caption") if caption else ("sendMessage", "text")
    form = {"chat_id": "42", field: text, "parse_mode": "HTML", "photo": "https://x.example/a.jpg"}
    status, answer = await api(http, fake, method, form=form)
    assert status == 400 and description in answer["description"]
    assert fake.sent(42) == []


async def test_limits_count_visible_text_after_entity_parsing(fake, http):
    text = "<b>x</b>" * 4096  # 32 768 characters of markup, 4096 visible
    status, _ = await api(
        http, fake, "sendMessage", form={"chat_id": "1", "text": text, "parse_mode": "HTML"}
    )
    assert status == 200
    emoji = "😀" * 2049  # 4098 UTF-16 code units: Telegram counts those
    status, _ = await api(http, fake, "sendMessage", form={"chat_id": "1", "text": emoji})
    assert status == 400


def test_html_parsing_reports_visible_text_and_links():
    visible, entities = parse_html('<a href="https://k.example/?a=1&amp;b=2"><b>Hi &lt;3</b></a>')
    assert visible == "Hi <3"
    assert {
        "type": "text_link",
        "offset": 0,
        "length": 5,
        "url": "https://k.example/?a=1&b=2",
    } in entities


async def test_button_data_over_64_bytes_is_rejected(fake, http):
    markup = {"inline_keyboard": [[{"text": "a", "callback_data": "x" * 65}]]}
    form = {"chat_id": "1", "text": "hi", "reply_markup": json.dumps(markup)}
    status, answer = await api(http, fake, "sendMessage", form=form)
    assert (status, answer["description"]) == (400, "Bad Request: BUTTON_DATA_INVALID")


async def test_a_callback_query_can_be_answered_once(fake, http):
    update = fake.callback_update({"message_id": 1, "chat": {"id": 1, "type": "private"}}, "x")
    form = {"callback_query_id": update["callback_query"]["id"]}
    assert (await api(http, fake, "answerCallbackQuery", form=form))[0] == 200
    assert (await api(http, fake, "answerCallbackQuery", form=form))[0] == 400


async def test_editing_to_the_same_content_is_not_modified(fake, http):
    await api(http, fake, "sendMessage", form={"chat_id": "1", "text": "hi"})
    form = {"chat_id": "1", "message_id": "1", "text": "hi"}
    status, answer = await api(http, fake, "editMessageText", form=form)
    assert status == 400 and "message is not modified" in answer["description"]
    form["message_id"] = "99"
    status, answer = await api(http, fake, "editMessageText", form=form)
    assert answer["description"] == "Bad Request: message to edit not found"


async def test_scripted_failures_are_used_up(fake, http):
    fake.script("sendMessage", chat_id=5, error=BLOCKED, times=2)
    statuses = [
        (await api(http, fake, "sendMessage", form={"chat_id": "5", "text": "hi"}))[0]
        for _ in range(3)
    ]
    assert statuses == [403, 403, 200]
