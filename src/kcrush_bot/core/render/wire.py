"""What goes over the wire for a reply on each platform, as data: the method and its payload.

``kcrush-bot preview`` prints these (DESIGN.md §2), so an operator sees exactly what the bot
would send: the Bot API call for Telegram, the message JSON for Discord, the text for the
console.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kcrush_bot.core.render import console, discord, telegram
from kcrush_bot.core.replies import Reply

PLATFORMS = ("telegram", "discord", "console")
DISCORD_METHOD = "POST /channels/{channel.id}/messages"


def wire_payloads(reply: Reply, platforms: Iterable[str] = PLATFORMS) -> list[dict[str, Any]]:
    """``{"platform", "method", "payload"}`` for every request ``reply`` becomes on each of
    ``platforms``, in order (a long reply is several requests)."""
    out: list[dict[str, Any]] = []
    for platform in platforms:
        if platform == "telegram":
            for call in telegram.render_reply(reply):
                out.append({"platform": platform, "method": call.method, "payload": call.params})
        elif platform == "discord":
            for message in discord.render_reply(reply):
                out.append({"platform": platform, "method": DISCORD_METHOD, "payload": message})
        elif platform == "console":
            out.append(
                {"platform": platform, "method": "print", "payload": console.render_reply(reply)}
            )
        else:
            raise ValueError(f"no renderer for platform {platform!r}")
    return out
