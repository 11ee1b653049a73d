"""Commands as data: name, arguments, help, who may run it, and the handler.

Each platform adapter walks the registry to register itself (slash commands with typed options
on Discord, command handlers and the menu on Telegram, verbs in the console). Adding a command
touches the core once and no adapter.

Arguments always reach a handler as one text line (``/latest 3 interviews``). Discord's typed
options are joined into that line in declaration order, each with its ``prefix``, so the
parsing lives here once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from kcrush_bot.core.permissions import Access, Caller
from kcrush_bot.core.replies import Reply

if TYPE_CHECKING:
    from kcrush_bot.core.commands.service import CommandService


class ArgKind(Enum):
    INTEGER = "integer"
    TEXT = "text"  # free text; when ``rest`` it takes the remainder of the line
    CATEGORY = "category"  # a category name; Discord autocompletes it
    CHOICE = "choice"


@dataclass(frozen=True, slots=True)
class Arg:
    name: str
    help: str
    kind: ArgKind = ArgKind.TEXT
    required: bool = False
    choices: tuple[str, ...] = ()
    prefix: str = ""  # written before the value when options are joined into a line
    min_value: int | None = None
    max_value: int | None = None


@dataclass(frozen=True, slots=True)
class Invocation:
    """One call of a command: the service, who called, and the argument line."""

    service: CommandService
    caller: Caller
    text: str

    @property
    def words(self) -> list[str]:
        return self.text.split()


Handler = Callable[[Invocation], Awaitable[list[Reply]]]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    summary: str  # one line, ≤ 100 characters (Discord's and Telegram's menu limit)
    usage: str
    help: str
    handler: Handler
    access: Access = Access.ANYONE
    args: tuple[Arg, ...] = ()
    platforms: tuple[str, ...] | None = None  # None: every platform
    examples: tuple[str, ...] = field(default=())

    def available_on(self, platform: str) -> bool:
        return self.platforms is None or platform in self.platforms


class Registry:
    """The bot's commands, in the order help lists them."""

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def add(self, command: Command) -> Command:
        if command.name in self._commands:
            raise ValueError(f"command {command.name!r} is declared twice")
        self._commands[command.name] = command
        return command

    def get(self, name: str) -> Command | None:
        return self._commands.get(name)

    def __iter__(self) -> Iterator[Command]:
        return iter(self._commands.values())

    def __len__(self) -> int:
        return len(self._commands)

    def for_platform(self, platform: str) -> list[Command]:
        return [c for c in self if c.available_on(platform)]


def join_options(command: Command, values: dict[str, object]) -> str:
    """Discord's typed options → the argument line the handler parses."""
    parts = []
    for arg in command.args:
        value = values.get(arg.name)
        if value is None or value == "":
            continue
        parts.append(f"{arg.prefix}{value}")
    return " ".join(parts)
