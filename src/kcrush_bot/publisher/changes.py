"""A post's life after its messages went out: edits and withdrawals reach every message sent.

The store marks a post *touched* when something about it must reach the chats: a visible edit
(title, teaser, image, link, date, categories), a withdrawal, a return. ``plan`` turns the
touched posts and their outbox rows into what the outbox must do, by the post's state now (so
an edit and its undo within the debounce cancel out, and a withdrawal and a return merge):

* public: a queued delivery takes the new card; a delivered message whose card differs from
  what it shows gets one edit row per chat (``edit:ID``), due ``[delivery] edit_debounce``
  after the change, later changes merging into it; a message deleted when the post was
  withdrawn is delivered again (and a delivery dropped then is queued again), a tombstone is
  edited back to the card. A chat that never got the post gets nothing.
* withdrawn: queued deliveries and edits are dropped; delivered messages get a withdrawal row
  (``withdraw:ID``), due now, per ``[delivery] on_unpublish``: ``delete``, ``tombstone`` or
  ``keep`` (nothing).

The delivery worker performs those rows like sends (same pacing, retries, crash safety: a
row cut off by a crash is done again at start, and editing to what is shown already, or
deleting what is gone, succeeds). A platform that will not delete a message (Telegram, after
48 hours in private chats and basic groups) gets it edited to a tombstone instead. What the
message shows afterwards is recorded on the delivery's row with the outcome.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kcrush_bot.core.errors import CannotDelete, MessageGone
from kcrush_bot.core.models import ChatRef, Post
from kcrush_bot.core.ports import Platform
from kcrush_bot.core.replies import Cards, Reply, TeaserCard, Text
from kcrush_bot.publisher.enqueue import sort_key
from kcrush_bot.publisher.payloads import decode_reply, encode_reply, payload_of
from kcrush_bot.settings import DeliverySettings
from kcrush_bot.storage.outbox import NewRow, PostMessage, PostPlan, Shown

TOMBSTONE = "This post was withdrawn."

# What a post's delivered message shows (``outbox.shown``): NULL the card it was sent with (or
# edited to); these once a withdrawal reached it, or it vanished on its own.
DELETED = "deleted"
TOMBSTONED = "tombstone"
GONE = "gone"

WITHDRAWN_REASON = "withdrawn"  # last_error of a delivery dropped because its post was


@dataclass(frozen=True, slots=True)
class Edit:
    """Show ``reply`` in the messages ``message_ids`` made by delivery row ``target``."""

    target: int
    message_ids: tuple[str, ...]
    reply: Reply


@dataclass(frozen=True, slots=True)
class Withdraw:
    """Delete (``mode`` "delete") or tombstone the messages of delivery row ``target``."""

    target: int
    message_ids: tuple[str, ...]
    mode: str


def tombstone() -> Reply:
    return Text(TOMBSTONE)


def action_of(payload: str) -> Reply | Edit | Withdraw:
    """What an outbox row asks for: a reply to send, or an edit or withdrawal."""
    data = json.loads(payload)
    if "edit" in data:
        edit = data["edit"]
        return Edit(int(edit["target"]), tuple(edit["ids"]), decode_reply(edit["reply"]))
    if "withdraw" in data:
        gone = data["withdraw"]
        return Withdraw(int(gone["target"]), tuple(gone["ids"]), str(gone["mode"]))
    return decode_reply(data["reply"])


async def perform(
    platform: Platform, chat: ChatRef, action: Reply | Edit | Withdraw
) -> tuple[list[str], Shown | None]:
    """Do what a row asks; the message ids to record, and what its post's message shows now.

    Raises the platform's delivery errors, for the worker to retry or give up as for sends.
    """
    if isinstance(action, Edit):
        try:
            await platform.edit(chat, action.message_ids, action.reply)
        except MessageGone:
            return [], Shown(action.target, None, GONE)
        payload = json.dumps(payload_of(action.reply), ensure_ascii=False, separators=(",", ":"))
        return list(action.message_ids), Shown(action.target, payload, None)
    if isinstance(action, Withdraw):
        if action.mode == "delete":
            try:
                await platform.delete(chat, action.message_ids)
            except MessageGone:
                return [], Shown(action.target, None, DELETED)
            except CannotDelete:
                pass  # too old to delete here: the message says the post was withdrawn
            else:
                return list(action.message_ids), Shown(action.target, None, DELETED)
        try:
            await platform.edit(chat, action.message_ids, tombstone())
        except MessageGone:
            return [], Shown(action.target, None, GONE)
        return list(action.message_ids), Shown(action.target, None, TOMBSTONED)
    return await platform.send(chat, action), None


def card_payload(post: Post, names: dict[str, str]) -> dict[str, Any]:
    """A post's delivery payload: its teaser card as the chats get it."""
    return payload_of(Cards((TeaserCard.from_post(post, names),)))


def _dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _same(stored: str, payload: dict[str, Any]) -> bool:
    try:
        return bool(json.loads(stored) == payload)
    except ValueError:
        return False


def plan(
    touched: Sequence[tuple[Post, datetime, bool]],
    rows: Sequence[PostMessage],
    names: dict[str, str],
    delivery: DeliverySettings,
    now: datetime,
) -> tuple[PostPlan, list[tuple[int, datetime]]]:
    """What the outbox must do for the touched posts, and the touches handled (a post with a
    row in flight waits for the next pass, so its outcome is known first)."""
    by_post: dict[int, list[PostMessage]] = defaultdict(list)
    for row in rows:
        by_post[row.post_id].append(row)
    result = PostPlan()
    handled: list[tuple[int, datetime]] = []
    window_start = now - timedelta(seconds=delivery.edit_window)
    for post, at, withdrawn in touched:
        assert post.id is not None
        mine = by_post.get(post.id, [])
        if any(r.status == "sending" for r in mine):
            continue
        handled.append((post.id, at))
        by_chat: dict[str, dict[str, PostMessage]] = defaultdict(dict)
        for row in mine:
            by_chat[row.chat_key][row.kind] = row
        card = card_payload(post, names)
        for chat_key, kinds in by_chat.items():
            if withdrawn:
                _withdrawn(result, post.id, chat_key, kinds, delivery, window_start, now)
            else:
                due = max(now, at + timedelta(seconds=delivery.edit_debounce))
                _public(result, post.id, chat_key, kinds, card, window_start, due, now)
    return result, handled


def _withdrawn(
    result: PostPlan,
    post_id: int,
    chat_key: str,
    kinds: dict[str, PostMessage],
    delivery: DeliverySettings,
    window_start: datetime,
    now: datetime,
) -> None:
    delivered, edit = kinds.get("post"), kinds.get("edit")
    if edit is not None and edit.status == "pending":
        result.drop.append((edit.id, WITHDRAWN_REASON))
    if delivered is None:
        return
    if delivered.status == "pending":
        result.drop.append((delivered.id, WITHDRAWN_REASON))
        return
    if (
        delivered.status != "sent"
        or delivered.shown is not None  # deleted, a tombstone already, or gone
        or not delivered.message_id
        or delivery.on_unpublish == "keep"
        or (delivered.sent_at is not None and delivered.sent_at < window_start)
    ):
        return
    payload = {
        "withdraw": {
            "target": delivered.id,
            "ids": delivered.message_id.split(","),
            "mode": delivery.on_unpublish,
        }
    }
    row = NewRow(f"withdraw:{post_id}", chat_key, payload, sort_key(now, "withdraw", post_id))
    result.arm.append((row, now))


def _public(
    result: PostPlan,
    post_id: int,
    chat_key: str,
    kinds: dict[str, PostMessage],
    card: dict[str, Any],
    window_start: datetime,
    due: datetime,
    now: datetime,
) -> None:
    delivered, edit, gone = kinds.get("post"), kinds.get("edit"), kinds.get("withdraw")
    if gone is not None and gone.status == "pending":
        result.drop.append((gone.id, "restored"))
    if delivered is None:
        return
    if delivered.status == "pending":
        if not _same(delivered.payload, card):
            result.refresh.append((delivered.id, _dumps(card)))
        return
    if delivered.status == "dropped":
        if delivered.last_error == WITHDRAWN_REASON:
            result.resend.append((delivered.id, _dumps(card)))
        return
    if delivered.status != "sent":
        return
    if delivered.shown == DELETED:
        result.resend.append((delivered.id, _dumps(card)))
        if edit is not None and edit.status == "pending":
            result.drop.append((edit.id, "delivered again"))
        return
    if delivered.shown == GONE or not delivered.message_id:
        return
    if delivered.sent_at is not None and delivered.sent_at < window_start:
        return
    if delivered.shown is None and _same(delivered.payload, card):
        # Nothing the chat sees would change (or a change was undone): no edit.
        if edit is not None and edit.status == "pending":
            result.drop.append((edit.id, "nothing visible changed"))
        return
    when = now if delivered.shown == TOMBSTONED else due
    payload = {
        "edit": {
            "target": delivered.id,
            "ids": delivered.message_id.split(","),
            "reply": encode_reply(Cards((_card_of(card),))),
        }
    }
    row = NewRow(f"edit:{post_id}", chat_key, payload, sort_key(when, "edit", post_id))
    result.arm.append((row, when))


def _card_of(payload: dict[str, Any]) -> TeaserCard:
    reply = decode_reply(payload["reply"])
    assert isinstance(reply, Cards)
    return reply.cards[0]
