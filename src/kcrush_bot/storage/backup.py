"""``kcrush-bot db backup``: a consistent copy of a SQLite store, safe while the bot runs.

SQLite's online backup API copies the database page by page inside one read transaction, so
the copy is the database as it was at one instant, whatever the bot writes meanwhile (in WAL
mode a reader never blocks the bot's writers). The copy is written beside the destination
under a temporary name, readable by its owner only, switched to a single self-contained file
(no ``-wal`` beside it), checked with ``PRAGMA integrity_check``, flushed to disk, and only
then renamed into place: a backup that fails halfway leaves nothing that looks like one.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from kcrush_bot.core.errors import BadInput, KcrushError, NotFound


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    bytes: int
    schema_version: int
    posts: int


def backup_sqlite(
    source: str | Path, destination: str | Path, *, overwrite: bool = False
) -> BackupResult:
    """Copy the store at ``source`` to ``destination`` (mode 0600); see the module docstring.

    Refuses to replace an existing file unless ``overwrite``. Blocking: call it in a thread.
    """
    src = Path(source)
    dest = Path(destination).expanduser()
    if not src.is_file():
        raise NotFound(f"{src}: there is no database to back up")
    if dest.is_dir():
        raise BadInput(f"{dest} is a directory: give the backup file's path")
    if dest.exists() and not overwrite:
        raise BadInput(f"{dest} already exists: choose another path, or --force to replace it")
    if dest.exists() and dest.resolve() == src.resolve():
        raise BadInput(f"{dest} is the database itself")
    if not dest.parent.is_dir():
        raise BadInput(f"{dest.parent} does not exist")
    temporary = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    try:
        # Created 0600 before SQLite opens it: the copy holds chats and ids, like the store.
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise BadInput(f"{dest}: cannot write there ({exc.strerror})") from None
    try:
        result = _copy(src, temporary)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, dest)
        _sync_directory(dest.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return BackupResult(dest, result[0], result[1], result[2])


def _copy(src: Path, target: Path) -> tuple[int, int, int]:
    with (
        contextlib.closing(sqlite3.connect(src, timeout=30)) as source,
        contextlib.closing(sqlite3.connect(target)) as copy,
    ):
        try:
            source.backup(copy)
        except sqlite3.DatabaseError as exc:
            raise KcrushError(f"{src}: cannot be backed up: {exc}") from None
        # The source is in WAL mode and the copy took its header: make it one plain file.
        copy.execute("PRAGMA journal_mode = DELETE")
        check = [row[0] for row in copy.execute("PRAGMA integrity_check")]
        if check != ["ok"]:
            raise KcrushError(f"the copy failed its integrity check: {'; '.join(check[:3])}")
        version = int(copy.execute("PRAGMA user_version").fetchone()[0])
        try:
            posts = int(copy.execute("SELECT count(*) FROM posts").fetchone()[0])
        except sqlite3.OperationalError:  # not a kcrush-bot store, but a sound SQLite file
            posts = 0
    return target.stat().st_size, version, posts


def _sync_directory(directory: Path) -> None:
    """The rename itself reaches the disk (POSIX); where directories cannot be opened, skip."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
