"""``help``, ``status`` and ``start`` (Telegram's first message, and its deep links)."""

from __future__ import annotations

from kcrush_bot.core.commands.registry import Arg, ArgKind, Command, Invocation
from kcrush_bot.core.commands.subscriptions import subscribe_chat
from kcrush_bot.core.errors import BadInput, Forbidden
from kcrush_bot.core.models import ChatKind
from kcrush_bot.core.permissions import Access
from kcrush_bot.core.replies import Reply, Text

INTRO = (
    "I bring KCrush America Magazine's interviews and articles into this chat: new posts as "
    "teaser cards, the archive on demand, digests and announcements."
)


async def help_(call: Invocation) -> list[Reply]:
    commands = call.service.registry.for_platform(call.caller.platform)
    if call.text:
        command = call.service.find(call.text, call.caller.platform)
        if command is None:
            raise BadInput(f"There is no command {call.text[:30]!r}. /help lists them.")
        lines = [command.usage, "", command.help]
        if command.access is not Access.ANYONE:
            lines += [
                "",
                f"Who: {command.access.value}s (and anyone in a private chat)."
                if command.access is Access.CHAT_ADMIN
                else "Who: moderators.",
            ]
        if command.examples:
            lines += ["", "Examples: " + "  ".join(command.examples)]
        return [Text("\n".join(lines), title=f"/{command.name}")]
    lines = [INTRO, ""]
    lines += [f"{c.usage} — {c.summary}" for c in commands if c.name != "start"]
    lines += ["", "/help <command> explains one command."]
    return [Text("\n".join(lines), title="KCrush bot")]


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{int(seconds)}s ago"
    if seconds < 5400:
        return f"{int(seconds // 60)} min ago"
    if seconds < 48 * 3600:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"


async def status(call: Invocation) -> list[Reply]:
    service = call.service
    stats = await service.store.stats()
    now = service.clock()
    lines = [
        f"Version {service.config.version}",
        f"Posts: {stats.posts} in {stats.categories} categories",
        f"Chats: {stats.chats}, subscriptions: {stats.active_subscriptions} active"
        f" of {stats.subscriptions}",
    ]
    if stats.newest_post_at:
        lines.append(f"Newest post: {stats.newest_post_at:%Y-%m-%d}")
    lines.append(
        f"Last poll: {_ago((now - stats.last_poll_at).total_seconds())}"
        if stats.last_poll_at
        else "Last poll: never"
    )
    if stats.outbox:
        lines.append("Outbox: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.outbox.items())))
    if stats.edits or stats.withdrawals or stats.withdrawn_posts:
        lines.append(
            f"Messages edited: {stats.edits}, withdrawn: {stats.withdrawals} "
            f"({stats.withdrawn_posts} posts withdrawn)"
        )
    inactive = await service.store.chats.inactive()
    if inactive:
        lines.append(f"Chats paused because the platform refused them: {len(inactive)}")
    if service.schedules is not None:
        upcoming = service.schedules.next_digest_times().get(call.caller.chat.key)
        if upcoming is not None:
            lines.append(f"Next digest here: {upcoming:%Y-%m-%d %H:%M %Z}")
    for source in await service.store.sources.health():
        if source.name not in service.config.sources:
            continue
        state = source.state
        if source.state == "failing":
            state = f"failing ({source.failures}×): {(source.last_error or '')[:80]}"
        lines.append(f"Source {source.name}: {state}")
    if service.push is not None:
        lines += service.push.status_lines(now)
    return [Text("\n".join(lines), title="Status")]


async def start(call: Invocation) -> list[Reply]:
    payload = call.text
    if payload.startswith("subscribe_"):
        # A deep link (t.me/<bot>?start=subscribe_interviews) subscribes in one tap; in a
        # group it would bypass the admin check, so only private chats take it.
        if call.caller.chat_kind is not ChatKind.PRIVATE:
            raise Forbidden("Open that link in a private chat with me, or use /subscribe here.")
        words = payload.removeprefix("subscribe_").replace("__", " ").split()
        return await subscribe_chat(
            call.service, call.caller.chat, words, actor=call.caller.actor, caller=call.caller
        )
    return [
        Text(
            f"{INTRO}\n\nTry /latest, /search <words> or /subscribe. /help lists everything.",
            title="Hello!",
        )
    ]


COMMANDS = (
    Command(
        name="help",
        summary="What I can do",
        usage="/help [command]",
        help="Lists the commands, or explains one.",
        handler=help_,
        args=(Arg("command", "A command to explain", ArgKind.TEXT),),
    ),
    Command(
        name="status",
        summary="Version, archive size, sources' health, last poll",
        usage="/status",
        help="Shows the bot's version, how many posts it holds, whether its sources are "
        "healthy and when it last polled them.",
        handler=status,
    ),
    Command(
        name="start",
        summary="Say hello (Telegram deep links subscribe in one tap)",
        usage="/start [subscribe_<category>]",
        help="Greets you. A link such as t.me/<bot>?start=subscribe_interviews subscribes a "
        "private chat to that category.",
        handler=start,
        args=(Arg("payload", "Deep-link payload", ArgKind.TEXT),),
        platforms=("telegram", "console"),
    ),
)
