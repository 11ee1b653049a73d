"""The chat's digest schedule: ``digest [daily|weekly|off|preview] [day] [HH:MM] [timezone]``."""

from __future__ import annotations

from kcrush_bot.core.commands.registry import Arg, ArgKind, Command, Invocation
from kcrush_bot.core.commands.service import CommandService
from kcrush_bot.core.digests import assemble_digest
from kcrush_bot.core.errors import BadInput
from kcrush_bot.core.models import ChatRef, DigestSchedule, Mode
from kcrush_bot.core.permissions import Access
from kcrush_bot.core.replies import Reply, Text
from kcrush_bot.core.times import parse_clock_time, parse_timezone

# Day names, not numbers: cron libraries disagree on whether 0 is Sunday or Monday.
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ACTIONS = ("daily", "weekly", "off", "preview")
# After daily|weekly: "both" keeps each post coming as well; "only" makes it digest-only again.
DELIVERY_WORDS = ("both", "only")


async def preview(
    service: CommandService, chat: ChatRef, *, how_to_set: str = "/digest daily sets one"
) -> list[Reply]:
    """What the chat's next digest would hold, assembled as the publisher assembles it.

    A chat without a digest is told so (and how to set one, ``how_to_set``), then shown what
    a daily one would send, rather than "nothing new" that reads as if it had one.
    """
    schedules = await service.store.chats.digests(chat)
    schedule = schedules[0] if schedules else DigestSchedule(chat, Mode.DAILY)
    intro: list[Reply] = []
    if not schedules:
        intro = [Text(f"{chat.key} has no digest ({how_to_set}). A daily one would hold:")]
    digest = await assemble_digest(
        service.store,
        await service.categories(),
        schedule,
        service.clock(),
        max_items=service.config.digest_max_items,
        send_empty=False,
    )
    if not digest.replies:
        if intro:
            return [
                Text(f"{chat.key} has no digest ({how_to_set}), and nothing new to put in one.")
            ]
        return [Text("The next digest would be empty: nothing new since the last one.")]
    return [*intro, *digest.replies]


async def digest(call: Invocation) -> list[Reply]:
    service, chat = call.service, call.caller.chat
    words = call.words
    if not words:
        schedules = await service.store.chats.digests(chat)
        if not schedules:
            return [Text("This chat has no digest. Try /digest daily 09:00 Asia/Seoul.")]
        s = schedules[0]
        day = f"{s.weekday.title()} " if s.frequency is Mode.WEEKLY else ""
        return [Text(f"Digest: {s.frequency.value}, {day}{s.time} {s.timezone}.")]
    action = words.pop(0).lower()
    if action not in _ACTIONS:
        raise BadInput(
            "Write /digest daily|weekly [HH:MM] [timezone], /digest off or /digest preview."
        )
    if action == "preview":
        return await preview(service, chat)
    if action == "off":
        removed = await service.store.chats.clear_digest(chat)
        await service.store.announcements.audit(call.caller.actor, "digest off", chat=chat)
        if not removed:
            return [Text("This chat had no digest.", ephemeral=True)]
        # Without a digest, digest-only subscriptions would deliver nothing at all.
        slugs = await service.store.chats.set_delivery(chat, Mode.INSTANT)
        index = await service.categories()
        back = (
            f" {', '.join(index.name_of(s) for s in slugs)} arrive as they are published again."
            if slugs
            else ""
        )
        return [Text(f"Digest turned off.{back}", ephemeral=True)]
    frequency = Mode(action)
    current = await service.store.chats.digests(chat)
    # A later change keeps what it does not name: /digest weekly after /digest daily 08:00
    # Europe/Paris stays at 08:00 in Paris.
    if current:
        time, timezone, weekday = current[0].time, current[0].timezone, current[0].weekday
    else:
        time, timezone, weekday = service.config.digest_time, service.config.timezone, "mon"
    delivery: Mode | None = None
    for word in words[:5]:
        if (parsed := parse_clock_time(word)) is not None:
            time = parsed
        elif word.lower() in DELIVERY_WORDS:
            delivery = Mode.BOTH if word.lower() == "both" else frequency
        elif word.lower()[:3] in WEEKDAYS and frequency is Mode.WEEKLY:
            weekday = word.lower()[:3]
        elif (zone := parse_timezone(word)) is not None:
            timezone = zone
        else:
            raise BadInput(
                f"{word[:30]!r} is neither a time (HH:MM), a time zone (e.g. Asia/Seoul) nor "
                "'both' (the digest as well as each post)."
            )
    if delivery is None and not current:
        delivery = frequency  # a new digest replaces instant posts unless asked for both
    schedule = DigestSchedule(chat, frequency, time=time, timezone=timezone, weekday=weekday)
    await service.store.chats.set_digest(schedule)
    if delivery is not None:
        slugs = await service.store.chats.set_delivery(chat, delivery)
    else:
        slugs = [s.category for s in await service.store.chats.subscriptions(chat)]
    await service.store.announcements.audit(
        call.caller.actor,
        "digest",
        chat=chat,
        detail={
            "frequency": action,
            "time": time,
            "timezone": timezone,
            "delivery": delivery.value if delivery else "unchanged",
        },
    )
    when = f"every {weekday.title()}" if frequency is Mode.WEEKLY else "every day"
    said = f"Digest set: {when} at {time} {timezone}."
    if not slugs:
        return [
            Text(
                f"{said} This chat subscribes to nothing yet, so it would be empty: "
                "/subscribe interviews daily fills it.",
                ephemeral=True,
            )
        ]
    index = await service.categories()
    names = ", ".join(index.name_of(s) for s in slugs)
    subs = await service.store.chats.subscriptions(chat)
    if all(s.mode is Mode.BOTH for s in subs):
        how = f"{names} arrive as they are published and again in the digest."
    elif all(s.mode in (Mode.DAILY, Mode.WEEKLY) for s in subs):
        how = (
            f"{names} now arrive only in the digest, not as they are published "
            "(add 'both' to get each post as well)."
        )
    else:
        how = "Subscriptions keep their own delivery: /subscriptions shows each."
    return [Text(f"{said} {how}", ephemeral=True)]


COMMANDS = (
    Command(
        name="digest",
        summary="Set this chat's daily or weekly digest, or preview it",
        usage="/digest [daily|weekly|off|preview] [day] [HH:MM] [timezone] [both]",
        help="Collects new posts into one message a day or a week, at the time and time zone "
        "you give (default 09:00 Asia/Seoul), instead of each post as it is published; add "
        "'both' to get each post as well. A later /digest changes only what you name. "
        "/digest preview shows what the next one would hold; /digest off stops it and brings "
        "each post back.",
        handler=digest,
        access=Access.CHAT_ADMIN,
        args=(
            Arg("action", "daily, weekly, off or preview", ArgKind.CHOICE, choices=_ACTIONS),
            Arg("time", "HH:MM, e.g. 08:00", ArgKind.TEXT),
            Arg("timezone", "A time zone, e.g. Asia/Seoul", ArgKind.TEXT),
        ),
        examples=(
            "/digest daily 08:00 Asia/Seoul",
            "/digest weekly fri 18:00",
            "/digest daily both",
            "/digest preview",
        ),
    ),
)
