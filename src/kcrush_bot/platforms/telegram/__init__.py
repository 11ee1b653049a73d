"""Telegram: python-telegram-bot 22 behind the bot's Platform port.

* ``TelegramPlatform`` (``adapter``): commands, buttons, inline mode and deep links in; rendered
  replies and teaser cards out.
* ``TokenRedactingFilter`` (``redact``): attach it to the log handlers so the bot token, which
  is part of every Bot API URL, never reaches a log.
* ``updates``: Telegram updates → the core's ``Caller`` facts. ``errors``: PTB exceptions →
  the core's delivery errors.
"""

from kcrush_bot.platforms.telegram.adapter import TelegramPlatform
from kcrush_bot.platforms.telegram.redact import TokenRedactingFilter, install_token_filter

__all__ = ["TelegramPlatform", "TokenRedactingFilter", "install_token_filter"]
