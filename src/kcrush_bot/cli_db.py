"""``db upgrade`` on either backend and ``db copy URL``: a SQLite store moved into PostgreSQL.

``db copy`` reads the configured SQLite store (``--db``, ``KCRUSH_DB`` or ``[bot] database``)
and writes every row into the empty PostgreSQL database the URL names, showing a progress bar
on the terminal. The password may be in the URL or come from ``PGPASSWORD`` / ``.pgpass``;
output names the database with the password hidden.
"""

from __future__ import annotations

import argparse
from typing import Any

from kcrush_bot.core.errors import BadInput, KcrushError
from kcrush_bot.settings import Settings
from kcrush_bot.storage.urls import is_postgres_url, scrubbed, shown


def add_db_copy(db_sub: Any) -> None:
    p = db_sub.add_parser(
        "copy", help="copy the whole SQLite store into an empty PostgreSQL database"
    )
    p.add_argument("url", metavar="URL", help="postgresql://user@host:port/database")
    p.set_defaults(verb=cmd_db_copy)


async def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    """Apply pending migrations to the configured database, SQLite or PostgreSQL."""
    from kcrush_bot.storage import Store, migrate
    from kcrush_bot.storage.postgres import migrate as pg_migrate

    target = settings.database_path
    async with Store.open(target, upgrade=False) as store:
        before = await store.db.schema_version()
        if is_postgres_url(target):
            async with store.db.pool.acquire() as connection:  # type: ignore[attr-defined]
                applied = await pg_migrate.upgrade(connection)
        else:
            applied = await migrate.upgrade(store.db.connection)
        after = await store.db.schema_version()
    if applied:
        print(
            f"Upgraded {settings.database_shown} from version {before} to {after}: "
            + ", ".join(applied)
        )
    else:
        print(f"{settings.database_shown} is up to date (version {after}).")
    return 0


class _Bar:
    """One progress bar over every row of the copy, named after the table being copied."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.description:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self.task = self.progress.add_task("counting", total=None)
        self.before: dict[str, int] = {}

    def counted(self, totals: dict[str, int]) -> None:
        self.progress.update(self.task, total=sum(totals.values()))

    def __call__(self, table: str, done: int, of: int) -> None:
        completed = sum(self.before.values()) + done
        if done == of:
            self.before[table] = of
        self.progress.update(self.task, description=table, completed=completed)


async def cmd_db_copy(settings: Settings, args: argparse.Namespace) -> int:
    import asyncpg

    from kcrush_bot.storage import Store
    from kcrush_bot.storage.postgres.copy import TargetNotEmpty, copy_store

    source = settings.database_path
    if is_postgres_url(source):
        raise BadInput(
            "db copy reads a SQLite store: name it with --db PATH (the database configured "
            f"now is {settings.database_shown})"
        )
    if not is_postgres_url(args.url):
        raise BadInput("db copy writes to PostgreSQL: give a postgresql://user@host/db URL")
    async with Store.open(source) as store:
        try:
            target = await asyncpg.connect(args.url)
        except (OSError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            message = scrubbed(str(exc), args.url)
            raise KcrushError(f"cannot connect to {shown(args.url)}: {message}") from None
        bar = _Bar()
        try:
            with bar.progress:
                copied = await copy_store(
                    store.db.connection, target, progress=bar, counted=bar.counted
                )
        except TargetNotEmpty as exc:
            raise BadInput(f"{shown(args.url)}: {exc}") from None
        finally:
            await target.close()
    print(
        f"Copied {settings.database_shown} to {shown(args.url)}: "
        + ", ".join(f"{n:,} {table}" for table, n in copied.items() if n)
        + "."
    )
    return 0
