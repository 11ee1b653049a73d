"""The operator's verbs of the command line: ``deliveries``, ``db backup`` and ``sources``
(DESIGN.md §2).

They parse and print; the work lives in the storage layer (``Outbox.history``,
``storage.backup``). ``cli.build_parser`` adds their parsers, each with its handler as the
``verb`` default, which ``cli.main`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from kcrush_bot.core.errors import BadInput, NotFound
from kcrush_bot.core.models import ChatRef
from kcrush_bot.settings import Settings


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def add_deliveries(sub: Any) -> None:
    p = sub.add_parser(
        "deliveries", help="what was sent where and when, with its outcome and reason"
    )
    p.add_argument("--chat", metavar="CHAT", help="only this chat (telegram:ID or discord:ID)")
    p.add_argument("--post", metavar="URL", help="only the messages of this post")
    p.add_argument("--failed", action="store_true", help="only what did not arrive, and why")
    p.add_argument("-n", type=_count, default=20, help="how many, newest first (default 20)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(verb=cmd_deliveries)


def add_sources(sub: Any) -> None:
    p = sub.add_parser(
        "sources", help="every source (configured or one-off) with its health; remove NAME"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(verb=cmd_sources)
    actions = p.add_subparsers(dest="sources_command", metavar="ACTION")
    remove = actions.add_parser("remove", help="forget a one-off source (its posts stay)")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(verb=cmd_sources_remove)


async def cmd_sources(settings: Settings, args: argparse.Namespace) -> int:
    from kcrush_bot.storage import Store

    configured = {source.name: source for source in settings.sources}
    async with Store.open(settings.database_path) as store:
        health = {h.name: h for h in await store.sources.health()}
    rows = []
    # Configured sources first, in the file's order, also those never polled yet.
    for name in [*configured, *sorted(set(health) - set(configured))]:
        h = health.get(name)
        rows.append(
            {
                "name": name,
                "configured": name in configured,
                "kind": configured[name].kind if name in configured else (h.kind if h else "?"),
                "url": configured[name].url if name in configured else (h.url if h else ""),
                "state": h.state if h else "new",
                "failures": h.failures if h else 0,
                "last_error": h.last_error if h else None,
                "last_polled_at": _iso(h.last_polled_at) if h else None,
                "next_poll_at": _iso(h.next_poll_at) if h and name in configured else None,
            }
        )
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("No sources: add [[sources]] to the configuration, or `kcrush-bot ingest URL`.")
        return 0
    for row in rows:
        origin = "configured" if row["configured"] else "one-off"
        state = str(row["state"])
        if row["failures"]:
            state += f" ({row['failures']}×: {row['last_error']})"
        print(f"{row['name']}  [{origin}, {row['kind']}]  {state}")
    if any(not row["configured"] for row in rows):
        print("One-off sources are not polled; `kcrush-bot sources remove NAME` forgets one.")
    return 0


async def cmd_sources_remove(settings: Settings, args: argparse.Namespace) -> int:
    from kcrush_bot.storage import Store

    if any(source.name == args.name for source in settings.sources):
        raise BadInput(
            f"{args.name!r} is a configured source: remove its [[sources]] entry from the "
            "configuration file instead"
        )
    async with Store.open(settings.database_path) as store:
        if not await store.sources.remove(args.name):
            raise NotFound(
                f"there is no source named {args.name!r}: `kcrush-bot sources` lists them"
            )
    print(f"Forgot the one-off source {args.name!r}; its posts stay in the archive.")
    return 0


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def add_db_backup(db_sub: Any) -> None:
    p = db_sub.add_parser(
        "backup", help="a consistent copy of the SQLite store, safe while the bot runs"
    )
    p.add_argument("path", metavar="PATH", help="the backup file to write (mode 0600)")
    p.add_argument("--force", action="store_true", help="replace PATH if it exists")
    p.set_defaults(verb=cmd_db_backup)


async def cmd_deliveries(settings: Settings, args: argparse.Namespace) -> int:
    from kcrush_bot.sources.normalise import canonical_url
    from kcrush_bot.storage import Store

    chat = ChatRef.parse(args.chat).key if args.chat else None
    url = (canonical_url(args.post, settings.bot.site_host) or args.post) if args.post else None
    async with Store.open(settings.database_path) as store:
        if url is not None and await store.posts.by_url(url) is None:
            raise NotFound(f"no stored post has the URL {args.post}")
        found = await store.outbox.history(
            chat_key=chat, post_url=url, failed=args.failed, limit=args.n
        )
    rows: list[dict[str, Any]] = [
        {
            "id": d.id,
            "chat": d.chat_key,
            "item": d.item,
            "post_url": d.post_url,
            "post_title": d.post_title,
            "status": d.status,
            "attempts": d.attempts,
            "queued_at": d.created_at.isoformat(),
            "sent_at": d.sent_at.isoformat() if d.sent_at else None,
            "message_ids": list(d.message_ids),
            "error": d.error,
        }
        for d in found
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("No deliveries match." if chat or url or args.failed else "Nothing was sent yet.")
        return 0
    for row in rows:
        when = (row["sent_at"] or row["queued_at"])[:19].replace("T", " ")
        what = row["post_title"] or row["item"]
        tries = f" after {row['attempts']} tries" if row["attempts"] > 1 else ""
        print(f"{when}  {row['status']:<8} {row['chat']}  {what}{tries}")
        if row["post_url"]:
            print(f"    {row['post_url']}")
        if row["error"]:
            print(f"    why: {row['error']}")
    return 0


async def cmd_db_backup(settings: Settings, args: argparse.Namespace) -> int:
    from kcrush_bot.storage.backup import backup_sqlite
    from kcrush_bot.storage.urls import is_postgres_url

    if is_postgres_url(settings.database_path):
        raise BadInput("db backup copies a SQLite store; back PostgreSQL up with pg_dump")
    result = await asyncio.to_thread(
        backup_sqlite, settings.database_path, args.path, overwrite=args.force
    )
    print(
        f"Backed up {settings.database_shown} to {result.path}: {result.bytes:,} bytes, "
        f"{result.posts} posts, schema version {result.schema_version}; integrity ok."
    )
    return 0
