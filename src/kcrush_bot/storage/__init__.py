"""The post store: SQLite through aiosqlite, numbered SQL migrations, FTS5 search."""

from kcrush_bot.storage.store import Store, UpsertResult

__all__ = ["Store", "UpsertResult"]
