"""The console platform: the same commands typed in a terminal, pushed posts printed as they come.

It is the way to try the bot with no token at all. Lines are read with prompt_toolkit (history
and command completion) when the terminal is interactive, or plainly from any line source
(a pipe, a test). The operator at the console is a moderator and the chat's admin.

After a reply with buttons, the buttons are numbered: typing the number presses one. Text is
wrapped to the terminal's width as it is when the text is printed, so a resized window still
wraps between words; log records are printed above the prompt, not into it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import shutil
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TextIO

from kcrush_bot.core.commands import CommandService
from kcrush_bot.core.models import ChatKind, ChatRef
from kcrush_bot.core.permissions import Caller
from kcrush_bot.core.render.console import render_reply, strip_controls
from kcrush_bot.core.replies import Button, Confirm, ErrorReply, ListPage, Reply, Text

log = logging.getLogger(__name__)

CONSOLE_CHAT = ChatRef("console", "local")
# Terminal escape sequences as a paste or a stray key brings them (ECMA-48: CSI, OSC and the
# two-character ones), removed whole so that no "[31m" is left behind in the command.
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
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
    with patch_stdout(), _logging_to(sys.stderr):
        while True:
            try:
                yield await session.prompt_async(prompt)
            except (EOFError, KeyboardInterrupt):
                return


@contextlib.contextmanager
def _logging_to(stream: TextIO) -> Iterator[None]:
    """Point the root logger's stream handlers at ``stream`` for a while.

    Inside ``patch_stdout`` that stream is prompt_toolkit's proxy, which prints above the
    prompt; a handler keeps the stream it was made with, so without this log records would
    be written into the line being typed.
    """
    handlers = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    previous = [h.setStream(stream) for h in handlers]
    try:
        yield
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            if old is not None:
                handler.setStream(old)


SINGLE_PROCESS = (
    "This console belongs to this process alone: other replicas on the same PostgreSQL "
    "database neither see it nor deliver to it."
)


class ConsolePlatform:
    """A chat in the terminal. Implements the Platform port: ``send`` prints."""

    name = "console"

    def __init__(
        self,
        service: CommandService,
        *,
        lines: Callable[[], AsyncIterator[str]] | None = None,
        out: TextIO | None = None,
        width: int | None = None,
        shared_database: bool = False,
    ) -> None:
        self.service = service
        self._shared_database = shared_database
        self._lines = lines
        self._out = out
        self._width = width
        self._buttons: tuple[Button, ...] = ()
        self._task: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)

    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout

    @property
    def width(self) -> int:
        """The given width, else the terminal's as it is now (80 when there is none)."""
        if self._width is not None:
            return self._width
        return shutil.get_terminal_size((80, 24)).columns

    @property
    def bold(self) -> bool:
        return self._out is None and sys.stdout.isatty()

    def render(self, reply: Reply) -> str:
        return render_reply(reply, self.width, bold=self.bold)

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
        self.print(self.render(reply))
        return [f"console-{next(self._ids)}"]

    async def edit(self, chat: ChatRef, message_ids: Sequence[str], reply: Reply) -> None:
        """A terminal cannot change what it printed: the new version is printed, marked."""
        self.print(f"── {chat.key} · edited {', '.join(message_ids)} ──")
        self.print(self.render(reply))

    async def delete(self, chat: ChatRef, message_ids: Sequence[str]) -> None:
        self.print(f"── {chat.key} · withdrawn {', '.join(message_ids)} ──")

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
        if self._shared_database:
            # Replicas share the database, not this terminal: a post for the console's chat
            # can only be shown by the process whose terminal it is.
            self.print(SINGLE_PROCESS)
        async for raw in self._line_source():
            # A pasted escape sequence (arrow keys, colours) is not part of a command.
            line = strip_controls(_ESCAPE.sub("", raw)).strip()
            if not line:
                continue
            if line.lower() in QUIT:
                break
            try:
                replies = await self.handle_line(line)
            except Exception:
                # The service answers every bad input itself; this is the last guard that
                # keeps one unexpected failure from ending the operator's session.
                log.exception("console: %r failed", line[:80])
                replies = [ErrorReply("That failed unexpectedly; the log has the details.")]
            for reply in replies:
                self.show(reply)

    async def handle_line(self, line: str) -> list[Reply]:
        """One typed line: a command (``/latest 3``) or a button's number."""
        caller = console_caller()
        if line.isdigit():
            choice = int(line)
            if 0 < choice <= len(self._buttons):
                return await self.service.handle_action(caller, self._buttons[choice - 1].action)
            return [self._no_such_choice(choice)]
        name, _, text = line.lstrip("/").partition(" ")
        return await self.service.dispatch(caller, name, text)

    def _no_such_choice(self, choice: int) -> ErrorReply:
        if not self._buttons:
            return ErrorReply(
                f"There is nothing to choose with {choice} here.", ("/help lists the commands",)
            )
        choices = ", ".join(str(i) for i in range(1, len(self._buttons) + 1))
        return ErrorReply(
            f"There is no choice {choice}: type {choices} to press a button.",
            ("/help lists the commands",),
        )

    def show(self, reply: Reply) -> None:
        self.print(self.render(reply))
        buttons = buttons_of(reply)
        if buttons:
            self._buttons = buttons
