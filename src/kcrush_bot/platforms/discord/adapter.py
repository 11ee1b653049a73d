"""The Discord platform: discord.py 2.7 ``Client``, slash commands, buttons, and the send side.

It translates and nothing else. An interaction becomes a ``Caller`` and an argument line for
``CommandService.dispatch``; a button press becomes ``handle_action``; the core's replies are
rendered by ``core.render.discord`` and sent as they are. Permissions are decided by the core
from the facts gathered here (the member's permissions in the channel, their roles).

Lifecycle: ``async with DiscordPlatform(...)`` logs in over REST and starts the gateway as
tasks of the running event loop (never ``Client.run``); leaving closes both. Commands are not
synced on start: Discord limits command creations per day, so syncing is the explicit
``kcrush-bot discord sync`` step (:func:`sync_commands`).

Shards (``[discord] shards``). The platform's own client only logs in over REST: every
delivery, edit and deletion goes through it, whichever shards this process holds. The gateway
is one client per held shard (``platforms.discord.gateway`` says why not an
``AutoShardedClient``), each with its own command tree from the same registry. Alone, the
platform holds every shard; among replicas (``share_shards``) it holds those
``kcrush_bot.replicas_shards`` tells it to (``hold_shards``). At start it asks ``GET
/gateway/bot`` how many IDENTIFYs Discord allows at once, and warns when Discord recommends
more shards than are configured.

Endpoints come from settings: ``[discord] api_base`` becomes ``discord.http.Route.BASE`` and
``[discord] gateway_url`` becomes ``DiscordWebSocket.DEFAULT_GATEWAY``. discord.py 2.7's
``Client.connect`` uses ``DEFAULT_GATEWAY`` directly (the URL ``GET /gateway/bot`` names is not
used); both are process-wide class attributes, so one Discord per process.

Fans first (DESIGN.md §1). discord.py runs every interaction as a task of its own; ``Handling``
keeps a channel's interactions in order and bounds how many run at once, and a command that is
not answered within ``defer_after`` (its turn included) is deferred, so Discord's 3-second
window is never missed. Every answer is an interaction response, a follow-up or an edit of
one: discord.py sends those through its webhook adapter with the interaction's token, not
through the bot's ``HTTPClient``, and Discord does not count interaction endpoints against
the bot's global 50 requests a second. They draw nothing from the broadcast's send budget, and
a global 429 on the broadcast does not hold them up. Stopping waits for the interactions in
hand (``stop_grace``), then disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Sequence
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands

from kcrush_bot.core.commands.registry import Arg, Command, Registry, join_options
from kcrush_bot.core.commands.service import CommandService
from kcrush_bot.core.errors import (
    BadInput,
    ConfigError,
    KcrushError,
    MessageGone,
    PermanentDelivery,
)
from kcrush_bot.core.models import ChatKind, ChatRef
from kcrush_bot.core.permissions import Access, Caller
from kcrush_bot.core.render.discord import render_reply
from kcrush_bot.core.replies import ErrorReply, Reply
from kcrush_bot.core.text import check_url
from kcrush_bot.platforms.discord.commands import (
    CHOICE_NAME_LIMIT,
    CHOICES_LIMIT,
    add_registry_commands,
)
from kcrush_bot.platforms.discord.errors import UNKNOWN_MESSAGE, translate
from kcrush_bot.platforms.discord.gateway import IDENTIFY_SPACING, IdentifyGate, ShardSession
from kcrush_bot.platforms.discord.messages import (
    NO_MENTIONS,
    ActionButton,
    edit_kwargs,
    is_ephemeral,
    send_kwargs,
)
from kcrush_bot.platforms.handling import Handling
from kcrush_bot.settings import DiscordSettings

log = logging.getLogger(__name__)

PLATFORM = "discord"
# The shortest wait discord.py accepts; a longer rate-limit wait raises discord.RateLimited
# instead of sleeping inside a send, so the outbox can reschedule the message and move on.
MAX_RATELIMIT_WAIT = 30.0
# Discord drops an interaction not answered within 3 s; past this we defer and answer later.
DEFER_AFTER = 2.0
# A send gives up after this long (discord.py's own retries of 429s and 5xx included) and is
# retried by the outbox: a stuck send must not hold the delivery worker.
SEND_TIMEOUT = 30.0
APOLOGY = "Something went wrong on my side; it has been logged. Try again."
RESTARTING = "I am restarting; try again in a minute."
_HTTP = ("http", "https")
# Interactions being handled at once (the rest wait, holding nothing), and of those how many
# may work the store at once (see the Telegram adapter).
MAX_HANDLING = 256
MAX_DISPATCHING = 8
STOP_GRACE = 10.0  # seconds stopping waits for the interactions in hand
LOGIN_RETRY = 30.0  # a shard's login, failing, is tried again at most this far apart


def intents() -> discord.Intents:
    """Only GUILDS: slash commands and buttons arrive without any intent; no privileged ones."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    return wanted


def apply_endpoints(settings: DiscordSettings) -> None:
    """Point discord.py at ``api_base`` and ``gateway_url`` (Discord's own by default)."""
    # Checked here too: settings built in code (not loaded from a file) reach this unchecked.
    api_base = check_url("discord.api_base", settings.api_base.strip().rstrip("/"), _HTTP)
    gateway = check_url("discord.gateway_url", settings.gateway_url.strip(), ("ws", "wss"))
    discord.http.Route.BASE = api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)


def bot_token(settings: DiscordSettings) -> str:
    token = str(settings.token).strip()
    if not token:
        raise ConfigError("KCRUSH_DISCORD_TOKEN is not set: the Discord bot token is needed")
    return token


class KcrushTree(app_commands.CommandTree["KcrushClient"]):
    """The command tree; its error handler keeps tracebacks out of chats."""

    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        name = interaction.command.name if interaction.command else "?"
        if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
            # Discord has commands from another version of the bot: run `discord sync`.
            log.warning("Discord sent /%s, which this version does not offer as sent", name)
            message = "This command has changed. Try again in a minute, or see /help."
        else:
            log.error("slash command /%s failed", name, exc_info=error)
            message = APOLOGY
        with contextlib.suppress(discord.HTTPException, aiohttp.ClientError):
            if interaction.response.is_done():
                await interaction.followup.send(
                    f"⚠️ {message}", ephemeral=True, allowed_mentions=NO_MENTIONS
                )
            else:
                await interaction.response.send_message(
                    f"⚠️ {message}", ephemeral=True, allowed_mentions=NO_MENTIONS
                )


class KcrushClient(discord.Client):
    """A discord.py client with our defaults: minimal intents, no mentions, bounded waits.

    A shard's client (``shard_id``, ``shard_count``) IDENTIFYs when ``identify_gate`` says.
    """

    def __init__(
        self,
        platform: DiscordPlatform | None = None,
        *,
        identify_gate: IdentifyGate | None = None,
        **options: Any,
    ) -> None:
        # The bot never joins voice: without this, every start warns that PyNaCl and davey
        # (voice-only libraries) are missing, which reads like a broken install.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(
            intents=intents(),
            allowed_mentions=NO_MENTIONS,
            max_ratelimit_timeout=MAX_RATELIMIT_WAIT,
            **options,
        )
        self.platform = platform
        self.identify_gate = identify_gate
        self.tree = KcrushTree(self)

    async def setup_hook(self) -> None:
        # Presses of any of our buttons, also those sent before a restart, reach ActionButton.
        self.add_dynamic_items(ActionButton)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        if self.identify_gate is None:
            await super().before_identify_hook(shard_id, initial=initial)
        else:
            await self.identify_gate.wait_turn(shard_id or 0)


def caller_from_interaction(interaction: discord.Interaction[Any]) -> Caller:
    """The facts the core decides on: who, where, and what they may do there."""
    user = interaction.user
    channel = interaction.channel
    if interaction.guild_id is not None:
        kind = ChatKind.GROUP  # guild channels and threads alike
        # The member's permissions in this channel, overwrites included, as Discord computed
        # them for this interaction (not the bot's: that is app_permissions).
        perms = interaction.permissions
        admin = perms.administrator
        is_chat_admin = admin or perms.manage_channels
        can_manage_server = admin or perms.manage_guild
        # Member.roles only lists roles found in the guild cache; the interaction itself
        # carries every role id, which is what configured moderator roles are matched on.
        raw_roles = getattr(user, "_roles", None)
        role_ids = tuple(str(r) for r in raw_roles) if raw_roles is not None else ()
    else:
        private = getattr(channel, "type", None) in (discord.ChannelType.private, None)
        kind = ChatKind.PRIVATE if private else ChatKind.GROUP
        is_chat_admin = can_manage_server = False
        role_ids = ()
    return Caller(
        platform=PLATFORM,
        chat=ChatRef(PLATFORM, str(interaction.channel_id)),  # a thread is its own channel
        chat_kind=kind,
        user_id=str(user.id) if user else None,
        display_name=user.display_name if user else "",
        is_chat_admin=is_chat_admin,
        can_manage_server=can_manage_server,
        role_ids=role_ids,
        chat_title=getattr(channel, "name", None),
    )


class DiscordPlatform:
    """The ``Platform`` port for Discord: takes slash commands and buttons, sends replies.

    ``gateway=False`` logs in over REST only: enough to send, for a process that does not
    take commands. ``send_timeout`` bounds one message's send, discord.py's retries included.
    It is a ``ShardedIntake``: alone it runs every shard of ``[discord] shards``, their
    IDENTIFYs ``identify_spacing`` seconds apart per bucket, as Discord asks.
    """

    name = PLATFORM

    def __init__(
        self,
        settings: DiscordSettings,
        service: CommandService,
        *,
        gateway: bool = True,
        send_timeout: float = SEND_TIMEOUT,
        defer_after: float = DEFER_AFTER,
        max_handling: int = MAX_HANDLING,
        stop_grace: float = STOP_GRACE,
        identify_spacing: float = IDENTIFY_SPACING,
    ) -> None:
        self.settings = settings
        self.service = service
        self.gateway = gateway
        self.send_timeout = send_timeout
        self.defer_after = defer_after
        self.handling = Handling(max_handling, name="discord interactions")
        self.stop_grace = stop_grace
        self._dispatching = asyncio.Semaphore(MAX_DISPATCHING)
        self.client: KcrushClient | None = None  # REST: sends, edits, deletions
        self._webhooks: dict[str, discord.Webhook] = {}
        self.receiving = True
        self._count = int(settings.shards)
        self._alone = True  # holds every shard, until share_shards()
        self._wanted: frozenset[int] = frozenset()
        self._sessions: dict[int, ShardSession] = {}
        self._holding = asyncio.Lock()
        self._identify = IdentifyGate(spacing=identify_spacing)
        self._token = ""

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> DiscordPlatform:
        apply_endpoints(self.settings)
        token = bot_token(self.settings)
        client = KcrushClient(self)
        add_registry_commands(client.tree, self.service.registry, self)
        await client.__aenter__()
        try:
            await _login(client, token)
            self._webhooks = _webhooks(self.settings, client)
        except BaseException:
            await client.__aexit__(None, None, None)
            raise
        self.client = client
        self._token = token
        log.info("Discord: logged in as %s (application %s)", client.user, client.application_id)
        if self.gateway:
            await self._learn_session_limits(client)
            if self._alone:
                self._wanted = frozenset(range(self._count))
            await self._hold(self._wanted)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop_receiving()  # the interactions in hand are answered first
        await self._hold(frozenset(), closing=True)
        client, self.client = self.client, None
        if client is not None:
            await client.__aexit__(None, None, None)

    async def stop_receiving(self) -> None:
        """From now on a slash command or button is answered "restarting" and not run; the
        ones in hand are finished (for at most ``stop_grace`` seconds). The gateway stays open
        until exit so the REST client keeps sending."""
        self.receiving = False
        await self.handling.finish(self.stop_grace)

    # -- shards (the ShardedIntake port) ---------------------------------------------------

    @property
    def shard_count(self) -> int:
        return self._count if self.gateway else 0

    @property
    def held_shards(self) -> frozenset[int]:
        """The shards whose sessions this process runs now."""
        return frozenset(self._sessions)

    def share_shards(self) -> None:
        self._alone = False

    async def hold_shards(self, shards: frozenset[int]) -> None:
        """Run the gateway for exactly ``shards``: new ones connect in the background, dropped
        ones are closed before this returns. Before ``async with``, remembered for it."""
        self._wanted = frozenset(s for s in shards if 0 <= s < self._count)
        if self.client is not None and self.gateway:
            await self._hold(self._wanted)

    async def _hold(self, shards: frozenset[int], *, closing: bool = False) -> None:
        async with self._holding:
            if self.client is None and not closing:
                return
            dropped = [self._sessions.pop(s) for s in sorted(set(self._sessions) - shards)]
            if dropped:
                await asyncio.gather(*(session.stop() for session in dropped))
                if not closing:
                    log.info(
                        "Discord: shard %s closed here", ", ".join(str(s.shard) for s in dropped)
                    )
            for shard in sorted(shards - set(self._sessions)):
                session = ShardSession(
                    shard,
                    self._count,
                    self._shard_client(shard),
                    self._token,
                    login_retry=LOGIN_RETRY,
                )
                await session.start()
                self._sessions[shard] = session
                log.info("Discord: connecting shard %d of %d here", shard, self._count)

    def _shard_client(self, shard: int) -> KcrushClient:
        """A gateway client for one shard, its command tree built from the registry."""
        client = KcrushClient(
            self, identify_gate=self._identify, shard_id=shard, shard_count=self._count
        )
        add_registry_commands(client.tree, self.service.registry, self)
        return client

    async def _learn_session_limits(self, client: KcrushClient) -> None:
        """Ask ``GET /gateway/bot`` how many sessions may IDENTIFY at once, and whether
        Discord wants more shards than configured (it refuses to connect a bot with too few)."""
        try:
            recommended, _url, limits = await client.http.get_bot_gateway()
        except (discord.DiscordException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("Discord: GET /gateway/bot failed (%s); identifying one at a time", exc)
            return
        self._identify.max_concurrency = max(1, int(limits.get("max_concurrency", 1)))
        if recommended > self._count:
            log.warning(
                "Discord recommends %d shards for this bot; [discord] shards is %d",
                recommended,
                self._count,
            )
        if limits.get("remaining", 1) < self._count:
            log.warning(
                "Discord allows %s more session starts today (resets in %.0f min)",
                limits.get("remaining"),
                limits.get("reset_after", 0) / 60000,
            )

    def connection_problem(self) -> str | None:
        """The ``HealthCheck`` port: None while every shard held here is connected (or no
        gateway is used); otherwise why slash commands are not arriving."""
        client = self.client
        if client is None or client.is_closed():
            return "not connected"
        if not self.gateway:
            return None
        for shard, session in sorted(self._sessions.items()):
            problem = session.problem()
            if problem is not None:
                return problem if self._count == 1 else f"shard {shard}: {problem}"
        return None

    async def wait_until_ready(self) -> None:
        """Until every shard held here has had its READY (and its guilds)."""
        for session in list(self._sessions.values()):
            await session.wait_until_ready()

    # -- commands and buttons ---------------------------------------------------------------

    async def run_command(
        self, interaction: discord.Interaction[Any], command: Command, values: dict[str, Any]
    ) -> None:
        """A slash command's callback: build the caller and the line, run it, answer."""
        if not self.receiving:
            await self._answer(interaction, [ErrorReply(RESTARTING)], edit=False, deferred=False)
            return
        caller = caller_from_interaction(interaction)
        text = join_options(command, values)
        log.debug("Discord /%s from %s in %s", command.name, caller.user_id, caller.chat.key)
        # Commands that change things may answer privately; defer that way if slow.
        private = command.access is not Access.ANYONE
        await self._handle(
            interaction,
            caller.chat.key,
            self.service.dispatch(caller, command.name, text),
            ephemeral=private,
            edit=False,
        )

    async def on_button(self, interaction: discord.Interaction[Any], action: str) -> None:
        """A button was pressed: the core runs its action; the message is edited in place."""
        if not self.receiving:
            await self._answer(interaction, [ErrorReply(RESTARTING)], edit=False, deferred=False)
            return
        caller = caller_from_interaction(interaction)
        await self._handle(
            interaction,
            caller.chat.key,
            self.service.handle_action(caller, action),
            ephemeral=None,
            edit=True,
        )

    async def complete(
        self, interaction: discord.Interaction[Any], command: Command, arg: Arg, current: str
    ) -> list[app_commands.Choice[str]]:
        """Category suggestions for what is typed so far (at most 25, as Discord allows).

        A category name may contain spaces, so the whole text is tried first; when nothing
        matches, the last word is completed and the earlier ones kept (``kpop k-dr`` →
        ``kpop k-dramas``), for commands that take several categories.
        """
        try:
            index = await self.service.categories()
        except Exception:
            log.exception("category autocomplete failed")
            return []
        typed = current.strip()
        kept, matches = "", index.complete(typed, limit=CHOICES_LIMIT)
        if not matches and " " in typed:
            head, _, last = typed.rpartition(" ")
            kept, matches = head + " ", index.complete(last, limit=CHOICES_LIMIT)
        choices = []
        for category in matches:
            value = f"{kept}{category.slug}"  # join_options adds the arg's prefix
            label = f"{kept}{category.name}" if kept else category.name
            if category.name.lower() != category.slug:
                label = f"{label} ({category.slug})"
            if len(value) > CHOICE_NAME_LIMIT:
                continue
            choices.append(app_commands.Choice(name=label[:CHOICE_NAME_LIMIT], value=value))
        return choices[:CHOICES_LIMIT]

    async def _handle(
        self,
        interaction: discord.Interaction[Any],
        channel_key: str,
        work: Awaitable[list[Reply]],
        *,
        ephemeral: bool | None,
        edit: bool,
    ) -> None:
        """Run ``work`` in the channel's turn and answer with its replies; if no answer has
        begun ``defer_after`` seconds after the interaction arrived (waiting for the turn
        included), defer it meanwhile, so Discord's 3-second window is kept.

        ``ephemeral`` None defers a button press as an update of its message.
        """
        state = _Answering()

        async def defer_if_slow() -> None:
            await asyncio.sleep(self.defer_after)
            async with state.lock:
                if state.answering:
                    return
                with contextlib.suppress(discord.HTTPException):
                    if ephemeral is None:
                        await interaction.response.defer()
                    else:
                        await interaction.response.defer(ephemeral=ephemeral, thinking=True)
                    state.deferred = True

        async def in_turn() -> None:
            async with self._dispatching:
                replies = await work
            async with state.lock:  # after a defer in progress, never beside it
                state.answering = True
            timer.cancel()
            await self._answer(interaction, replies, edit=edit, deferred=state.deferred)

        timer = asyncio.create_task(defer_if_slow(), name="discord-defer")
        try:
            await self.handling.run(channel_key, in_turn())
        finally:
            timer.cancel()
            if inspect.iscoroutine(work) and inspect.getcoroutinestate(work) == "CORO_CREATED":
                work.close()  # dropped at shutdown before its turn came

    async def _answer(
        self,
        interaction: discord.Interaction[Any],
        replies: list[Reply],
        *,
        edit: bool,
        deferred: bool,
    ) -> None:
        """Send the rendered replies: the first as the interaction's response, the rest after.

        For a button (``edit``) the first payload replaces the pressed message, unless it is
        a private answer (an error, "expired") to a public message: that goes to the presser
        alone and leaves the message for everyone else as it was.
        """
        payloads = [payload for reply in replies for payload in render_reply(reply)]
        if not payloads:
            payloads = render_reply(ErrorReply("Nothing to show."))
        message = interaction.message
        message_private = bool(message and message.flags.ephemeral)
        for number, payload in enumerate(payloads):
            private = is_ephemeral(payload)
            first = number == 0
            if first and (edit or deferred) and (not edit or not private or message_private):
                if deferred:
                    # After a defer the loading message (or the pressed one) is the original.
                    await interaction.edit_original_response(**edit_kwargs(payload))
                else:
                    await interaction.response.edit_message(**edit_kwargs(payload))
            elif not interaction.response.is_done():
                await interaction.response.send_message(**send_kwargs(payload), ephemeral=private)
            else:
                await interaction.followup.send(**send_kwargs(payload), ephemeral=private)

    # -- the send side ------------------------------------------------------------------------

    async def send(self, chat: ChatRef, reply: Reply) -> list[str]:
        """Deliver ``reply`` to a channel or thread; the ids of the messages it took.

        Raises only ``RetryableDelivery`` or ``PermanentDelivery``. A reply that needs several
        messages fails as a whole if one fails; the outbox then resends it whole.
        """
        if self.client is None:
            raise RuntimeError("DiscordPlatform.send outside `async with`")
        if chat.platform != PLATFORM or not chat.chat_id.isdigit():
            raise PermanentDelivery(f"{chat.key} is not a Discord channel")
        ids = []
        for payload in render_reply(reply):
            try:
                async with asyncio.timeout(self.send_timeout):
                    ids.append(await self._send_payload(chat.chat_id, payload))
            except KcrushError:
                raise
            except Exception as exc:
                error = translate(exc, chat.key)
                log.warning("Discord send to %s failed: %s", chat.key, error)
                raise error from exc
        return ids

    async def edit(self, chat: ChatRef, message_ids: Sequence[str], reply: Reply) -> None:
        """Replace messages sent earlier (by the bot or the channel's webhook) with ``reply``;
        ``MessageGone`` when they were deleted meanwhile."""
        payloads = render_reply(reply)
        await self._change(chat, list(zip(message_ids, payloads, strict=False)), edit=True)

    async def delete(self, chat: ChatRef, message_ids: Sequence[str]) -> None:
        """Delete messages sent earlier. The bot may always delete its own messages."""
        await self._change(chat, [(m, {}) for m in message_ids], edit=False)

    async def _change(
        self, chat: ChatRef, targets: Sequence[tuple[str, dict[str, Any]]], *, edit: bool
    ) -> None:
        if self.client is None:
            raise RuntimeError("DiscordPlatform.edit/delete outside `async with`")
        if chat.platform != PLATFORM or not chat.chat_id.isdigit():
            raise PermanentDelivery(f"{chat.key} is not a Discord channel")
        gone = 0
        for message_id, payload in targets:
            try:
                async with asyncio.timeout(self.send_timeout):
                    await self._change_one(chat.chat_id, int(message_id), payload, edit=edit)
            except discord.NotFound as exc:
                if exc.code != UNKNOWN_MESSAGE:
                    raise translate(exc, chat.key) from exc
                gone += 1  # deleted by someone in the channel meanwhile
            except KcrushError:
                raise
            except Exception as exc:
                error = translate(exc, chat.key)
                log.warning(
                    "Discord %s in %s failed: %s", "edit" if edit else "delete", chat.key, error
                )
                raise error from exc
        if targets and gone == len(targets):
            raise MessageGone(f"Discord: the message in {chat.key} is gone")

    async def _change_one(
        self, channel_id: str, message_id: int, payload: dict[str, Any], *, edit: bool
    ) -> None:
        assert self.client is not None
        webhook = self._webhooks.get(channel_id)
        kwargs = edit_kwargs(payload)
        if webhook is not None:
            kwargs.pop("view", None)  # webhook messages carry no buttons
            if edit:
                await webhook.edit_message(message_id, **kwargs)
            else:
                await webhook.delete_message(message_id)
            return
        message = self.client.get_partial_messageable(int(channel_id)).get_partial_message(
            message_id
        )
        if edit:
            await message.edit(**kwargs)
        else:
            await message.delete()

    async def _send_payload(self, channel_id: str, payload: dict[str, Any]) -> str:
        assert self.client is not None
        kwargs = send_kwargs(payload)
        webhook = self._webhooks.get(channel_id)
        if webhook is not None:
            # Channel webhooks cannot carry interactive buttons; and a webhook has no client
            # default for mentions, so none() is passed on every call (send_kwargs does).
            kwargs.pop("view", None)
            message = await webhook.send(wait=True, **kwargs)
            return str(message.id)
        channel = self.client.get_partial_messageable(int(channel_id))
        sent = await channel.send(**kwargs)
        return str(sent.id)


async def _login(client: discord.Client, token: str) -> None:
    try:
        await client.login(token)
    except discord.LoginFailure as exc:
        raise ConfigError("Discord refused KCRUSH_DISCORD_TOKEN (401): check the token") from exc
    except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise KcrushError(f"could not log in to Discord: {type(exc).__name__}: {exc}") from exc


def _webhooks(settings: DiscordSettings, client: discord.Client) -> dict[str, discord.Webhook]:
    webhooks = {}
    for channel_id, url in settings.webhooks.items():
        try:
            webhooks[str(channel_id)] = discord.Webhook.from_url(url, client=client)
        except ValueError:
            # The URL holds the webhook's token: name the channel, never print the URL.
            raise ConfigError(
                f"[discord] webhooks: the URL for channel {channel_id} is not a Discord "
                "webhook URL (https://discord.com/api/webhooks/<id>/<token>)"
            ) from None
    return webhooks


class _SchemaOnly:
    """An invoker for a tree built only to be synced: its callbacks never run."""

    async def run_command(self, *args: Any) -> None:  # pragma: no cover - never called
        raise RuntimeError("this command tree only describes commands")

    async def complete(self, *args: Any) -> list[app_commands.Choice[str]]:  # pragma: no cover
        return []


async def sync_commands(
    settings: DiscordSettings, commands: CommandService | Registry, guild_id: str | None = None
) -> int:
    """Register the slash commands with Discord; how many it now has. REST only, no gateway.

    With ``guild_id`` they are registered for that server only (they appear at once: good for
    trying changes); without, globally. Discord limits creations per day, hence an explicit
    step rather than a sync on every start.
    """
    if guild_id is not None and not guild_id.strip().isdigit():
        raise BadInput(f"{guild_id[:30]!r} is not a Discord server id (a number)")
    registry = commands.registry if isinstance(commands, CommandService) else commands
    apply_endpoints(settings)
    token = bot_token(settings)
    client = KcrushClient(None)
    add_registry_commands(client.tree, registry, _SchemaOnly())
    guild = discord.Object(int(guild_id)) if guild_id else None
    async with client:
        await _login(client, token)
        if guild is not None:
            client.tree.copy_global_to(guild=guild)
        try:
            synced = await client.tree.sync(guild=guild)
        except discord.HTTPException as exc:
            raise KcrushError(
                f"Discord refused the commands: {exc.status} {exc.code} {exc.text[:300]}"
            ) from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise KcrushError(f"could not reach Discord: {type(exc).__name__}") from exc
    where = f"server {guild_id}" if guild_id else "every server (global)"
    log.info("Discord: %d commands registered for %s", len(synced), where)
    return len(synced)


class _Answering:
    """One interaction's answer: whether it was deferred, whether the answer has begun."""

    __slots__ = ("answering", "deferred", "lock")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.deferred = False
        self.answering = False
