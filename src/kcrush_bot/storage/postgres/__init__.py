"""The PostgreSQL store: asyncpg, numbered SQL migrations of its own, full-text and trigram search.

The same repositories as the SQLite store, for operators who run PostgreSQL already or run
several replicas of the bot on one database.
"""
