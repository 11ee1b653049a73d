"""A Discord start says nothing about voice, which the bot never uses."""

from __future__ import annotations

import logging

import pytest


def test_discord_start_does_not_warn_about_voice_libraries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import discord

    from kcrush_bot.platforms.discord.adapter import KcrushClient

    discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = True
    with caplog.at_level(logging.WARNING, logger="discord"):
        KcrushClient(None)
    assert not [r for r in caplog.records if "voice" in r.getMessage()]
