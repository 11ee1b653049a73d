"""The network guard (``tests/netguard``) fails a test that connects beyond loopback: run a small
suite with it in a fresh pytest and read the verdicts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from factories import REPO
from netguard.loopback import LOG_VARIABLE, is_loopback

# 192.0.2.1 is TEST-NET-1 (RFC 5737): never routed, so even an unguarded try goes nowhere.
INNER_SUITE = """
import asyncio
import socket
import subprocess
import sys

AWAY = ("192.0.2.1", 443)


def test_loopback_is_allowed():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        socket.create_connection(("localhost", port), timeout=5).close()


def test_a_swallowed_connection_still_fails_the_test():
    try:
        socket.create_connection(AWAY, timeout=5)
    except OSError:
        pass


def test_an_asyncio_connection_fails_the_test():
    async def main():
        try:
            await asyncio.wait_for(asyncio.open_connection(*AWAY), 5)
        except OSError:
            pass

    asyncio.run(main())


def test_a_child_process_connection_fails_the_test():
    code = "import socket\\ntry:\\n socket.create_connection(%r, timeout=5)\\nexcept OSError:\\n pass"
    subprocess.run([sys.executable, "-c", code % (AWAY,)], check=True, timeout=60)
"""


def test_a_connection_beyond_loopback_fails_the_test_that_made_it(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(INNER_SUITE, encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if k not in (LOG_VARIABLE, "PYTHONPATH")}
    environ["PYTHONPATH"] = str(REPO / "tests")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "netguard", "-p", "no:cacheprovider", "-q"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environ,
        timeout=120,
    )
    out = result.stdout
    assert "1 passed" in out and "3 failed" in out, out + result.stderr
    for name in (
        "test_a_swallowed_connection_still_fails_the_test",
        "test_an_asyncio_connection_fails_the_test",
        "test_a_child_process_connection_fails_the_test",
    ):
        assert f"FAILED test_inner.py::{name}" in out, out
    assert "a connection to a non-loopback address was made by the test" in out
    assert "('192.0.2.1', 443) (not loopback) refused by the test guard" in out


def test_what_counts_as_loopback() -> None:
    assert all(
        map(is_loopback, ["127.0.0.1", "127.8.9.10", "::1", "localhost", "::ffff:127.0.0.1"])
    )
    assert not any(map(is_loopback, ["192.0.2.1", "10.0.0.1", "::", "www.kcrush.com", "0.0.0.0"]))
