"""What names a database: a SQLite path, or a ``postgresql://`` URL, and how to show one.

A URL may carry the password (``postgresql://user:secret@host/db``); ``shown`` is the form
logs, errors and output use. A password may also come from ``PGPASSWORD`` or a ``.pgpass``
file, which the driver reads itself and nothing here ever prints.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(target: str) -> bool:
    return target.startswith(POSTGRES_SCHEMES)


def shown(target: str) -> str:
    """``target`` with any password replaced by ``***``: safe to log and print."""
    if not is_postgres_url(target):
        return target
    parts = urlsplit(target)
    try:
        password = parts.password
    except ValueError:  # a malformed netloc: show nothing of it rather than guess
        return f"{parts.scheme}://…"
    if password is None:
        return target
    user, host = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{user.split(':', 1)[0]}:***@{host}"))


def scrubbed(text: str, target: str) -> str:
    """``text`` (a driver's error message, say) with ``target``'s password taken out."""
    try:
        password = urlsplit(target).password if is_postgres_url(target) else None
    except ValueError:
        password = None
    return text.replace(password, "***") if password else text
