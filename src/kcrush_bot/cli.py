"""The command line: ``kcrush-bot [--config PATH] [--db PATH] [-v] COMMAND`` (DESIGN.md §2).

Every verb builds the app through ``app.build`` and uses the same core as the chats do. A
``KcrushError`` is printed as one line (``error: …``) with exit status 2; nothing prints a
traceback unless ``-vv`` asked for it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from kcrush_bot import __version__, app, cli_db, cli_ops, logs
from kcrush_bot import settings as settings_mod
from kcrush_bot.core.categories import category_tree
from kcrush_bot.core.commands.announce import draft
from kcrush_bot.core.commands.subscriptions import (
    describe_subscriptions,
    subscribe_chat,
    unsubscribe_chat,
)
from kcrush_bot.core.errors import BadInput, KcrushError, NotFound
from kcrush_bot.core.models import ChatRef, Post
from kcrush_bot.core.render import console as console_render
from kcrush_bot.core.render.wire import PLATFORMS, wire_payloads
from kcrush_bot.core.replies import Cards, Confirm, ListItem, ListPage, Reply, TeaserCard, Text
from kcrush_bot.core.times import in_zone
from kcrush_bot.publisher.digests import next_digest_times
from kcrush_bot.settings import Settings
from kcrush_bot.storage.urls import is_postgres_url

log = logging.getLogger(__name__)
OPERATOR = "operator"


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _when(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a time: write e.g. 2026-12-01T09:00 or 2026-12-01T09:00+09:00"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kcrush-bot",
        description="Publishes KCrush America Magazine to Discord and Telegram.",
    )
    parser.add_argument("--version", action="version", version=f"kcrush-bot {__version__}")
    parser.add_argument(
        "--config",
        help="configuration file (default: KCRUSH_CONFIG, then "
        "config/kcrush-bot.toml, then the bundled one)",
    )
    parser.add_argument(
        "--db",
        help="a SQLite path or a postgresql:// URL (default: KCRUSH_DB, then [bot] database)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more logging: -v info, -vv debug, -vvv also every HTTP request and scheduler run",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="start publishing: scheduler and every platform with a token")
    p.add_argument("--console", action="store_true", help="also chat in this terminal")
    sub.add_parser("console", help="chat with the bot in the terminal")

    p = sub.add_parser("ingest", help="poll configured sources, or the URLs / paths given")
    p.add_argument(
        "sources",
        nargs="*",
        metavar="SOURCE",
        help="a configured source's name, a URL or a local file",
    )
    p.add_argument(
        "--backfill",
        action="store_true",
        help="page back through listing pages or the REST API to fill the archive",
    )

    p = sub.add_parser("latest", help="the newest posts")
    p.add_argument("-n", type=_positive, default=5, help="how many (default 5)")
    p.add_argument("--category", metavar="SLUG")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("search", help="search the archive")
    p.add_argument("query")
    p.add_argument("-n", type=_positive, default=10, help="how many results (default 10)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("categories", help="the categories and their post counts")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("preview", help="the exact payloads the bot would send for posts")
    p.add_argument(
        "--platform",
        choices=PLATFORMS,
        action="append",
        help="only this platform (repeatable; default: all)",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--url", help="a stored post's URL")
    which.add_argument("--latest", type=_positive, metavar="N", help="the N newest posts")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("subscriptions", help="every chat and what it gets")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("subscribe", help="subscribe a chat (telegram:ID or discord:ID)")
    p.add_argument("chat")
    p.add_argument("categories", nargs="*", metavar="CATEGORY")
    p.add_argument("--digest", choices=("daily", "weekly"))

    p = sub.add_parser("unsubscribe", help="unsubscribe a chat from categories, or all")
    p.add_argument("chat")
    p.add_argument("categories", nargs="*", metavar="CATEGORY")

    p = sub.add_parser(
        "announce",
        help="send an announcement to every subscribed chat; --list / --cancel ID the waiting ones",
    )
    p.add_argument("text", nargs="?")
    p.add_argument("--category", metavar="SLUG")
    p.add_argument("--list", action="store_true", help="announcements confirmed but not yet sent")
    p.add_argument("--cancel", metavar="ID", type=int, help="cancel one that has not gone out")
    p.add_argument("--json", action="store_true", help="with --list: as JSON")
    p.add_argument(
        "--at",
        metavar="WHEN",
        type=_when,
        help="send later: an ISO 8601 time, e.g. 2026-12-01T09:00 (bot time zone "
        "unless it names an offset)",
    )
    p.add_argument("--yes", action="store_true", help="send without asking")

    p = sub.add_parser("digest", help="digest tools")
    digest_sub = p.add_subparsers(dest="digest_command", required=True, metavar="ACTION")
    pp = digest_sub.add_parser("preview", help="what a chat's next digest would hold")
    pp.add_argument("chat")

    p = sub.add_parser("discord", help="Discord tools")
    discord_sub = p.add_subparsers(dest="discord_command", required=True, metavar="ACTION")
    pp = discord_sub.add_parser("sync", help="register the slash commands with Discord")
    pp.add_argument("--guild", metavar="ID", help="register in one server only (instant)")

    p = sub.add_parser("db", help="database tools")
    db_sub = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply pending migrations")
    cli_ops.add_db_backup(db_sub)
    cli_db.add_db_copy(db_sub)
    cli_ops.add_deliveries(sub)
    cli_ops.add_sources(sub)

    p = sub.add_parser("stats", help="archive, sources, subscriptions and outbox figures")
    p.add_argument("--json", action="store_true")
    return parser


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def _print_replies(replies: Sequence[Reply]) -> None:
    for reply in replies:
        print(console_render.render_reply(reply))
        print()


# -- verbs ---------------------------------------------------------------------------------------


async def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from kcrush_bot.sources.ingest import Ingestor

    names = {s.name for s in settings.sources}
    async with (
        app.build(settings, platforms={}) as built,
        Ingestor(built.store, settings) as ingestor,
    ):
        reports = []
        if not args.sources:
            if not settings.sources:
                raise BadInput("no sources are configured: give a URL or a file to ingest")
            reports = await ingestor.poll_all(backfill=args.backfill, progress=sys.stderr.isatty())
        for target in args.sources:
            if target in names:
                reports += await ingestor.poll_all(
                    [target], backfill=args.backfill, progress=sys.stderr.isatty()
                )
            else:
                reports.append(
                    await ingestor.ingest_target(
                        target, backfill=args.backfill, progress=sys.stderr.isatty()
                    )
                )
        for report in reports:
            print(report.line())
        return 1 if reports and all(r.error for r in reports) else 0


async def cmd_latest(settings: Settings, args: argparse.Namespace) -> int:
    async with app.build(settings, platforms={}) as built:
        slug = await _category(built, args.category)
        posts = await built.store.posts.latest(args.n, slug)
        if args.json:
            _print_json([p.to_json() for p in posts])
        elif not posts:
            print("No posts yet.")
        else:
            names = (await built.service.categories()).names()
            _print_replies([Cards(tuple(TeaserCard.from_post(p, names) for p in posts))])
    return 0


async def cmd_search(settings: Settings, args: argparse.Namespace) -> int:
    if not args.query.strip():
        raise BadInput("Tell me what to look for: kcrush-bot search QUERY.")
    async with app.build(settings, platforms={}) as built:
        hits, total = await built.store.posts.search(args.query, limit=args.n)
        if args.json:
            _print_json([h.to_json() for h in hits])
        elif not hits:
            print(f"Nothing found for {args.query!r}.")
        else:
            items = tuple(ListItem(h.post.title, h.post.url, h.snippet) for h in hits)
            _print_replies(
                [
                    ListPage(
                        f"Search: {args.query}",
                        items,
                        total=total,
                        footer=f"{len(hits)} of {total} result(s)",
                    )
                ]
            )
    return 0


CLI_CATEGORIES = "`kcrush-bot categories` lists them all."


async def _category(built: app.App, name: str | None) -> str | None:
    if not name:
        return None
    return await built.service.resolve_category(name, listed_by=CLI_CATEGORIES)


async def cmd_categories(settings: Settings, args: argparse.Namespace) -> int:
    async with app.build(settings, platforms={}) as built:
        tree = category_tree(await built.store.posts.category_counts())
    if args.json:
        _print_json(
            [
                {
                    "slug": c.category.slug,
                    "name": c.category.name,
                    "parent": c.category.parent,
                    "posts": c.posts,
                }
                for _, c in tree
            ]
        )
        return 0
    if not tree:
        print("No posts yet: `kcrush-bot ingest` reads the configured sources.")
        return 0
    # Children are indented under their parent inside the slug column, so counts stay aligned.
    width = max(len("slug"), *(2 * depth + len(c.category.slug) for depth, c in tree))
    print(f"{'slug':<{width}}  {'posts':>6}  name")
    for depth, c in tree:
        print(f"{'  ' * depth + c.category.slug:<{width}}  {c.posts:>6}  {c.category.name}")
    return 0


async def cmd_preview(settings: Settings, args: argparse.Namespace) -> int:
    platforms = args.platform or PLATFORMS
    async with app.build(settings, platforms={}) as built:
        posts: list[Post]
        if args.url:
            from kcrush_bot.sources.normalise import canonical_url

            url = canonical_url(args.url, settings.bot.site_host) or args.url
            post = await built.store.posts.by_url(url)
            if post is None:
                raise NotFound(f"no stored post has the URL {args.url}")
            posts = [post]
        else:
            posts = await built.store.posts.latest(args.latest or 1)
        names = (await built.service.categories()).names()
        payloads: list[dict[str, Any]] = []
        for post in posts:
            payloads += wire_payloads(Cards((TeaserCard.from_post(post, names),)), platforms)
    if args.json:
        _print_json(payloads)
    else:
        for item in payloads:
            print(f"── {item['platform']} · {item['method']} ──")
            payload = item["payload"]
            print(
                payload
                if isinstance(payload, str)
                else json.dumps(payload, ensure_ascii=False, indent=2)
            )
    return 0


async def cmd_subscriptions(settings: Settings, args: argparse.Namespace) -> int:
    async with app.build(settings, platforms={}) as built:
        subs = await built.store.chats.subscriptions()
        if args.json:
            _print_json(
                [
                    {
                        "chat": s.chat.key,
                        "category": s.category,
                        "mode": s.mode.value,
                        "keywords": list(s.keywords),
                        "active": s.active,
                        "inactive_reason": s.inactive_reason,
                    }
                    for s in subs
                ]
            )
            return 0
        if not subs:
            print("No chat is subscribed yet.")
        for chat in sorted({s.chat for s in subs}):
            print(chat.key)
            print("  " + (await describe_subscriptions(built.service, chat)).replace("\n", "\n  "))
    return 0


async def cmd_subscribe(settings: Settings, args: argparse.Namespace) -> int:
    chat = ChatRef.parse(args.chat)
    # The mode goes before any +keywords, where the command's parser expects it.
    words = list(args.categories)
    plus = next((i for i, w in enumerate(words) if w.startswith("+")), len(words))
    if args.digest:
        words.insert(plus, args.digest)
    async with app.build(settings, platforms={}) as built:
        _print_replies(
            await subscribe_chat(
                built.service, chat, words, actor=OPERATOR, listed_by=CLI_CATEGORIES
            )
        )
    return 0


async def cmd_unsubscribe(settings: Settings, args: argparse.Namespace) -> int:
    chat = ChatRef.parse(args.chat)
    async with app.build(settings, platforms={}) as built:
        _print_replies(
            await unsubscribe_chat(
                built.service,
                chat,
                list(args.categories),
                actor=OPERATOR,
                listed_by=CLI_CATEGORIES,
            )
        )
    return 0


async def cmd_announce(settings: Settings, args: argparse.Namespace) -> int:
    from kcrush_bot.core.commands.announce import decide
    from kcrush_bot.platforms.console import console_caller

    if args.list or args.cancel is not None:
        return await _announce_list_or_cancel(settings, args)
    if not (args.text or "").strip():
        raise BadInput("The announcement is empty: kcrush-bot announce TEXT [--category SLUG].")
    async with app.build(settings, platforms={}) as built:
        slug = await _category(built, args.category)
        when = args.at
        if when is not None:
            when = in_zone(when, ZoneInfo(settings.bot.timezone))
        replies = await draft(
            built.service, args.text.strip(), slug, actor=OPERATOR, scheduled_for=when
        )
        confirm = replies[0]
        assert isinstance(confirm, Confirm)
        _print_replies([confirm.preview, Text(confirm.prompt)])
        if not args.yes:
            if not sys.stdin.isatty():
                print("Not sent: pass --yes to send without asking.")
                await decide(built.service, console_caller(), _action_id(confirm), confirm=False)
                return 1
            answer = await asyncio.to_thread(input, "Send it? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                await decide(built.service, console_caller(), _action_id(confirm), confirm=False)
                print("Cancelled.")
                return 1
        _print_replies(
            await decide(built.service, console_caller(), _action_id(confirm), confirm=True)
        )
    return 0


async def _announce_list_or_cancel(settings: Settings, args: argparse.Namespace) -> int:
    from kcrush_bot.core.commands import announce

    if args.text:
        raise BadInput("--list and --cancel take no announcement text")
    async with app.build(settings) as built:
        if args.cancel is not None:
            print(await announce.cancel(built.service, args.cancel, actor=OPERATOR))
            return 0
        found = await announce.waiting(built.service)
    if args.json:
        _print_json(
            [
                {
                    "id": a.id,
                    "text": a.text,
                    "category": a.category,
                    "author": a.author,
                    "scheduled_for": a.scheduled_for.isoformat() if a.scheduled_for else None,
                }
                for a in found
            ]
        )
    elif not found:
        print("No announcement is waiting to be sent.")
    zone = ZoneInfo(settings.bot.timezone)
    for a in [] if args.json else found:
        when = (
            f"{a.scheduled_for.astimezone(zone):%Y-%m-%d %H:%M %Z}"
            if a.scheduled_for
            else "as soon as a bot runs"
        )
        text = a.text if len(a.text) <= 60 else a.text[:59] + "…"
        print(f"#{a.id}  {when}  {a.category or 'every chat'}  {text}")
    return 0


def _action_id(confirm: Confirm) -> int:
    return int(confirm.confirm.action.rsplit(":", 1)[1])


async def cmd_digest_preview(settings: Settings, args: argparse.Namespace) -> int:
    from kcrush_bot.core.commands.digest import preview

    chat = ChatRef.parse(args.chat)
    async with app.build(settings, platforms={}) as built:
        how = f"kcrush-bot subscribe {chat.key} --digest daily sets one"
        _print_replies(await preview(built.service, chat, how_to_set=how))
    return 0


async def cmd_discord_sync(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.discord.token:
        raise BadInput("set KCRUSH_DISCORD_TOKEN to sync the slash commands")
    from kcrush_bot.platforms.discord import sync_commands

    async with app.build(settings, platforms={}) as built:
        count = await sync_commands(settings.discord, built.service, args.guild)
    where = f"server {args.guild}" if args.guild else "every server (global; may take an hour)"
    print(f"Registered {count} slash commands for {where}.")
    return 0


async def cmd_stats(settings: Settings, args: argparse.Namespace) -> int:
    async with app.build(settings, platforms={}) as built:
        stats = await built.store.stats()
        configured = {source.name for source in settings.sources}
        health = [h for h in await built.store.sources.health() if h.name in configured]
        inactive = await built.store.chats.inactive()
        digests = await built.store.chats.digests()
        next_digest = next_digest_times(digests, built.service.clock())
        replicas = getattr(built.store, "replicas", None)
        if replicas is not None:
            from kcrush_bot.replicas import replicas_report

            report = await replicas_report(replicas)
            shard_leases = getattr(built.store, "shards", None)
            if shard_leases is not None:
                from kcrush_bot.replicas_shards import add_shards_to_report, shards_report

                shards = await shards_report(shard_leases, settings.discord.shards)
                add_shards_to_report(report, shards)
    data: dict[str, Any] = {
        "version": __version__,
        "database": settings.database_shown,
        "posts": stats.posts,
        "categories": stats.categories,
        "chats": stats.chats,
        "subscriptions": stats.subscriptions,
        "active_subscriptions": stats.active_subscriptions,
        "newest_post_at": stats.newest_post_at.isoformat() if stats.newest_post_at else None,
        "last_poll_at": stats.last_poll_at.isoformat() if stats.last_poll_at else None,
        "outbox": stats.outbox,
        "withdrawn_posts": stats.withdrawn_posts,
        "edits": stats.edits,
        "withdrawals": stats.withdrawals,
        "deactivated_chats": [{"chat": c.key, "reason": r} for c, r in inactive],
        "digests": [
            {
                "chat": d.chat.key,
                "frequency": d.frequency.value,
                "time": d.time,
                "timezone": d.timezone,
                "weekday": d.weekday,
                "last_sent_at": d.last_sent_at.isoformat() if d.last_sent_at else None,
                "next_at": next_digest[d.chat.key].isoformat()
                if d.chat.key in next_digest
                else None,
            }
            for d in digests
        ],
        "sources": [
            {
                "name": h.name,
                "kind": h.kind,
                "url": h.url,
                "state": h.state,
                "failures": h.failures,
                "last_error": h.last_error,
                "last_polled_at": h.last_polled_at.isoformat() if h.last_polled_at else None,
                "next_poll_at": h.next_poll_at.isoformat() if h.next_poll_at else None,
            }
            for h in health
        ],
    }
    if replicas is not None:
        data["replicas"] = report
    if args.json:
        _print_json(data)
        return 0
    print(f"kcrush-bot {__version__} · {settings.database_shown}")
    if replicas is not None:
        print(
            f"replicas {len(report['alive'])} alive · lease held by "
            f"{report['lease_holder'] or 'nobody'}"
        )
        holders = report.get("discord_shards", {}).get("holders", {})
        if any(holders.values()) or (settings.discord.token and len(holders) > 1):
            print(
                "discord shards "
                + " · ".join(f"{n} {holder or 'unheld'}" for n, holder in holders.items())
            )
    print(
        f"posts {stats.posts} · categories {stats.categories} · chats {stats.chats} · "
        f"subscriptions {stats.active_subscriptions}/{stats.subscriptions} active"
    )
    print(
        f"newest post {data['newest_post_at'] or '-'} · last poll {data['last_poll_at'] or 'never'}"
    )
    print("outbox " + (", ".join(f"{k} {v}" for k, v in sorted(stats.outbox.items())) or "empty"))
    print(
        f"messages edited {stats.edits} · withdrawn {stats.withdrawals} · "
        f"posts withdrawn {stats.withdrawn_posts}"
    )
    for item in data["deactivated_chats"]:
        print(f"deactivated {item['chat']}: {item['reason']}")
    for d in data["digests"]:
        print(
            f"digest {d['chat']}: {d['frequency']} {d['time']} {d['timezone']}, "
            f"next {d['next_at'] or '-'}"
        )
    for h in data["sources"]:
        print(
            f"source {h['name']} ({h['kind']}): {h['state']}"
            + (f", {h['failures']} failures: {h['last_error']}" if h["failures"] else "")
        )
    return 0


async def cmd_console(settings: Settings, args: argparse.Namespace) -> int:
    from kcrush_bot.platforms.console import ConsolePlatform

    async with app.build(settings, platforms={}) as built:
        console = ConsolePlatform(
            built.service, shared_database=is_postgres_url(settings.database_path)
        )
        await console.repl()
    return 0


async def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    has_token = bool(settings.telegram.token or settings.discord.token)
    if not has_token and not args.console and not sys.stdin.isatty():
        # A service that lost its environment must fail loudly, not sit at a console prompt
        # nobody can see and exit 0.
        raise BadInput(
            "no platform to publish to: set KCRUSH_TELEGRAM_TOKEN and/or KCRUSH_DISCORD_TOKEN "
            "(or run `kcrush-bot console` at a terminal to try the bot without one)"
        )
    await app.run(settings, console=args.console)
    return 0


VERBS: dict[str, Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "run": cmd_run,
    "console": cmd_console,
    "ingest": cmd_ingest,
    "latest": cmd_latest,
    "search": cmd_search,
    "categories": cmd_categories,
    "preview": cmd_preview,
    "subscriptions": cmd_subscriptions,
    "subscribe": cmd_subscribe,
    "unsubscribe": cmd_unsubscribe,
    "announce": cmd_announce,
    "digest": cmd_digest_preview,
    "discord": cmd_discord_sync,
    "db": cli_db.cmd_db_upgrade,
    "stats": cmd_stats,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_mod.load(args.config, db=args.db)
    except KcrushError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logs.setup(
        args.verbose,
        [
            settings.telegram.token,
            settings.discord.token,
            settings.push.secret,
            *settings.discord.webhooks.values(),
        ],
    )
    try:
        verb = getattr(args, "verb", None) or VERBS[args.command]
        return int(asyncio.run(verb(settings, args)))
    except KcrushError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        log.debug("unexpected failure", exc_info=True)
        print(
            f"error: unexpected {type(exc).__name__}: {logs.RedactSecrets([settings.telegram.token, settings.discord.token]).redact(str(exc))[:300]}"
            " (run with -vv for details)",
            file=sys.stderr,
        )
        return 1
