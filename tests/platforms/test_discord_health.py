"""Discord's side of ``/healthz``: the platform says it is connected while the gateway is
up, and why not once Discord goes away (discord.py keeps reconnecting on its own meanwhile)."""

from __future__ import annotations

from fakes.discord_api import settings_for, start_fake_discord
from kcrush_bot.core.commands import CommandService
from kcrush_bot.core.ports import HealthCheck
from kcrush_bot.platforms.discord import DiscordPlatform
from publisher.publisherkit import wait_until


async def test_connection_problem_follows_the_gateway(service: CommandService) -> None:
    fake = await start_fake_discord()
    platform = DiscordPlatform(settings_for(fake), service)
    assert isinstance(platform, HealthCheck)
    assert platform.connection_problem() == "not connected"
    try:
        async with platform:
            await fake.wait_identified()
            await platform.wait_until_ready()
            assert platform.connection_problem() is None

            await fake.close()  # the gateway and the REST API are gone
            await wait_until(lambda: platform.connection_problem() is not None, within=10)
            assert platform.connection_problem() == "gateway disconnected"
    finally:
        await fake.close()
    assert platform.connection_problem() == "not connected"


async def test_a_rest_only_platform_counts_as_connected_while_it_runs(
    service: CommandService,
) -> None:
    fake = await start_fake_discord()
    try:
        async with DiscordPlatform(settings_for(fake), service, gateway=False) as platform:
            assert platform.connection_problem() is None
    finally:
        await fake.close()
