"""Outbox payloads: the neutral reply a row will send, as JSON.

The row carries the rendered-to-be reply itself, not a pointer to the post. Why:

* a digest is a snapshot of what was new at its fire time (its window is closed in the same
  transaction), and an announcement's text is fixed once confirmed; storing the reply keeps
  every kind of row the same to the worker;
* the worker then needs no database read per send, which keeps the core's cost per message
  small when a broadcast runs at hundreds of messages a second;
* a row resent after a crash sends exactly what was claimed, whatever happened to the post.

An edit to a post's title after its fan-out is therefore not reflected in messages still
queued; they show the post as it was when published, which is also what chats that already
received it saw.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from kcrush_bot.core.replies import Button, Cards, ListItem, ListPage, Reply, TeaserCard, Text


def _card(card: TeaserCard) -> dict[str, Any]:
    return {
        "title": card.title,
        "teaser": card.teaser,
        "url": card.url,
        "categories": list(card.categories),
        "published_at": card.published_at.isoformat() if card.published_at else None,
        "image_url": card.image_url,
    }


def _buttons(buttons: tuple[Button, ...]) -> list[dict[str, str]]:
    return [{"label": b.label, "action": b.action} for b in buttons]


def encode_reply(reply: Reply) -> dict[str, Any]:
    """A JSON-able dict for the replies the publisher sends: cards, text, list pages."""
    if isinstance(reply, Cards):
        return {"type": "cards", "intro": reply.intro, "cards": [_card(c) for c in reply.cards]}
    if isinstance(reply, Text):
        return {
            "type": "text",
            "text": reply.text,
            "title": reply.title,
            "buttons": _buttons(reply.buttons),
        }
    if isinstance(reply, ListPage):
        return {
            "type": "list",
            "title": reply.title,
            "items": [{"title": i.title, "url": i.url, "detail": i.detail} for i in reply.items],
            "page": reply.page,
            "pages": reply.pages,
            "total": reply.total,
            "footer": reply.footer,
            "buttons": _buttons(reply.buttons),
        }
    raise TypeError(f"the publisher does not send {type(reply).__name__} replies")


def decode_reply(data: dict[str, Any]) -> Reply:
    kind = data.get("type")
    if kind == "cards":
        return Cards(
            cards=tuple(
                TeaserCard(
                    title=c["title"],
                    teaser=c["teaser"],
                    url=c["url"],
                    categories=tuple(c["categories"]),
                    published_at=(
                        datetime.fromisoformat(c["published_at"]) if c["published_at"] else None
                    ),
                    image_url=c["image_url"],
                )
                for c in data["cards"]
            ),
            intro=data.get("intro"),
        )
    if kind == "text":
        return Text(
            data["text"],
            title=data.get("title"),
            buttons=tuple(Button(b["label"], b["action"]) for b in data.get("buttons", [])),
        )
    if kind == "list":
        return ListPage(
            title=data["title"],
            items=tuple(ListItem(i["title"], i.get("url"), i.get("detail")) for i in data["items"]),
            page=data.get("page", 1),
            pages=data.get("pages", 1),
            total=data.get("total"),
            footer=data.get("footer"),
            buttons=tuple(Button(b["label"], b["action"]) for b in data.get("buttons", [])),
        )
    raise ValueError(f"unknown payload type {kind!r}")


def payload_of(reply: Reply) -> dict[str, Any]:
    return {"reply": encode_reply(reply)}


def reply_of(payload: str) -> Reply:
    return decode_reply(json.loads(payload)["reply"])
