"""Raw SQL in tests, on whichever backend ``store`` opened.

Tests look at or nudge rows directly (a due time moved, a row marked sent). The SQL is written
once, with ``?`` placeholders and literals both databases read (ISO 8601 text works as a
timestamptz literal); on PostgreSQL the placeholders become ``$1, $2, …``.
"""

from __future__ import annotations

import re
from typing import Any

from kcrush_bot.storage import Store

_MARK = re.compile(r"\?")


async def sql(store: Store, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run ``query``; its rows as tuples (none for a statement that returns none)."""
    pool = getattr(store.db, "pool", None)
    if pool is None:  # SQLite: the store's one connection, in autocommit
        async with store.db.connection.execute(query, params) as cursor:
            return [tuple(row) for row in await cursor.fetchall()]
    numbered = iter(range(1, len(params) + 1))
    query = _MARK.sub(lambda _: f"${next(numbered)}", query)
    return [tuple(row.values()) for row in await pool.fetch(query, *params)]
