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


async def preview(service: CommandService, chat: ChatRef) -> list[Reply]:
    """What the chat's next digest would hold, assembled as the publisher assembles it (a
    chat without a schedule is shown what a daily one would send)."""
    schedules = await service.store.chats.digests(chat)
    schedule = schedules[0] if schedules else DigestSchedule(chat, Mode.DAILY)
    digest = await assemble_digest(
        service.store,
        await service.categories(),
        schedule,
        service.clock(),
        max_items=service.config.digest_max_items,
        send_empty=False,
    )
    if not digest.replies:
        return [Text("The next digest would be empty: nothing new since the last one.")]
    return digest.replies


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
        return [
            Text("Digest turned off." if removed else "This chat had no digest.", ephemeral=True)
        ]
    frequency = Mode(action)
    time, timezone, weekday = service.config.digest_time, service.config.timezone, "mon"
    for word in words[:4]:
        if (parsed := parse_clock_time(word)) is not None:
            time = parsed
        elif word.lower()[:3] in WEEKDAYS and frequency is Mode.WEEKLY:
            weekday = word.lower()[:3]
        elif (zone := parse_timezone(word)) is not None:
            timezone = zone
        else:
            raise BadInput(
                f"{word[:30]!r} is neither a time (HH:MM) nor a time zone (e.g. Asia/Seoul)."
            )
    schedule = DigestSchedule(chat, frequency, time=time, timezone=timezone, weekday=weekday)
    await service.store.chats.set_digest(schedule)
    await service.store.announcements.audit(
        call.caller.actor,
        "digest",
        chat=chat,
        detail={"frequency": action, "time": time, "timezone": timezone},
    )
    day = f"every {weekday.title()} " if frequency is Mode.WEEKLY else "every day "
    return [
        Text(
            f"Digest set: {day}at {time} {timezone}. Subscriptions with the daily or weekly "
            "mode are collected into it.",
            ephemeral=True,
        )
    ]


COMMANDS = (
    Command(
        name="digest",
        summary="Set this chat's daily or weekly digest, or preview it",
        usage="/digest [daily|weekly|off|preview] [day] [HH:MM] [timezone]",
        help="Collects new posts into one message a day or a week, at the time and time zone "
        "you give (default 09:00 Asia/Seoul). /digest preview shows what the next one would "
        "hold; /digest off stops it.",
        handler=digest,
        access=Access.CHAT_ADMIN,
        args=(
            Arg("action", "daily, weekly, off or preview", ArgKind.CHOICE, choices=_ACTIONS),
            Arg("time", "HH:MM, e.g. 08:00", ArgKind.TEXT),
            Arg("timezone", "A time zone, e.g. Asia/Seoul", ArgKind.TEXT),
        ),
        examples=("/digest daily 08:00 Asia/Seoul", "/digest weekly fri 18:00", "/digest preview"),
    ),
)
