"""The renderer's message JSON turned into discord.py's objects, and buttons that outlive us.

``core.render.discord`` produces plain payloads (content, embeds, components, flags). discord.py
wants ``Embed`` and ``ui.View`` objects, so this module converts them, and nothing more: what
a message says is decided by the core and the renderer.

Buttons are :class:`ActionButton` dynamic items. Their ``custom_id`` is the core's action
string, and discord.py rebuilds the item from the ``custom_id`` of any pressed button (see
``Client.add_dynamic_items``). So no view has to be kept in memory per message, and buttons
keep working after a restart; an action the core no longer knows answers "expired".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import discord

if TYPE_CHECKING:
    from kcrush_bot.platforms.discord.adapter import KcrushClient

EPHEMERAL = 64
NO_MENTIONS = discord.AllowedMentions.none()


class ActionButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=re.compile(r"(?P<action>[^\x00-\x1f]{1,100})"),
):
    """A button whose ``custom_id`` is a core action (``search:<token>:2``, ``announce:…``)."""

    def __init__(
        self,
        action: str,
        *,
        label: str = "•",
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
        row: int | None = None,
    ) -> None:
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=action, row=row))
        self.action = action

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> ActionButton:
        return cls(match["action"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        client: KcrushClient = interaction.client
        if client.platform is None:  # a client built only to sync commands
            return
        await client.platform.on_button(interaction, self.action)


def is_ephemeral(payload: Mapping[str, Any]) -> bool:
    return bool(int(payload.get("flags") or 0) & EPHEMERAL)


def embeds_of(payload: Mapping[str, Any]) -> list[discord.Embed]:
    return [discord.Embed.from_dict(embed) for embed in payload.get("embeds") or ()]


def view_of(components: Sequence[Mapping[str, Any]]) -> discord.ui.View | None:
    """A view holding the payload's buttons, or None when it has none.

    The view is stopped before it is sent: discord.py then does not keep it in its view store
    (one per message, for ever, since our buttons never time out). Presses reach
    :class:`ActionButton` through the dynamic-item registry instead.
    """
    view = discord.ui.View(timeout=None)
    for row_number, row in enumerate(components):
        for button in row.get("components") or ():
            custom_id = button.get("custom_id")
            if not custom_id:
                continue
            view.add_item(
                ActionButton(
                    custom_id,
                    label=button.get("label") or "•",
                    style=discord.ButtonStyle(int(button.get("style") or 2)),
                    row=row_number,
                )
            )
    if not view.children:
        return None
    view.stop()
    return view


def send_kwargs(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``send``/``send_message``/``followup.send``: only what is set."""
    kwargs: dict[str, Any] = {"allowed_mentions": NO_MENTIONS}
    if payload.get("content"):
        kwargs["content"] = payload["content"]
    embeds = embeds_of(payload)
    if embeds:
        kwargs["embeds"] = embeds
    view = view_of(payload.get("components") or ())
    if view is not None:
        kwargs["view"] = view
    return kwargs


def edit_kwargs(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments to replace a message with ``payload``: absent parts are cleared."""
    return {
        "content": payload.get("content") or None,
        "embeds": embeds_of(payload),
        "view": view_of(payload.get("components") or ()),
        "allowed_mentions": NO_MENTIONS,
    }
