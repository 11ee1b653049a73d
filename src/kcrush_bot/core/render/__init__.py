"""Renderers: neutral replies (``core.replies``) to each platform's payloads, as pure functions.

* ``telegram``: Bot API calls in HTML parse mode (``TelegramCall``); the adapter adds the chat.
* ``discord``: message JSON (content, embeds, buttons) with mentions switched off.
* ``console``: plain text for a terminal.
* ``common``: the text rules all three share (cleaning, blank text, safe links, cutting).

Each keeps its platform's limits and never drops list items: what does not fit in one message
is split across several.
"""

from __future__ import annotations

from kcrush_bot.core.render import console, discord, telegram
from kcrush_bot.core.render.console import render_reply as render_console
from kcrush_bot.core.render.discord import render_card_embed as render_discord_embed
from kcrush_bot.core.render.discord import render_reply as render_discord
from kcrush_bot.core.render.telegram import TelegramCall, visible_text
from kcrush_bot.core.render.telegram import render_card as render_telegram_card
from kcrush_bot.core.render.telegram import render_reply as render_telegram

__all__ = [
    "TelegramCall",
    "console",
    "discord",
    "render_console",
    "render_discord",
    "render_discord_embed",
    "render_telegram",
    "render_telegram_card",
    "telegram",
    "visible_text",
]
