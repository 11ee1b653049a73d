"""Registering the slash commands: the registry becomes typed options, over REST only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from fakes.discord_api import FAKE_TOKEN, FakeDiscord, settings_for, start_fake_discord
from kcrush_bot.core.commands import CommandService, default_registry
from kcrush_bot.core.errors import BadInput, ConfigError
from kcrush_bot.platforms.discord import sync_commands
from kcrush_bot.settings import Secret

pytestmark = pytest.mark.timeout(20)

STRING, INTEGER = 3, 4
GUILD = "400000000000000001"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    fake = await start_fake_discord(token=FAKE_TOKEN)
    yield fake
    await fake.close()


def by_name(commands: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in commands}


def options(command: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in command.get("options", [])}


async def test_sync_registers_every_discord_command_globally(fake: FakeDiscord) -> None:
    registry = default_registry()
    count = await sync_commands(settings_for(fake), registry)
    expected = [c.name for c in registry.for_platform("discord")]
    assert count == len(expected)
    assert sorted(by_name(fake.registered_commands[None])) == sorted(expected)
    assert "start" not in expected  # a Telegram-only command stays off Discord
    assert not fake.find("GET", "/gateway")  # REST only: no gateway session is used up


async def test_registered_options_carry_types_ranges_choices_and_autocomplete(
    fake: FakeDiscord,
) -> None:
    await sync_commands(settings_for(fake), default_registry())
    commands = by_name(fake.registered_commands[None])

    latest = options(commands["latest"])
    assert latest["count"]["type"] == INTEGER
    assert (latest["count"]["min_value"], latest["count"]["max_value"]) == (1, 10)
    assert not latest["count"].get("required")
    assert latest["category"]["type"] == STRING and latest["category"]["autocomplete"]

    search = options(commands["search"])
    assert search["query"]["required"] and search["query"]["description"]

    mode = options(commands["subscribe"])["mode"]
    assert {c["value"] for c in mode["choices"]} == {"instant", "daily", "weekly", "both"}

    for command in commands.values():
        assert 0 < len(command["description"]) <= 100
        # Discord wants required options first.
        flags = [bool(o.get("required")) for o in command.get("options", [])]
        assert flags == sorted(flags, reverse=True)


async def test_admin_commands_carry_a_permission_hint(fake: FakeDiscord) -> None:
    await sync_commands(settings_for(fake), default_registry())
    commands = by_name(fake.registered_commands[None])
    assert int(commands["subscribe"]["default_member_permissions"]) == 1 << 4  # Manage Channels
    assert int(commands["announce"]["default_member_permissions"]) == 1 << 5  # Manage Server
    assert commands["latest"].get("default_member_permissions") is None


async def test_sync_to_one_server(fake: FakeDiscord, service: CommandService) -> None:
    count = await sync_commands(settings_for(fake), service, GUILD)
    assert count == len(fake.registered_commands[GUILD])
    assert None not in fake.registered_commands
    assert fake.find("PUT", f"/applications/{fake.application_id}/guilds/{GUILD}/commands")


async def test_a_bad_server_id_is_refused(fake: FakeDiscord) -> None:
    with pytest.raises(BadInput):
        await sync_commands(settings_for(fake), default_registry(), "my-server")


async def test_a_refused_token_is_a_config_error(fake: FakeDiscord) -> None:
    with pytest.raises(ConfigError, match="KCRUSH_DISCORD_TOKEN"):
        await sync_commands(settings_for(fake, token=Secret("nope")), default_registry())
