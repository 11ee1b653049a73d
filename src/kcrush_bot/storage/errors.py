"""The database errors callers outside storage catch, whichever backend raised them.

The delivery worker keeps running through a database error (it retries shortly), and treats a
chat key already taken on a move as "the new chat is known already". Both backends' errors are
named here, so the worker names neither driver.
"""

from __future__ import annotations

import sqlite3

import asyncpg

# A failed statement, a lost connection, or a stored value that does not parse: worth
# retrying shortly.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sqlite3.Error,
    ValueError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    ConnectionError,
)
# A unique key is taken (a chat moved onto a key already known).
KEY_TAKEN_ERRORS: tuple[type[Exception], ...] = (
    sqlite3.IntegrityError,
    asyncpg.UniqueViolationError,
)
