"""What a chat receives: ``subscribe``, ``unsubscribe`` and ``subscriptions``."""

from __future__ import annotations

from kcrush_bot.core.commands.registry import Arg, ArgKind, Command, Invocation
from kcrush_bot.core.commands.service import CHAT_CATEGORIES, CommandService
from kcrush_bot.core.errors import BadInput
from kcrush_bot.core.models import ChatRef, DigestSchedule, Mode
from kcrush_bot.core.permissions import Access, Caller
from kcrush_bot.core.replies import Reply, Text

MODES = {m.value: m for m in Mode}
MAX_CATEGORIES = 10
MAX_KEYWORDS = 5
MAX_KEYWORD_CHARS = 40


def split_keywords(words: list[str]) -> tuple[list[str], list[str]]:
    """Words before the first ``+word``, and the keywords from it on (``+`` dropped)."""
    for index, word in enumerate(words):
        if word.startswith("+"):
            keywords = [w.lstrip("+") for w in words[index:]]
            keywords = [k for k in keywords if k]
            if len(keywords) > MAX_KEYWORDS or any(len(k) > MAX_KEYWORD_CHARS for k in keywords):
                raise BadInput(
                    f"Give at most {MAX_KEYWORDS} keywords of up to {MAX_KEYWORD_CHARS} "
                    "characters each."
                )
            return list(words[:index]), keywords
    return list(words), []


def describe_mode(mode: Mode) -> str:
    return {
        Mode.INSTANT: "each new post as it is published",
        Mode.DAILY: "in a daily digest",
        Mode.WEEKLY: "in a weekly digest",
        Mode.BOTH: "each new post as it is published, and in the digest",
    }[mode]


async def subscribe_chat(
    service: CommandService,
    chat: ChatRef,
    words: list[str],
    *,
    actor: str,
    caller: Caller | None = None,
    listed_by: str = CHAT_CATEGORIES,
) -> list[Reply]:
    """Shared by the chat command, deep links and the operator's shell.

    ``words``: categories, an optional mode, then optional keywords after a ``+``
    (``kpop daily +stray kids``: only K-Pop posts that mention both words).
    """
    words, keywords = split_keywords(words)
    mode = Mode.INSTANT
    if words and words[-1].lower() in MODES:
        mode = MODES[words.pop().lower()]
    if len(words) > MAX_CATEGORIES:
        raise BadInput(f"Subscribe to at most {MAX_CATEGORIES} categories at once.")
    slugs: list[str] = []
    for word in words or [service.config.default_category]:
        slug = await service.resolve_category(word, listed_by=listed_by)
        if slug not in slugs:
            slugs.append(slug)
    await service.store.chats.subscribe(
        chat,
        slugs,
        mode,
        keywords=keywords,
        title=caller.chat_title if caller else None,
        kind=caller.chat_kind if caller else None,
    )
    if mode is not Mode.INSTANT and not await service.store.chats.digests(chat):
        await service.store.chats.set_digest(
            DigestSchedule(
                chat,
                mode,
                time=service.config.digest_time,
                timezone=service.config.timezone,
            )
        )
    await service.store.announcements.audit(
        actor,
        "subscribe",
        chat=chat,
        detail={"categories": slugs, "mode": mode.value, "keywords": keywords},
    )
    index = await service.categories()
    names = ", ".join(index.name_of(s) for s in slugs)
    extra = ""
    if mode is not Mode.INSTANT:
        digest = (await service.store.chats.digests(chat))[0]
        extra = f" The digest goes out at {digest.time} {digest.timezone}; /digest changes that."
    only = f" (only posts mentioning {' '.join(keywords)})" if keywords else ""
    return [Text(f"Subscribed to {names}{only}: {describe_mode(mode)}.{extra}", ephemeral=True)]


async def subscribe(call: Invocation) -> list[Reply]:
    return await subscribe_chat(
        call.service, call.caller.chat, call.words, actor=call.caller.actor, caller=call.caller
    )


async def unsubscribe_chat(
    service: CommandService,
    chat: ChatRef,
    words: list[str],
    *,
    actor: str,
    listed_by: str = CHAT_CATEGORIES,
) -> list[Reply]:
    if not words or (len(words) == 1 and words[0].lower() == "all"):
        removed = await service.store.chats.unsubscribe(chat, None)
        await service.store.announcements.audit(actor, "unsubscribe", chat=chat, detail="all")
        if not removed:
            return [Text("This chat had no subscriptions.", ephemeral=True)]
        return [Text("Unsubscribed from everything. /subscribe brings posts back.", ephemeral=True)]
    slugs = [await service.resolve_category(w, listed_by=listed_by) for w in words[:MAX_CATEGORIES]]
    removed = await service.store.chats.unsubscribe(chat, slugs)
    await service.store.announcements.audit(
        actor, "unsubscribe", chat=chat, detail={"categories": slugs}
    )
    index = await service.categories()
    names = ", ".join(index.name_of(s) for s in slugs)
    if not removed:
        return [Text(f"This chat was not subscribed to {names}.", ephemeral=True)]
    return [Text(f"Unsubscribed from {names}.", ephemeral=True)]


async def unsubscribe(call: Invocation) -> list[Reply]:
    return await unsubscribe_chat(
        call.service, call.caller.chat, call.words, actor=call.caller.actor
    )


async def describe_subscriptions(service: CommandService, chat: ChatRef) -> str:
    subs = await service.store.chats.subscriptions(chat)
    if not subs:
        return "This chat has no subscriptions. /subscribe starts with interviews."
    index = await service.categories()
    lines = ["This chat gets:"]
    for sub in subs:
        line = f"• {index.name_of(sub.category)}: {describe_mode(sub.mode)}"
        if sub.keywords:
            line += f" (only posts mentioning {' '.join(sub.keywords)})"
        if not sub.active:
            line += f" — paused: {sub.inactive_reason or 'unreachable'}"
        lines.append(line)
    for digest in await service.store.chats.digests(chat):
        when = f"{digest.weekday.title()} " if digest.frequency is Mode.WEEKLY else ""
        lines.append(f"Digest: {digest.frequency.value}, {when}{digest.time} {digest.timezone}.")
    return "\n".join(lines)


async def subscriptions(call: Invocation) -> list[Reply]:
    return [Text(await describe_subscriptions(call.service, call.caller.chat))]


COMMANDS = (
    Command(
        name="subscribe",
        summary="Get new posts in this chat (interviews unless you name categories)",
        usage="/subscribe [category…] [instant|daily|weekly|both] [+keyword…]",
        help="Subscribes this chat to new posts of the categories you name (interviews when you "
        "name none), each as it is published, or collected in a daily or weekly digest. "
        "Words after a + narrow it to posts that mention all of them "
        "(/subscribe kpop +stray kids). Chat admins only, except in a private chat.",
        handler=subscribe,
        access=Access.CHAT_ADMIN,
        args=(
            Arg("categories", "Categories, separated by spaces", ArgKind.CATEGORY),
            Arg("mode", "How posts arrive", ArgKind.CHOICE, choices=tuple(MODES)),
            Arg("keywords", "Only posts mentioning all these words", ArgKind.TEXT, prefix="+"),
        ),
        examples=("/subscribe", "/subscribe kpop k-dramas daily", "/subscribe kpop +stray kids"),
    ),
    Command(
        name="unsubscribe",
        summary="Stop some or all posts in this chat",
        usage="/unsubscribe [category…|all]",
        help="Removes this chat's subscriptions to the categories you name, or all of them.",
        handler=unsubscribe,
        access=Access.CHAT_ADMIN,
        args=(Arg("categories", "Categories, or all", ArgKind.CATEGORY),),
        examples=("/unsubscribe kpop", "/unsubscribe all"),
    ),
    Command(
        name="subscriptions",
        summary="What this chat is subscribed to",
        usage="/subscriptions",
        help="Lists this chat's subscriptions and its digest schedule.",
        handler=subscriptions,
    ),
)
