"""The bot's commands, declared once for every platform."""

from kcrush_bot.core.commands import announce, browse, digest, info, subscriptions
from kcrush_bot.core.commands.registry import Arg, ArgKind, Command, Invocation, Registry
from kcrush_bot.core.commands.service import CommandService, CoreConfig

__all__ = [
    "Arg",
    "ArgKind",
    "Command",
    "CommandService",
    "CoreConfig",
    "Invocation",
    "Registry",
    "default_registry",
]


def default_registry() -> Registry:
    """Every command, in the order ``help`` lists them."""
    registry = Registry()
    for module in (browse, subscriptions, digest, announce, info):
        for command in module.COMMANDS:
            registry.add(command)
    return registry
