"""Storage: one SQLite database (``db``), numbered SQL migrations, and a repository per
aggregate (``posts``, ``chats``, ``sources``, ``announcements``, ``outbox``) held by ``Store``."""

from kcrush_bot.core.ports import UpsertResult
from kcrush_bot.storage.store import Store

__all__ = ["Store", "UpsertResult"]
