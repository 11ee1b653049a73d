"""Slash commands generated from the core's command registry.

discord.py reads a command's options from its callback's signature (annotations, defaults) and
from what its decorators (``describe``, ``choices``, ``autocomplete``) attach to the function.
The registry is data, so each command gets one generic callback, ``callback(interaction,
**values)``, whose ``__signature__`` is built from the command's ``Arg``s; ``inspect.signature``
honours ``__signature__``, so discord.py sees an ordinary typed callback and does all of its
usual work: option types and ranges, choices, autocomplete, transforming the values.
Descriptions, choices and autocomplete go through the public decorators.

Argument kinds map to option types as follows:

* INTEGER: ``app_commands.Range[int, min, max]``, so Discord's client enforces the range;
* CHOICE: ``str`` with fixed choices;
* CATEGORY: ``str`` with autocomplete from the store's categories (several space-separated
  names complete the last one, for ``/subscribe kpop k-dr…``);
* TEXT: ``str``.

The callbacks only hand the values to an :class:`Invoker`; the adapter implements it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Optional, Protocol

import discord
from discord import app_commands

from kcrush_bot.core.commands.registry import Arg, ArgKind, Command, Registry
from kcrush_bot.core.permissions import Access
from kcrush_bot.core.text import ELLIPSIS, shorten

log = logging.getLogger(__name__)

PLATFORM = "discord"
DESCRIPTION_LIMIT = 100  # command and option descriptions
CHOICES_LIMIT = 25  # choices of an option, and suggestions of an autocomplete answer
CHOICE_NAME_LIMIT = 100

# A hint to Discord's client about who sees a command; the core still decides (see
# core.permissions). Server admins can change it under Server Settings → Integrations.
DEFAULT_PERMISSIONS = {
    Access.CHAT_ADMIN: discord.Permissions(manage_channels=True),
    Access.MODERATOR: discord.Permissions(manage_guild=True),
}


class Invoker(Protocol):
    """What the generated callbacks call: the adapter."""

    async def run_command(
        self, interaction: discord.Interaction, command: Command, values: dict[str, Any]
    ) -> None: ...

    async def complete(
        self, interaction: discord.Interaction, command: Command, arg: Arg, current: str
    ) -> list[app_commands.Choice[str]]: ...


def add_registry_commands(
    tree: app_commands.CommandTree[Any], registry: Registry, invoker: Invoker
) -> list[app_commands.Command[Any, ..., None]]:
    """Add a slash command to ``tree`` for every command the registry offers on Discord."""
    added = []
    for command in registry.for_platform(PLATFORM):
        slash = slash_command(command, invoker)
        tree.add_command(slash)
        added.append(slash)
    return added


def slash_command(command: Command, invoker: Invoker) -> app_commands.Command[Any, ..., None]:
    """One registry command as a discord.py app command with typed options."""

    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        await invoker.run_command(interaction, command, values)

    parameters = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    for arg in command.args:
        annotation = _annotation(arg)
        parameters.append(
            inspect.Parameter(
                arg.name,
                # Keyword-only: discord.py calls callback(interaction, **values), and keyword-only
                # parameters may mix required and optional in any order, as Args do.
                inspect.Parameter.KEYWORD_ONLY,
                annotation=annotation if arg.required else Optional[annotation],  # noqa: UP045
                default=inspect.Parameter.empty if arg.required else None,
            )
        )
    callback.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    callback.__name__ = callback.__qualname__ = f"{command.name}_callback"

    if command.args:
        app_commands.describe(**{a.name: _fit(a.help or a.name) for a in command.args})(callback)
    choices = {
        a.name: [app_commands.Choice(name=_fit(c), value=c) for c in a.choices[:CHOICES_LIMIT]]
        for a in command.args
        if a.kind is ArgKind.CHOICE and a.choices
    }
    if choices:
        app_commands.choices(**choices)(callback)
    completers = {
        a.name: _completer(invoker, command, a) for a in command.args if a.kind is ArgKind.CATEGORY
    }
    if completers:
        app_commands.autocomplete(**completers)(callback)

    slash: app_commands.Command[Any, ..., None] = app_commands.Command(
        name=command.name,
        description=_fit(command.summary),
        callback=callback,
    )
    hint = DEFAULT_PERMISSIONS.get(command.access)
    if hint is not None:
        slash.default_permissions = hint
    return slash


def _annotation(arg: Arg) -> Any:
    if arg.kind is ArgKind.INTEGER:
        if arg.min_value is None and arg.max_value is None:
            return int
        return app_commands.Range[int, arg.min_value, arg.max_value]
    return str


def _completer(
    invoker: Invoker, command: Command, arg: Arg
) -> Callable[[discord.Interaction[Any], str], Coroutine[Any, Any, list[app_commands.Choice[str]]]]:
    async def complete(
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return await invoker.complete(interaction, command, arg, current)

    return complete


def _fit(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    """A description on one line, never empty (Discord refuses an empty one), within ``limit``."""
    return shorten(" ".join(text.split()) or ELLIPSIS, limit)
