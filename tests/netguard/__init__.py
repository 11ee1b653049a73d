"""A pytest plugin: any connection to a non-loopback address fails the test that made it.

The tests run offline against fakes on 127.0.0.1; a connection anywhere else is a test that
leaks to the real Telegram, Discord or magazine. The guard (``loopback.py``) refuses it and
writes it down, in this process and, through ``sitecustomize.py`` on PYTHONPATH, in the Python
processes the tests start; after each phase of a test the plugin reads what was written during
it and fails the test with the addresses, even if the code under test swallowed the error.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from netguard import loopback

HERE = Path(__file__).resolve().parent
_state: dict[str, Any] = {}


def pytest_configure(config: pytest.Config) -> None:
    handle, log = tempfile.mkstemp(prefix="kcrush-netguard-", suffix=".log")
    os.close(handle)
    _state["log"] = log
    _state["environ"] = {k: os.environ.get(k) for k in (loopback.LOG_VARIABLE, "PYTHONPATH")}
    loopback.install(log)
    os.environ[loopback.LOG_VARIABLE] = log
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    if "log" not in _state:
        return
    loopback.uninstall()
    for key, value in _state.pop("environ").items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    Path(_state.pop("log")).unlink(missing_ok=True)


def _written_since(offset: int) -> list[str]:
    with open(_state["log"], encoding="utf-8") as log:
        log.seek(offset)
        return log.read().splitlines()


def _guarded(phase: str) -> Generator[None, Any, Any]:
    offset = os.path.getsize(_state["log"])
    try:
        outcome = yield
    finally:
        if refused := _written_since(offset):
            pytest.fail(
                f"a connection to a non-loopback address was made {phase}:\n" + "\n".join(refused),
                pytrace=False,
            )
    return outcome


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, Any, Any]:
    return (yield from _guarded("while setting the test up"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    return (yield from _guarded("by the test"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, Any, Any]:
    return (yield from _guarded("while tearing the test down"))
