"""Numbered SQL migrations, applied in one transaction each; the version lives in user_version.

Migrations are append-only: ``migrations/NNN_name.sql`` files, never edited once released.
"""

from __future__ import annotations

import logging
import re
from importlib import resources

import aiosqlite

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def available(package: str = "kcrush_bot.storage") -> list[tuple[int, str, str]]:
    """(version, file name, SQL) for every migration in ``package``'s ``migrations`` folder, in
    order: SQLite's by default, PostgreSQL's for ``kcrush_bot.storage.postgres``."""
    found = []
    for entry in resources.files(package).joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    for expected, (version, name, _) in enumerate(found, start=1):
        if version != expected:
            raise RuntimeError(f"migration {name} is out of sequence (expected {expected:03d})")
    return found


async def current_version(db: aiosqlite.Connection) -> int:
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def upgrade(db: aiosqlite.Connection) -> list[str]:
    """Apply every migration newer than the database; returns the names applied."""
    applied = []
    version = await current_version(db)
    for number, name, sql in available():
        if number <= version:
            continue
        # executescript would commit on its own; wrapping the file in BEGIN/COMMIT keeps a
        # failed migration from leaving half a schema behind.
        try:
            await db.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {number:d};\nCOMMIT;")
        except Exception:
            await db.rollback()
            raise
        log.info("applied migration %s", name)
        applied.append(name)
    return applied
