"""The console platform: the same commands typed in a terminal, pushed posts printed as they come.

It is the way to try the bot with no token at all. Lines are read with prompt_toolkit (history
and command completion) when the terminal is interactive, or plainly from any line source
(a pipe, a test). The operator at the console is a moderator and the chat's admin.

After a reply with buttons, the buttons are numbered: typing the number presses one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sys
from collections.abc import AsyncIterator, Callable
from typing import TextIO

from kcrush_bot.core.commands import CommandService
from kcrush_bot.core.models import ChatKind, ChatRef
from kcrush_bot.core.permissions import Caller
from kcrush_bot.core.render.console import render_reply
from kcrush_bot.core.replies import Button, Confirm, ListPage, Reply, Text

log = logging.getLogger(__name__)

CONSOLE_CHAT = ChatRef("console", "local")
QUIT = {"/quit", "/exit", "quit", "exit"}


def console_caller() -> Caller:
    return Caller(
        platform="console",
        chat=CONSOLE_CHAT,
        chat_kind=ChatKind.PRIVATE,
        user_id="operator",
        display_name="operator",
        is_chat_admin=True,
    )


def buttons_of(reply: Reply) -> tuple[Button, ...]:
    if isinstance(reply, Confirm):
        return (reply.confirm, reply.cancel)
    if isinstance(reply, ListPage | Text):
        return reply.buttons
    return ()


async def _stdin_lines(prompt: str) -> AsyncIterator[str]:
    """Lines from stdin without blocking the event loop (pushed posts print meanwhile)."""
    while True:
        print(prompt, end="", flush=True)
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        yield line


async def _prompt_toolkit_lines(prompt: str, commands: list[str]) -> AsyncIterator[str]:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import WordCompleter
    from prompt_toolkit.history import InMemoryHistory
    from prompt_toolkit.patch_stdout import patch_stdout

    session: PromptSession[str] = PromptSession(
        history=InMemoryHistory(),
        completer=WordCompleter([f"/{c}" for c in commands], sentence=True),
    )
    with patch_stdout():
        while True:
            try:
                yield await session.prompt_async(prompt)
            except (EOFError, KeyboardInterrupt):
                return


class ConsolePlatform:
    """A chat in the terminal. Implements the Platform port: ``send`` prints."""

    name = "console"

    def __init__(
        self,
        service: CommandService,
        *,
        lines: Callable[[], AsyncIterator[str]] | None = None,
        out: TextIO | None = None,
        width: int = 80,
    ) -> None:
        self.service = service
        self._lines = lines
        self._out = out
        self.width = width
        self._buttons: tuple[Button, ...] = ()
        self._task: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)

    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout

    def print(self, text: str) -> None:
        self.out.write(text.rstrip("\n") + "\n")
        self.out.flush()

    # -- the Platform port -------------------------------------------------------------------

    async def __aenter__(self) -> ConsolePlatform:
        self._task = asyncio.create_task(self.repl(), name="console")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def stop_receiving(self) -> None:
        """Stop reading the terminal; pushed posts still print."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def finished(self) -> None:
        """Returns when the operator quits (``/quit`` or end of input)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def send(self, chat: ChatRef, reply: Reply) -> list[str]:
        self.print(f"── {chat.key} ──")
        self.print(render_reply(reply, self.width))
        return [f"console-{next(self._ids)}"]

    # -- the terminal chat -------------------------------------------------------------------

    def _line_source(self) -> AsyncIterator[str]:
        if self._lines is not None:
            return self._lines()
        commands = [c.name for c in self.service.registry.for_platform("console")]
        if sys.stdin.isatty() and self._out is None:
            return _prompt_toolkit_lines("kcrush> ", commands)
        return _stdin_lines("kcrush> " if sys.stdin.isatty() else "")

    async def repl(self) -> None:
        self.print("KCrush bot console. Type /help for the commands, /quit to leave.")
        async for raw in self._line_source():
            line = raw.strip()
            if not line:
                continue
            if line.lower() in QUIT:
                break
            for reply in await self.handle_line(line):
                self.show(reply)

    async def handle_line(self, line: str) -> list[Reply]:
        """One typed line: a command (``/latest 3``) or a button's number."""
        caller = console_caller()
        pressed = [b for b in self._buttons if line == b.action]
        if line.isdigit() and 0 < int(line) <= len(self._buttons):
            pressed = [self._buttons[int(line) - 1]]
        if pressed:
            return await self.service.handle_action(caller, pressed[0].action)
        name, _, text = line.lstrip("/").partition(" ")
        return await self.service.dispatch(caller, name, text)

    def show(self, reply: Reply) -> None:
        self.print(render_reply(reply, self.width))
        buttons = buttons_of(reply)
        if buttons:
            self._buttons = buttons
            hints = "  ".join(f"{i}: {b.label}" for i, b in enumerate(buttons, start=1))
            self.print(f"(type {hints})")
