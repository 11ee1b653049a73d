"""Checks every hostile test applies to what the bot sends: links are http(s) only, no mention
is live, Telegram HTML parses, nothing leaks internals, and no invisible control survives."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from fakes.discord_api import message_problems
from fakes.telegram_api import parse_html

# Keys whose values are links in Telegram and Discord payloads.
LINK_KEYS = frozenset({"url", "href", "photo", "thumbnail_url", "icon_url", "proxy_url"})
# Discord mention syntax that would ping (allowed_mentions aside) or link a channel.
LIVE_MENTION = re.compile(r"@everyone|@here|<@[!&]?\d+>|<#\d+>", re.IGNORECASE)
# A Markdown masked link to a script (Discord renders masked links; Telegram's HTML links are
# checked on the parsed entities instead, where escaped markup is only text).
SCRIPT_LINK = re.compile(r"(?<!\\)\]\(\s*<?\s*(?:javascript|vbscript|data):", re.IGNORECASE)
# Text that only a traceback or a leaked exception would put in a chat.
INTERNALS = re.compile(
    r"Traceback|File \"|\.py\b|\b[A-Z]\w+(?:Error|Exception)\b|kcrush_bot\.|aiosqlite|sqlite3"
)
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def walk(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, str(k))
    elif isinstance(value, list | tuple):
        for v in value:
            yield from walk(v, key)
    else:
        yield key, value


def assert_safe_links(payload: Any) -> None:
    for key, value in walk(payload):
        if not isinstance(value, str):
            continue
        if key in LINK_KEYS:
            scheme = urlsplit(value.strip()).scheme.lower()
            assert scheme in ("http", "https", "attachment"), f"{key}={value!r}"
    assert "javascript:" not in json.dumps([v for k, v in walk(payload) if k in LINK_KEYS]).lower()


def assert_telegram_call(method: str, params: dict[str, Any]) -> None:
    """A Bot API call as Telegram would judge it: HTML parses, limits hold, links are http(s)."""
    assert_safe_links(params)
    for field, limit in (("text", 4096), ("caption", 1024)):
        if field in params:
            raw = str(params[field])
            if params.get("parse_mode") == "HTML":
                visible, entities = parse_html(raw)  # raises as Telegram would
                for entity in entities:
                    if "url" in entity:
                        assert urlsplit(entity["url"]).scheme in ("http", "https"), entity
            else:
                visible = raw
            assert len(visible.encode("utf-16-le")) // 2 <= limit, (method, len(visible))
            assert not CONTROLS.search(visible), (method, visible[:80])
            assert not BIDI_CONTROLS.search(visible), (method, visible[:80])


def assert_discord_message(body: dict[str, Any]) -> None:
    """A Discord message body: no problems with limits, nobody pinged, links http(s)."""
    assert body.get("allowed_mentions") == {"parse": []}, body.get("allowed_mentions")
    assert not message_problems(body), message_problems(body)
    assert_safe_links(body)
    for key, value in walk(body):
        if isinstance(value, str) and key in ("content", "title", "description", "text", "value"):
            assert not LIVE_MENTION.search(value), f"{key}: {value[:200]!r}"
            if key in ("content", "description", "value"):  # where Discord renders Markdown
                assert not SCRIPT_LINK.search(value), f"{key}: {value[:200]!r}"
            assert not CONTROLS.search(value.replace("\n", "")), f"{key}: {value[:80]!r}"
            assert not BIDI_CONTROLS.search(value), f"{key}: {value[:80]!r}"


def assert_console_text(text: str) -> None:
    assert not CONTROLS.search(text.replace("\n", "")), repr(text[:200])
    assert "\x1b" not in text
    assert not BIDI_CONTROLS.search(text), repr(text[:200])


def assert_no_internals(text: str) -> None:
    assert not INTERNALS.search(text), text[:300]
