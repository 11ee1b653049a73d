"""Editing and deleting messages the bot sent: what a changed or withdrawn post needs.

Telegram keeps a message's kind: a text message stays text and a photo stays a photo (a photo's
caption is its text, up to 1,024 characters). So an edit is tried as the new card's kind and,
when Telegram answers that the message is of the other kind, done as that kind:

* a card with an image: ``editMessageMedia`` (photo and caption); on a text message the text is
  edited instead and the image cannot be added; an image Telegram cannot fetch keeps the old
  photo and changes the caption;
* a card without an image, or a text (a tombstone): ``editMessageText``; on a photo message
  the caption is edited and the old photo stays (a photo cannot be removed).

"Message is not modified" is success: the message already shows the card. A message that is
no longer there is ``MessageGone``. ``deleteMessage`` refused ("message can't be deleted": a
message older than 48 hours in a private chat or a basic group, where the bot may not delete
others' messages) is ``CannotDelete``, and the publisher edits it into a tombstone instead.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from telegram import Bot
from telegram.error import BadRequest, TelegramError

from kcrush_bot.core.errors import CannotDelete, MessageGone
from kcrush_bot.core.render.telegram import TelegramCall, render_card, render_reply
from kcrush_bot.core.replies import Cards, Reply, TeaserCard
from kcrush_bot.platforms.telegram import errors

log = logging.getLogger(__name__)

_GONE = ("message to edit not found", "message to delete not found", "message_id_invalid")
_CANNOT_DELETE = ("message can't be deleted",)
_IS_PHOTO = ("there is no text in the message to edit",)
_IS_TEXT = ("there is no media in the message to edit", "there is no caption in the message")


@dataclasses.dataclass(frozen=True, slots=True)
class _Shape:
    """One message of a reply in both of Telegram's kinds: as text, and as a photo caption."""

    text: str
    caption: str
    photo: str | None = None


def _has(exc: TelegramError, fragments: Sequence[str]) -> bool:
    return isinstance(exc, BadRequest) and any(f in exc.message.lower() for f in fragments)


def _card_shape(card: TeaserCard) -> _Shape:
    as_text = render_card(dataclasses.replace(card, image_url=None))
    # The caption form (cut to 1,024 characters) is what render_card makes for a card with an
    # image; a card without one borrows its own link as the image to get it.
    as_photo = render_card(
        card if card.image_url else dataclasses.replace(card, image_url=card.url)
    )
    return _Shape(
        as_text.params["text"],
        as_photo.params.get("caption", ""),
        as_photo.params["photo"] if card.image_url and as_photo.method == "sendPhoto" else None,
    )


def _call_shape(call: TelegramCall) -> _Shape:
    text = str(call.params.get("text") or call.params.get("caption") or "")
    return _Shape(text, text)


def shapes(reply: Reply) -> list[_Shape]:
    """Each message ``reply`` takes, in order, in both kinds."""
    if isinstance(reply, Cards) and not reply.intro:
        return [_card_shape(card) for card in reply.cards]
    return [_call_shape(call) for call in render_reply(reply)]


async def _request(bot: Bot, method: str, params: dict[str, Any]) -> None:
    try:
        await bot.do_api_request(method, api_kwargs=params)
    except TelegramError as exc:
        if errors.is_not_modified(exc):
            return  # it shows this already
        raise


async def _edit_text(bot: Bot, base: dict[str, Any], shape: _Shape) -> None:
    params = {**base, "text": shape.text, "parse_mode": "HTML"}
    try:
        await _request(bot, "editMessageText", params)
    except TelegramError as exc:
        if not _has(exc, _IS_PHOTO):
            raise
        # A photo message: its caption is its text, and the photo stays.
        await _request(
            bot, "editMessageCaption", {**base, "caption": shape.caption, "parse_mode": "HTML"}
        )


async def _edit_one(bot: Bot, base: dict[str, Any], shape: _Shape) -> None:
    if shape.photo is None:
        await _edit_text(bot, base, shape)
        return
    media = {"type": "photo", "media": shape.photo, "caption": shape.caption, "parse_mode": "HTML"}
    try:
        await _request(bot, "editMessageMedia", {**base, "media": media})
    except TelegramError as exc:
        if _has(exc, _IS_TEXT):
            await _edit_text(bot, base, shape)  # a text message cannot gain a photo
        elif errors.photo_rejected(exc):
            log.info("telegram: new image refused (%s); editing the text only", exc)
            await _edit_text(bot, base, shape)
        else:
            raise


async def edit_messages(
    bot: Bot, chat_id: int | str, message_ids: Sequence[str], reply: Reply
) -> None:
    """Make the messages ``message_ids`` show ``reply`` (see the module docstring)."""
    gone = 0
    for message_id, shape in zip(message_ids, shapes(reply), strict=False):
        base = {"chat_id": chat_id, "message_id": int(message_id)}
        try:
            await _edit_one(bot, base, shape)
        except TelegramError as exc:
            if _has(exc, _GONE):
                gone += 1
                continue
            raise errors.translate(exc) from exc
    if message_ids and gone == len(message_ids):
        raise MessageGone("Telegram: the message to edit is gone")


async def delete_messages(bot: Bot, chat_id: int | str, message_ids: Sequence[str]) -> None:
    """Delete the messages ``message_ids``; ``CannotDelete`` when Telegram refuses."""
    gone = 0
    for message_id in message_ids:
        try:
            await bot.do_api_request(
                "deleteMessage", api_kwargs={"chat_id": chat_id, "message_id": int(message_id)}
            )
        except TelegramError as exc:
            if _has(exc, _GONE):
                gone += 1
                continue
            if _has(exc, _CANNOT_DELETE):
                raise CannotDelete(f"Telegram: {exc.message}") from exc
            raise errors.translate(exc) from exc
    if message_ids and gone == len(message_ids):
        raise MessageGone("Telegram: the message to delete is gone")
