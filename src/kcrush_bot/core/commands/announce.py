"""Moderators' announcements: ``announce <text> [#category]``, previewed, then confirmed.

The draft is stored first; the confirm button carries only its id. Confirming checks the
caller's rights again (button data can be forged) and moves the draft to ``confirmed`` exactly
once; the publisher then delivers it through the outbox. Both steps are audit-logged.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from kcrush_bot.core.categories import CategoryIndex, ancestors
from kcrush_bot.core.commands.registry import Arg, ArgKind, Command, Invocation
from kcrush_bot.core.commands.service import CommandService
from kcrush_bot.core.errors import BadInput, NotFound
from kcrush_bot.core.models import Announcement, ChatRef, Subscription
from kcrush_bot.core.permissions import Access, Caller
from kcrush_bot.core.replies import Button, Confirm, Reply, Text

MAX_ANNOUNCEMENT_CHARS = 1500


def audience(
    subscriptions: Iterable[Subscription], category: str | None, index: CategoryIndex
) -> list[ChatRef]:
    """The chats an announcement reaches: every actively subscribed chat, or a category's."""
    wanted = ancestors(index, category) if category else None
    chats = {s.chat for s in subscriptions if s.active and (wanted is None or s.category in wanted)}
    return sorted(chats)


async def draft(
    service: CommandService,
    text: str,
    category: str | None,
    *,
    actor: str,
    scheduled_for: datetime | None = None,
) -> list[Reply]:
    if not text:
        raise BadInput("Write the announcement after the command: /announce <text> [#category].")
    if len(text) > MAX_ANNOUNCEMENT_CHARS:
        raise BadInput(
            f"An announcement holds at most {MAX_ANNOUNCEMENT_CHARS} characters "
            f"(this one has {len(text)})."
        )
    index = await service.categories()
    chats = audience(await service.store.chats.subscriptions(), category, index)
    if scheduled_for is not None and scheduled_for <= service.clock():
        raise BadInput("That time has passed: give a time in the future.")
    announcement_id = await service.store.announcements.create(
        text, category, actor, scheduled_for=scheduled_for
    )
    await service.store.announcements.audit(
        actor, "announce draft", detail={"id": announcement_id, "category": category}
    )
    where = f" subscribed to {index.name_of(category)}" if category else ""
    if scheduled_for is not None:
        where += f", at {scheduled_for:%Y-%m-%d %H:%M %Z}"
    return [
        Confirm(
            prompt=f"Send this announcement to {len(chats)} chat{'s' if len(chats) != 1 else ''}"
            f"{where}?",
            preview=Text(text, title="Announcement"),
            confirm=Button("Send", f"announce:confirm:{announcement_id}"),
            cancel=Button("Cancel", f"announce:cancel:{announcement_id}"),
        )
    ]


async def announce(call: Invocation) -> list[Reply]:
    words = call.text.split()
    category = None
    # A trailing #category names the audience; an unknown #tag stays part of the text.
    if words and words[-1].startswith("#") and len(words[-1]) > 1:
        index = await call.service.categories()
        category = index.resolve(words[-1])
        if category is not None:
            words.pop()
    text = call.text if category is None else call.text[: call.text.rfind("#")].rstrip()
    return await draft(call.service, text, category, actor=call.caller.actor)


async def decide(
    service: CommandService, caller: Caller, announcement_id: int, *, confirm: bool
) -> list[Reply]:
    service.check_access(caller, Access.MODERATOR)
    found = await service.store.announcements.get(announcement_id)
    if found is None:
        raise NotFound("That announcement no longer exists.")
    status = "confirmed" if confirm else "cancelled"
    if not await service.store.announcements.set_status(announcement_id, status):
        return [
            Text(f"Announcement #{announcement_id} was already {found.status}.", ephemeral=True)
        ]
    await service.store.announcements.audit(
        caller.actor, f"announce {status}", detail={"id": announcement_id}
    )
    if not confirm:
        return [
            Text(f"Announcement #{announcement_id} cancelled; nothing was sent.", ephemeral=True)
        ]
    service.wake_delivery()
    chats = audience(
        await service.store.chats.subscriptions(), found.category, await service.categories()
    )
    return [
        Text(f"Announcement #{announcement_id} {fate(service, found, len(chats))}", ephemeral=True)
    ]


def fate(service: CommandService, found: Announcement, chats: int) -> str:
    """What will really happen to a confirmed announcement, said exactly."""
    audience_now = f"{chats} chat{'s' if chats != 1 else ''}"
    if found.scheduled_for is not None and found.scheduled_for > service.clock():
        when = found.scheduled_for.astimezone(ZoneInfo(service.config.timezone))
        return (
            f"is scheduled for {when:%Y-%m-%d %H:%M %Z}: it will go to the chats "
            f"subscribed then ({audience_now} today)."
        )
    if service.delivers:
        return f"confirmed: on its way to {audience_now}."
    return (
        f"confirmed and queued for {audience_now}: this process delivers nothing, so it goes "
        "out when `kcrush-bot run` is running (within a minute if one is)."
    )


async def waiting(service: CommandService) -> list[Announcement]:
    """Confirmed announcements that have not gone out yet (scheduled, or no bot running)."""
    return await service.store.announcements.waiting()


async def cancel(service: CommandService, announcement_id: int, *, actor: str) -> str:
    """Cancel an announcement that has not gone out; says what happened."""
    found = await service.store.announcements.get(announcement_id)
    if found is None:
        raise NotFound(f"There is no announcement #{announcement_id}.")
    if not await service.store.announcements.cancel(announcement_id):
        raise BadInput(
            f"Announcement #{announcement_id} can no longer be cancelled: it is {found.status}"
            + (" and has gone out." if found.status == "confirmed" else ".")
        )
    await service.store.announcements.audit(
        actor, "announce cancelled", detail={"id": announcement_id}
    )
    return f"Announcement #{announcement_id} cancelled; nothing was sent."


COMMANDS = (
    Command(
        name="announce",
        summary="Moderators: send an announcement to every subscribed chat",
        usage="/announce <text> [#category]",
        help="Previews the announcement and asks for confirmation; once confirmed it goes to "
        "every subscribed chat, or only to chats subscribed to the #category you end it with. "
        "Moderators only; every announcement is logged.",
        handler=announce,
        access=Access.MODERATOR,
        args=(
            Arg("text", "The announcement", ArgKind.TEXT, required=True),
            Arg("category", "Only chats subscribed to this category", ArgKind.CATEGORY, prefix="#"),
        ),
        examples=("/announce Our interview with KNK goes live tonight! #interviews",),
    ),
)
