"""Discord: slash commands, buttons and delivery through discord.py 2.7.

``DiscordPlatform`` is the ``Platform`` port (``async with`` it, then ``send``);
``sync_commands`` registers the slash commands (``kcrush-bot discord sync``).
"""

from kcrush_bot.platforms.discord.adapter import (
    DiscordPlatform,
    KcrushClient,
    apply_endpoints,
    caller_from_interaction,
    sync_commands,
)

__all__ = [
    "DiscordPlatform",
    "KcrushClient",
    "apply_endpoints",
    "caller_from_interaction",
    "sync_commands",
]
