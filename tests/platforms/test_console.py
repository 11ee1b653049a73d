"""The console feels like a chat: the terminal's width, numbered choices, nothing internal shown,
pasted escape sequences harmless, log records above the prompt."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import AsyncIterator

import pytest

from kcrush_bot.core.commands import CommandService
from kcrush_bot.core.replies import ErrorReply, ListPage
from kcrush_bot.platforms.console import ConsolePlatform, _logging_to


def lines_of(*typed: str):  # type: ignore[no-untyped-def]
    async def lines() -> AsyncIterator[str]:
        for line in typed:
            yield line + "\n"

    return lines


async def run_console(service: CommandService, *typed: str, width: int | None = 60) -> str:
    out = io.StringIO()
    console = ConsolePlatform(service, lines=lines_of(*typed), out=out, width=width)
    await console.repl()
    return out.getvalue()


async def test_search_pages_number_on_and_buttons_are_pressed_by_number(
    service: CommandService,
) -> None:
    out = await run_console(service, "/search interview", "1")
    assert "search:" not in out  # no internal button data on screen
    first, second = out.split("Choose:", 1)[0], out.split("Page 2/", 1)[0]
    assert re.search(r"^1\. ", first, re.MULTILINE)
    # The second page goes on from where the first stopped.
    page_two = second.rsplit("Search:", 1)[1]
    assert re.findall(r"^ *(\d+)\. ", page_two, re.MULTILINE)[0] == "6"


async def test_a_number_that_is_no_choice_says_which_numbers_are(
    service: CommandService,
) -> None:
    console = ConsolePlatform(service, out=io.StringIO(), width=60)
    [page] = await console.handle_line("/search interview")
    assert isinstance(page, ListPage)
    console.show(page)
    [reply] = await console.handle_line("7")
    assert isinstance(reply, ErrorReply)
    assert "no choice 7" in reply.message and "1" in reply.message
    [nothing] = await ConsolePlatform(service, out=io.StringIO()).handle_line("3")
    assert isinstance(nothing, ErrorReply)


async def test_a_pasted_escape_sequence_is_ignored_not_an_error(
    service: CommandService, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        out = await run_console(service, "\x1b[A\x1b[31m/latest 1\x1b[0m", "\x1b[200~\x1b[201~")
    assert "Error" not in out
    assert "KCRUSH" in out or "Post" in out  # the latest post was shown
    assert not caplog.records


async def test_text_wraps_to_the_terminal_width_as_it_is_now(
    service: CommandService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "30")
    narrow = await run_console(service, "/help", width=None)
    monkeypatch.setenv("COLUMNS", "120")
    wide = await run_console(service, "/help", width=None)
    assert max(len(line) for line in narrow.splitlines()[1:]) <= 30
    assert max(len(line) for line in wide.splitlines()) > 30


def test_log_records_go_to_the_prompt_aware_stream_while_reading() -> None:
    original, proxy = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(original)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with _logging_to(proxy):
            logging.getLogger("kcrush_bot.test").warning("while typing")
        logging.getLogger("kcrush_bot.test").warning("after")
    finally:
        root.removeHandler(handler)
    assert "while typing" in proxy.getvalue() and "while typing" not in original.getvalue()
    assert "after" in original.getvalue()
