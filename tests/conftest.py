"""Shared fixtures: a real SQLite store in a temporary directory, posts, and the command service."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import certifi
import pytest
from xdist.scheduler import LoadScopeScheduling

from factories import (  # re-exported for tests that import them from here
    CATEGORIES,
    MODERATOR_DISCORD,
    MODERATOR_ROLE,
    MODERATOR_TELEGRAM,
    caller,
    make_post,
)
from kcrush_bot.core.commands import CommandService, CoreConfig, default_registry
from kcrush_bot.core.permissions import Moderators
from kcrush_bot.storage import Store
from pg import pg_clones, pg_server, pg_url  # a real PostgreSQL server for the second backend

__all__ = ["caller", "make_post", "pg_clones", "pg_server", "pg_url"]

# Bytecode caches, even where the environment says not to write them (PYTHONDONTWRITEBYTECODE):
# without them each worker compiles every test module again through pytest's assertion
# rewriting, three of the five seconds of CPU its collection takes, every worker at once on two
# cores at the start of every run. They go to the usual __pycache__ folders, which git ignores.
sys.dont_write_bytecode = False

# Any connection beyond loopback fails the test that made it (tests/netguard). The `wordpress`
# session fixture: a real WordPress on loopback (tests/wordpress/wpkit.py).
pytest_plugins = ["netguard", "wordpress.wpkit"]


# What pytest_configure changed in the environment, put back by pytest_unconfigure.
_environ: dict[str, str | None] = {}
_one_certificate: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """One trusted certificate rather than the whole bundle, in this process and those it starts.

    Every HTTP client the bot makes (each ingestor, each Telegram adapter) loads the trusted
    certificates: the system's bundle costs 20 ms of CPU each time, for some 500 clients a run
    and every ``kcrush-bot run`` started. Nothing in the tests speaks TLS (``tests/netguard``
    keeps them on loopback, over plain HTTP), so a bundle of one certificate serves them as
    well. SSL_CERT_FILE is where OpenSSL, httpx and aiohttp look first.
    """
    bundle = Path(os.environ.get("SSL_CERT_FILE") or certifi.where())
    first = re.search(
        r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n",
        bundle.read_text(encoding="ascii", errors="replace"),
        re.DOTALL,
    )
    if first is None:
        return
    handle, path = tempfile.mkstemp(prefix="kcrush-one-ca-", suffix=".pem")
    with os.fdopen(handle, "w", encoding="ascii") as out:
        out.write(first.group(0))
    _one_certificate.append(path)
    _environ["SSL_CERT_FILE"] = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = path


def pytest_unconfigure(config: pytest.Config) -> None:
    for key, value in _environ.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    _environ.clear()
    for path in _one_certificate:
        Path(path).unlink(missing_ok=True)
    _one_certificate.clear()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first: the parallel workers take tests in this order (see below), so each
    slow one starts at once on a worker of its own, and the run ends with the short tests
    rather than waiting at the end for a minute-long one."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


class _OneTestAtATime(LoadScopeScheduling):
    """pytest-xdist hands out work units in collection order, a few at a time to each worker as
    it frees up: here a unit is one test, except that the tests under ``tests/wordpress/`` are
    one unit, so that one WordPress starts for them rather than one per worker. (xdist's own
    ``--dist loadgroup`` would do this with markers, but it cannot rename tests in pytest 9.)"""

    def _split_scope(self, nodeid: str) -> str:
        return "wordpress" if nodeid.startswith("tests/wordpress/") else nodeid


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "load":  # the default with -n; another one asked for wins
        return None
    return _OneTestAtATime(config, log)


@pytest.fixture
def store_backend() -> str:
    """Which database ``store`` opens: SQLite, unless a test folder or module asks for both
    (``tests/pg.py``: ``BOTH_BACKENDS``, or a ``store_backend`` fixture with both as params)."""
    return "sqlite"


@pytest.fixture
def store_target(store_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The path or URL ``store`` opens: a SQLite file, or a fresh PostgreSQL database."""
    if store_backend == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return str(tmp_path / "kcrush.db")


@pytest.fixture
async def store(store_target: str) -> AsyncIterator[Store]:
    async with Store.open(store_target) as opened:
        await opened.posts.sync_categories(CATEGORIES)
        yield opened


@pytest.fixture
async def filled_store(store: Store) -> Store:
    posts = [make_post(n) for n in range(1, 13)]
    posts.append(
        make_post(
            13,
            category="kpop",
            title="KCRUSH Interview with KNK (크나큰)",
            teaser="KNK (Hangul: 크나큰) is a five-member boy band from 서울의 YNB Entertainment.",
            image_url="https://www.kcrush.com/wp-content/uploads/knk.jpg",
        )
    )
    await store.posts.upsert(posts, source="test", pushable=False)
    return store


@pytest.fixture
def core_config() -> CoreConfig:
    return CoreConfig(
        version="test",
        moderators=Moderators(
            telegram_users=frozenset({MODERATOR_TELEGRAM}),
            discord_users=frozenset({MODERATOR_DISCORD}),
            discord_roles=frozenset({MODERATOR_ROLE}),
        ),
    )


@pytest.fixture
def service(filled_store: Store, core_config: CoreConfig) -> CommandService:
    return CommandService(filled_store, default_registry(), core_config)
