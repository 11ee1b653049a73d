"""A fake Discord on loopback: REST under ``/api/v10`` and a gateway websocket.

discord.py is pointed at it the way an operator would point the bot at any Discord endpoint:
``discord.http.Route.BASE`` for REST (``[discord] api_base``) and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` for the gateway (``[discord] gateway_url``).
The real library then runs unchanged, so its rate-limit handling, its interaction parsing and
its command tree are exercised as in production.

What it does, as Discord does it:

* answers with exactly ``Content-Type: application/json`` (discord.py only parses JSON then);
* 429s carry ``retry_after`` in the body and ``Retry-After``, ``X-RateLimit-*`` (``Scope``,
  ``Global``) and ``Via`` headers: discord.py treats a 429 without ``Via`` as a Cloudflare ban;
* enforces a per-channel (and per-webhook) bucket, 5 per 5 s by default, and the global 50/s,
  answering 429 when a client goes over (interaction callbacks are exempt, as on Discord);
* rejects messages over Discord's limits (content 2000; 10 embeds; title 256, description 4096,
  25 fields of 256/1024, footer 2048, author 256, 6000 together; 5 rows of 5 buttons) with
  400 ``{"code": 50035}``, and empty messages with ``{"code": 50006}``;
* answers interaction callbacks with ``{"interaction": {...}, "resource": {...}}`` (2.7 asks for
  it with ``?with_response=1``);
* keeps Discord's 3-second window: the first callback to an interaction it dispatched that comes
  later than ``interaction_window`` seconds after it is refused with 404 ``{"code": 10062,
  "message": "Unknown interaction"}`` (counted in ``late_interactions``), as Discord refuses it;
* the gateway sends HELLO, answers IDENTIFY with READY (whose ``application.id`` is the id
  discord.py then uses for interactions and command sync) and heartbeats with ACKs, and
  :meth:`FakeDiscord.dispatch_interaction` sends ``INTERACTION_CREATE`` events;
* shards: ``GET /gateway/bot`` answers the bot's shard count (``shards``) and session start
  limits; IDENTIFY carries ``shard: [id, count]`` (none counts as ``[0, 1]``), and a shard id
  out of range is closed with 4010, a count other than the bot's with 4011; a server's events
  go only to the session of shard ``(guild_id >> 22) % count``, direct messages to shard 0's.
  A second session identifying a shard another session holds is an error Discord answers by
  invalidating a session: the fake records it (:attr:`FakeDiscord.shard_conflicts`) and
  invalidates the newcomer (op 9), which identifies again later.

Every request is recorded (:attr:`FakeDiscord.requests`) and failures can be scripted per
channel, per webhook or globally (:meth:`FakeDiscord.fail`): 429 with ``retry_after``, 403
50001/50013, 404 10003/10015, 5xx, slow answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

API_PREFIX = "/api/v10"
APPLICATION_ID = "1100000000000000001"
BOT_USER_ID = "1100000000000000001"
BOT_USERNAME = "kcrush-bot"

# Discord's documented limits.
CONTENT_LIMIT = 2000
EMBEDS_PER_MESSAGE = 10
EMBED_LIMITS = {"title": 256, "description": 4096, "footer": 2048, "author": 256}
FIELDS_PER_EMBED = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
EMBED_TOTAL_LIMIT = 6000
ACTION_ROWS = 5
BUTTONS_PER_ROW = 5
CUSTOM_ID_LIMIT = 100
BUTTON_LABEL_LIMIT = 80

# Discord's error codes the adapter has to tell apart.
UNKNOWN_CHANNEL = 10003
UNKNOWN_MESSAGE = 10008
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
MISSING_ACCESS = 50001
CANNOT_SEND_EMPTY = 50006
MISSING_PERMISSIONS = 50013
INVALID_FORM_BODY = 50035

# Interaction and callback types.
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8

# Channel types.
GUILD_TEXT = 0
DM = 1
PUBLIC_THREAD = 11

EPHEMERAL = 64

_STATUS_MESSAGES = {
    400: "Invalid Form Body",
    401: "401: Unauthorized",
    403: "Missing Permissions",
    404: "Unknown Channel",
    429: "You are being rate limited.",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_CODE_MESSAGES = {
    UNKNOWN_CHANNEL: "Unknown Channel",
    UNKNOWN_WEBHOOK: "Unknown Webhook",
    MISSING_ACCESS: "Missing Access",
    MISSING_PERMISSIONS: "Missing Permissions",
}


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Failure:
    """A scripted answer. ``status`` below 400 means "answer normally, after ``delay``"."""

    status: int
    code: int = 0
    message: str = ""
    retry_after: float | None = None  # 429 only
    is_global: bool = False  # 429 only: Discord's global limit
    delay: float = 0.0  # seconds before answering: slow answers and client timeouts
    times: int | None = 1  # how many requests it answers; None: until cleared


@dataclass
class Request:
    """One request as the fake saw it; ``path`` is relative to ``/api/v10``."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    response: Any = None  # the JSON the fake answered with
    at: float = field(default_factory=time.monotonic)  # when it arrived

    @property
    def message(self) -> dict[str, Any] | None:
        """The message this request created (a post, a follow-up, a callback's message)."""
        body = self.response
        if isinstance(body, dict) and "resource" in body:
            return body["resource"].get("message")
        return body if isinstance(body, dict) and "channel_id" in body else None


class _Window:
    """A sliding-window limit: at most ``limit`` requests per ``per`` seconds."""

    def __init__(self, limit: int, per: float) -> None:
        self.limit = limit
        self.per = per
        self.hits: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self.hits and now - self.hits[0] >= self.per:
            self.hits.popleft()

    def take(self, now: float) -> float | None:
        """Count a request; None if allowed, else the seconds until one is."""
        self._expire(now)
        if len(self.hits) >= self.limit:
            return max(self.per - (now - self.hits[0]), 0.001)
        self.hits.append(now)
        return None

    def remaining(self, now: float) -> int:
        self._expire(now)
        return self.limit - len(self.hits)

    def reset_after(self, now: float) -> float:
        self._expire(now)
        return self.per - (now - self.hits[0]) if self.hits else self.per


@dataclass(eq=False)
class GatewaySession:
    """One gateway websocket: which shard it identified for, and when."""

    ws: web.WebSocketResponse
    id: str
    shard: int | None = None
    count: int = 1
    sequence: int = 0  # the ``s`` of the last dispatch sent on it
    identified_at: float | None = None
    closed_at: float | None = None

    async def send(self, frame: dict[str, Any]) -> None:
        if frame.get("op") == 0:
            self.sequence += 1
            frame = {**frame, "s": self.sequence}
        await self.ws.send_json(frame)


class _Reject(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


def _json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    # ``web.json_response`` would add "; charset=utf-8": the brief is exactly application/json.
    response = web.Response(
        body=json.dumps(body).encode(), status=status, headers=dict(headers or {})
    )
    response.headers["Content-Type"] = "application/json"
    return response


def _error_body(status: int, code: int, message: str) -> dict[str, Any]:
    text = message or _CODE_MESSAGES.get(code) or _STATUS_MESSAGES.get(status, "Error")
    return {"message": text, "code": code}


def _invalid_form(errors: dict[str, Any]) -> web.Response:
    return _json_response(
        {"message": "Invalid Form Body", "code": INVALID_FORM_BODY, "errors": errors}, 400
    )


def message_problems(payload: Mapping[str, Any]) -> list[str]:
    """Every way ``payload`` breaks Discord's message limits (empty when it is fine)."""
    problems: list[str] = []
    content = payload.get("content") or ""
    if utf16_len(content) > CONTENT_LIMIT:
        problems.append(f"content: {utf16_len(content)} > {CONTENT_LIMIT}")
    embeds = payload.get("embeds") or []
    if len(embeds) > EMBEDS_PER_MESSAGE:
        problems.append(f"embeds: {len(embeds)} > {EMBEDS_PER_MESSAGE}")
    total = 0
    for i, embed in enumerate(embeds):
        parts = {
            "title": embed.get("title") or "",
            "description": embed.get("description") or "",
            "footer": (embed.get("footer") or {}).get("text") or "",
            "author": (embed.get("author") or {}).get("name") or "",
        }
        for key, text in parts.items():
            size = utf16_len(text)
            total += size
            if size > EMBED_LIMITS[key]:
                problems.append(f"embeds.{i}.{key}: {size} > {EMBED_LIMITS[key]}")
        fields = embed.get("fields") or []
        if len(fields) > FIELDS_PER_EMBED:
            problems.append(f"embeds.{i}.fields: {len(fields)} > {FIELDS_PER_EMBED}")
        for j, fld in enumerate(fields):
            name, value = utf16_len(fld.get("name", "")), utf16_len(fld.get("value", ""))
            total += name + value
            if name > FIELD_NAME_LIMIT or value > FIELD_VALUE_LIMIT:
                problems.append(f"embeds.{i}.fields.{j}: too long")
        for key in ("url",):
            url = embed.get(key)
            if url is not None and not re.match(r"^https?://\S+$", url):
                problems.append(f"embeds.{i}.{key}: not a URL")
    if total > EMBED_TOTAL_LIMIT:
        problems.append(f"embeds: {total} characters > {EMBED_TOTAL_LIMIT} together")
    rows = payload.get("components") or []
    if len(rows) > ACTION_ROWS:
        problems.append(f"components: {len(rows)} rows > {ACTION_ROWS}")
    seen: set[str] = set()
    for row in rows:
        buttons = row.get("components") or []
        if not 0 < len(buttons) <= BUTTONS_PER_ROW:
            problems.append("components: a row needs 1-5 buttons")
        for button in buttons:
            custom_id = button.get("custom_id")
            if custom_id is not None:
                if not 0 < len(custom_id) <= CUSTOM_ID_LIMIT or custom_id in seen:
                    problems.append(f"components: bad custom_id {custom_id!r}")
                seen.add(custom_id)
            if utf16_len(button.get("label") or "") > BUTTON_LABEL_LIMIT:
                problems.append("components: label too long")
    return problems


def _is_empty(payload: Mapping[str, Any]) -> bool:
    return not (payload.get("content") or payload.get("embeds") or payload.get("components"))


# --- interaction payloads -------------------------------------------------------------------


def _user(user_id: str, name: str) -> dict[str, Any]:
    return {
        "id": user_id,
        "username": name,
        "global_name": name.title(),
        "discriminator": "0",
        "avatar": None,
        "bot": False,
        "public_flags": 0,
    }


@dataclass(frozen=True)
class Where:
    """Where an interaction happens and who sends it."""

    channel_id: str = "500000000000000001"
    guild_id: str | None = "400000000000000001"  # None: a DM with the bot
    channel_type: int = GUILD_TEXT
    parent_id: str | None = None  # a thread's channel
    user_id: str = "42"
    username: str = "fan"
    permissions: int = 0  # the member's permissions in the channel, as Discord computes them
    roles: tuple[str, ...] = ()
    channel_name: str = "general"


_ids = itertools.count(1_200_000_000_000_000_000)


def guild_on_shard(shard: int, count: int, n: int = 0) -> str:
    """A server id whose events Discord sends to ``shard`` of ``count`` (the n-th such id)."""
    base = 300_000_000_000 // count * count  # a snowflake's timestamp part, in milliseconds
    return str((base + n * count + shard) << 22)


def snowflake() -> str:
    return str(next(_ids))


def interaction_payload(
    kind: int,
    data: dict[str, Any],
    where: Where = Where(),
    *,
    application_id: str = APPLICATION_ID,
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An ``INTERACTION_CREATE`` payload as Discord sends it."""
    interaction_id = snowflake()
    channel: dict[str, Any] = {"id": where.channel_id, "type": where.channel_type}
    if where.guild_id is not None:
        channel.update(
            guild_id=where.guild_id,
            name=where.channel_name,
            position=0,
            permission_overwrites=[],
            nsfw=False,
            flags=0,
            last_message_id=None,
            rate_limit_per_user=0,
            topic=None,
            parent_id=where.parent_id,
        )
        if where.channel_type in (PUBLIC_THREAD, 12):
            channel["thread_metadata"] = {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": "2024-05-01T00:00:00+00:00",
                "locked": False,
            }
            channel["owner_id"] = where.user_id
            channel["message_count"] = 0
            channel["member_count"] = 1
    else:
        channel["recipients"] = [_user(where.user_id, where.username)]
        channel["flags"] = 0
    payload: dict[str, Any] = {
        "id": interaction_id,
        "application_id": application_id,
        "type": kind,
        "data": data,
        "channel_id": where.channel_id,
        "channel": channel,
        "token": f"itoken-{interaction_id}",
        "version": 1,
        "locale": "en-US",
        "app_permissions": str((1 << 53) - 1),
        "entitlements": [],
        "authorizing_integration_owners": {"0": where.guild_id or where.user_id},
        "context": 0 if where.guild_id else 1,
        "attachment_size_limit": 10 * 1024 * 1024,
    }
    if where.guild_id is not None:
        payload["guild_id"] = where.guild_id
        payload["guild_locale"] = "en-US"
        payload["guild"] = {"id": where.guild_id, "locale": "en-US", "features": []}
        payload["member"] = {
            "user": _user(where.user_id, where.username),
            "roles": list(where.roles),
            "permissions": str(where.permissions),
            "joined_at": "2024-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "nick": None,
            "avatar": None,
            "premium_since": None,
            "communication_disabled_until": None,
        }
    else:
        payload["user"] = _user(where.user_id, where.username)
    if message is not None:
        payload["message"] = message
    return payload


def option(name: str, value: Any, *, kind: int | None = None, focused: bool = False) -> dict:
    """One slash-command option; ``kind`` defaults to INTEGER (4) for ints, else STRING (3)."""
    if kind is None:
        kind = 4 if isinstance(value, int) and not isinstance(value, bool) else 3
    data: dict[str, Any] = {"name": name, "type": kind, "value": value}
    if focused:
        data["focused"] = True
    return data


def command_data(name: str, options: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    return {"id": snowflake(), "name": name, "type": 1, "options": list(options)}


# --- the fake ---------------------------------------------------------------------------------


class FakeDiscord:
    """The fake server. Start it with :func:`start_fake_discord` (or ``await fake.start()``)."""

    def __init__(
        self,
        *,
        channel_limit: tuple[int, float] | None = (5, 5.0),
        global_limit: tuple[int, float] | None = (50, 1.0),
        heartbeat_interval_ms: int = 41_250,
        application_id: str = APPLICATION_ID,
        token: str | None = None,
        interaction_window: float | None = 3.0,
        shards: int = 1,
        max_concurrency: int = 1,
    ) -> None:
        self.token = token  # when set, bot requests must carry "Authorization: Bot <token>"
        self.shards = shards  # the bot's shard count, as /gateway/bot tells it
        self.max_concurrency = max_concurrency  # IDENTIFYs allowed per 5 s
        self.channel_limit = channel_limit
        self.global_limit = global_limit
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.application_id = application_id
        self.requests: list[Request] = []
        self.messages: dict[str, dict[str, Any]] = {}  # message id -> message object
        self.edited: list[str] = []  # ids of messages edited, in order
        self.deleted: list[str] = []  # ids of messages deleted
        self.identify: dict[str, Any] | None = None  # the last IDENTIFY's payload
        self.sessions: list[GatewaySession] = []  # every session that identified, in order
        self.shard_conflicts: list[GatewaySession] = []  # sessions refused: shard already held
        self.hellos = 0  # gateway connections greeted, identified or not
        self.registered_commands: dict[str | None, list[dict[str, Any]]] = {}  # guild -> cmds
        self.rate_limited = 0  # how many 429s the limits (not scripts) produced
        self.interaction_window = interaction_window
        self.dispatched_at: dict[str, float] = {}  # interaction id -> when it was dispatched
        self.late_interactions = 0  # first callbacks refused for coming after the window
        self._failures: dict[str, list[Failure]] = {}
        self._uses: dict[int, int] = {}
        self._buckets: dict[str, _Window] = {}
        self._global = _Window(*global_limit) if global_limit else None
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._live: dict[int, GatewaySession] = {}  # shard id -> the session holding it
        self._session_ids = itertools.count(1)
        self._identified = asyncio.Event()
        self._changed = asyncio.Condition()
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def webhook_url(self, webhook_id: str = "1300000000000000001") -> str:
        """A webhook URL discord.py accepts; its requests go to ``api_base`` like all REST."""
        return f"https://discord.com/api/webhooks/{webhook_id}/{'w' * 68}"

    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- scripting ------------------------------------------------------------------------

    def fail(
        self,
        failure: Failure,
        *,
        channel: str | None = None,
        webhook: str | None = None,
        interaction: bool = False,
    ) -> None:
        """Answer the next matching requests with ``failure``.

        ``channel``: messages to that channel; ``webhook``: executions of that webhook;
        ``interaction``: interaction callbacks and follow-ups; none of them: every request
        except logging in and the gateway.
        """
        key = (
            f"channel:{channel}"
            if channel
            else f"webhook:{webhook}"
            if webhook
            else "interaction"
            if interaction
            else "*"
        )
        self._failures.setdefault(key, []).append(failure)

    def clear_failures(self) -> None:
        self._failures.clear()

    def _scripted(self, keys: Iterable[str]) -> Failure | None:
        for key in keys:
            queue = self._failures.get(key)
            while queue:
                failure = queue[0]
                used = self._uses.get(id(failure), 0)
                if failure.times is not None and used >= failure.times:
                    queue.pop(0)
                    self._uses.pop(id(failure), None)
                    continue
                self._uses[id(failure)] = used + 1
                return failure
        return None

    # -- what was received ----------------------------------------------------------------

    def find(self, method: str | None = None, path: str | re.Pattern[str] | None = None) -> list:
        """Recorded requests by method and path (a string prefix or a regular expression)."""
        found = []
        for request in self.requests:
            if method and request.method != method:
                continue
            if isinstance(path, re.Pattern):
                if not path.search(request.path):
                    continue
            elif path and not request.path.startswith(path):
                continue
            found.append(request)
        return found

    def channel_posts(self, channel_id: str | None = None) -> list[Request]:
        """Accepted ``POST /channels/{id}/messages`` requests."""
        prefix = f"/channels/{channel_id}/messages" if channel_id else None
        return [
            r
            for r in self.find("POST", re.compile(r"^/channels/\d+/messages$"))
            if r.status == 200 and (prefix is None or r.path == prefix)
        ]

    def callbacks(self, interaction_id: str | None = None) -> list[Request]:
        """``POST /interactions/{id}/{token}/callback`` requests."""
        prefix = f"/interactions/{interaction_id}/" if interaction_id else "/interactions/"
        return [r for r in self.find("POST", prefix) if r.path.endswith("/callback")]

    def followups(self, token: str | None = None) -> list[Request]:
        """Follow-ups and edits of an interaction's messages (webhook routes of the app)."""
        prefix = f"/webhooks/{self.application_id}/{token or ''}"
        return self.find(None, prefix)

    def interaction_traffic(self, payload: Mapping[str, Any]) -> list[Request]:
        """Everything the client sent in answer to one interaction, in order."""
        return self.callbacks(payload["id"]) + self.followups(payload["token"])

    def outgoing_messages(self) -> list[dict[str, Any]]:
        """Every message body the client sent: posts, webhooks, callbacks, follow-ups, edits."""
        bodies = []
        for request in self.requests:
            body = request.json
            if not isinstance(body, dict):
                continue
            if request.path.endswith("/callback"):
                if body.get("type") in (CHANNEL_MESSAGE, UPDATE_MESSAGE) and "data" in body:
                    bodies.append(body["data"])
            elif request.method in ("POST", "PATCH") and (
                re.match(r"^/channels/\d+/messages", request.path)
                or request.path.startswith("/webhooks/")
            ):
                bodies.append(body)
        return bodies

    async def wait_for(self, predicate: Callable[[FakeDiscord], Any], within: float = 5.0) -> Any:
        """Wait until ``predicate(self)`` is truthy (checked after every request) and return it."""

        async def check() -> Any:
            async with self._changed:
                while not (result := predicate(self)):
                    await self._changed.wait()
                return result

        return await asyncio.wait_for(check(), within)

    async def wait_identified(self, within: float = 5.0) -> dict[str, Any]:
        await asyncio.wait_for(self._identified.wait(), within)
        assert self.identify is not None
        return self.identify

    def live_shards(self) -> dict[int, GatewaySession]:
        """Shard id → the session holding it now (identified, not closed)."""
        return {shard: s for shard, s in self._live.items() if not s.ws.closed}

    async def wait_shards(
        self, predicate: Callable[[dict[int, GatewaySession]], Any], within: float = 10.0
    ) -> dict[int, GatewaySession]:
        """Wait until ``predicate(live_shards())`` is truthy (checked on every session change)."""

        async def check() -> dict[int, GatewaySession]:
            async with self._changed:
                while not predicate(live := self.live_shards()):
                    await self._changed.wait()
                return live

        return await asyncio.wait_for(check(), within)

    def shard_of(self, guild_id: str | None) -> int:
        """The shard Discord sends a server's events to (direct messages: shard 0)."""
        return 0 if guild_id is None else (int(guild_id) >> 22) % self.shards

    # -- interactions ---------------------------------------------------------------------

    def slash(
        self, name: str, options: Iterable[dict[str, Any]] = (), where: Where = Where()
    ) -> dict[str, Any]:
        """An APPLICATION_COMMAND interaction for ``/name`` with ``options``."""
        return interaction_payload(
            APPLICATION_COMMAND,
            command_data(name, options),
            where,
            application_id=self.application_id,
        )

    def autocomplete(
        self,
        name: str,
        focused: str,
        current: str,
        options: Iterable[dict[str, Any]] = (),
        where: Where = Where(),
    ) -> dict[str, Any]:
        """An AUTOCOMPLETE interaction: the user is typing ``current`` into option ``focused``."""
        opts = [*options, option(focused, current, kind=3, focused=True)]
        return interaction_payload(
            AUTOCOMPLETE, command_data(name, opts), where, application_id=self.application_id
        )

    def press(
        self, custom_id: str, message: dict[str, Any], where: Where = Where()
    ) -> dict[str, Any]:
        """A MESSAGE_COMPONENT interaction: a button with ``custom_id`` on ``message`` pressed."""
        return interaction_payload(
            MESSAGE_COMPONENT,
            {"custom_id": custom_id, "component_type": 2},
            where,
            application_id=self.application_id,
            message=message,
        )

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a gateway DISPATCH (op 0) event to the session of its server's shard."""
        shard = self.shard_of(data.get("guild_id"))
        session = self.live_shards().get(shard)
        if session is None:
            raise RuntimeError(f"no client holds shard {shard} of the fake gateway")
        await session.send({"op": 0, "t": event, "d": data})

    async def dispatch_interaction(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.dispatched_at[payload["id"]] = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def run_interaction(
        self, payload: dict[str, Any], *, count: int = 1, within: float = 5.0
    ) -> list[Request]:
        """Dispatch ``payload`` and wait until the client sent ``count`` answers to it."""
        await self.dispatch_interaction(payload)
        return await self.wait_for(
            lambda fake: (
                (traffic := fake.interaction_traffic(payload)) and len(traffic) >= count and traffic
            ),
            within,
        )

    # -- gateway --------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.add(ws)
        session = GatewaySession(ws, f"fake-session-{next(self._session_ids)}")
        try:
            await ws.send_json(
                {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None}
            )
            self.hellos += 1
            async for msg in ws:
                if msg.type.name != "TEXT":
                    continue
                frame = json.loads(msg.data)
                op = frame.get("op")
                if op == 1:
                    # discord.py notes a heartbeat's send time only once its keep-alive thread
                    # sees the send done; an ACK overtaking that is logged as a 40-second
                    # latency. A remote gateway's answer takes a moment too.
                    await asyncio.sleep(0.05)
                    await ws.send_json({"op": 11, "d": None})
                elif op == 2:
                    await self._identify(session, frame["d"])
                elif op == 6:
                    await self._resume(session, frame["d"])
        finally:
            self._sockets.discard(ws)
            session.closed_at = time.monotonic()
            if session.shard is not None and self._live.get(session.shard) is session:
                del self._live[session.shard]
            async with self._changed:
                self._changed.notify_all()
        return ws

    async def _identify(self, session: GatewaySession, payload: dict[str, Any]) -> None:
        self.identify = payload
        shard, count = payload.get("shard") or (0, 1)
        if not 0 <= shard < count:
            await session.ws.close(code=4010, message=b"Invalid shard")
            return
        if count != self.shards:
            await session.ws.close(code=4011, message=b"Sharding required")
            return
        session.shard, session.count = shard, count
        session.identified_at = time.monotonic()
        holder = self.live_shards().get(shard)
        if holder is not None and holder is not session:
            # Discord would invalidate one of the two: the newcomer here, so the session
            # holding the shard keeps its events and the test sees the conflict.
            self.shard_conflicts.append(session)
            session.shard = None
            await session.send({"op": 9, "d": False})
            return
        self.sessions.append(session)
        self._live[shard] = session
        await session.send({"op": 0, "t": "READY", "d": self._ready(session)})
        self._identified.set()
        async with self._changed:
            self._changed.notify_all()

    async def _resume(self, session: GatewaySession, payload: dict[str, Any]) -> None:
        """A session resumed on a new socket keeps its shard (if nobody took it meanwhile)."""
        old = next((s for s in self.sessions if s.id == payload.get("session_id")), None)
        if old is None or old.shard is None or self.live_shards().get(old.shard) not in (None, old):
            await session.send({"op": 9, "d": False})
            return
        session.id, session.shard, session.count = old.id, old.shard, old.count
        session.sequence = old.sequence
        session.identified_at = time.monotonic()
        self.sessions.append(session)
        self._live[old.shard] = session
        await session.send({"op": 0, "t": "RESUMED", "d": {}})

    def _ready(self, session: GatewaySession) -> dict[str, Any]:
        return {
            "v": 10,
            "user": self._bot_user(),
            "guilds": [],
            "session_id": session.id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": self.application_id, "flags": 0},
            "private_channels": [],
            "relationships": [],
            "shard": [session.shard, session.count],
        }

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": BOT_USER_ID,
            "username": BOT_USERNAME,
            "global_name": None,
            "discriminator": "0",
            "avatar": None,
            "bot": True,
            "verified": True,
            "mfa_enabled": False,
            "flags": 0,
            "public_flags": 0,
        }

    # -- REST -----------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body = await self._read_body(request)
        record = Request(request.method, path, dict(request.query), body)
        self.requests.append(record)
        try:
            self._authorize(path, request.headers.get("Authorization"))
            response = await self._answer(request.method, path, record)
        except _Reject as reject:
            response = reject.response
        record.status = response.status
        record.headers = dict(response.headers)
        if isinstance(response.body, bytes) and response.body:
            record.response = json.loads(response.body)
        async with self._changed:
            self._changed.notify_all()
        return response

    def _authorize(self, path: str, authorization: str | None) -> None:
        # Webhook and interaction routes authenticate by the token in their path, not the bot's.
        if self.token is None or path.startswith(("/webhooks/", "/interactions/")):
            return
        if authorization != f"Bot {self.token}":
            raise _Reject(_json_response({"message": "401: Unauthorized", "code": 0}, 401))

    async def _read_body(self, request: web.Request) -> Any:
        if not request.can_read_body:
            return None
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            raw = form.get("payload_json")
            return json.loads(str(raw)) if raw is not None else None
        text = await request.text()
        return json.loads(text) if text else None

    async def _answer(self, method: str, path: str, record: Request) -> web.Response:
        # Logging in and finding the gateway never fail: tests script the sends.
        if path == "/users/@me" and method == "GET":
            return _json_response(self._bot_user())
        if path == "/oauth2/applications/@me" and method == "GET":
            return _json_response(self._application())
        if path in ("/gateway", "/gateway/bot"):
            return _json_response(
                {
                    "url": self.gateway_url,
                    "shards": self.shards,
                    "session_start_limit": {
                        "total": 1000,
                        "remaining": 999,
                        "reset_after": 0,
                        "max_concurrency": self.max_concurrency,
                    },
                }
            )

        if match := re.fullmatch(r"/interactions/(\d+)/([^/]+)/callback", path):
            await self._script(["interaction", "*"])
            self._check_window(match.group(1), record.at)
            return self._callback(match.group(1), record.json or {})
        if match := re.fullmatch(rf"/webhooks/{self.application_id}/([^/]+)(/.*)?", path):
            await self._script(["interaction", "*"])
            return self._followup(method, match.group(1), match.group(2) or "", record)
        if match := re.fullmatch(r"/channels/(\d+)/messages", path):
            if method != "POST":
                return _json_response([])
            channel_id = match.group(1)
            await self._script([f"channel:{channel_id}", "*"])
            headers = self._limit(f"channel:{channel_id}", "channel-messages")
            return self._create_message(channel_id, record.json or {}, headers)
        if match := re.fullmatch(r"/webhooks/(\d+)/([^/]+)", path):
            webhook_id = match.group(1)
            await self._script([f"webhook:{webhook_id}", "*"])
            headers = self._limit(f"webhook:{webhook_id}", "webhook-execute")
            message = self._create_message(
                f"9{webhook_id[1:]}", record.json or {}, headers, webhook_id=webhook_id
            )
            if record.query.get("wait") not in ("true", "1", "True"):
                return web.Response(status=204, headers=headers)
            return message
        if match := re.fullmatch(r"/channels/(\d+)/messages/(\d+)", path):
            await self._script([f"channel:{match.group(1)}", "*"])
            return self._change_message(method, match.group(2), record, channel=match.group(1))
        if match := re.fullmatch(r"/webhooks/(\d+)/([^/]+)/messages/(\d+)", path):
            await self._script([f"webhook:{match.group(1)}", "*"])
            return self._change_message(method, match.group(3), record, webhook=match.group(1))
        if match := re.fullmatch(
            rf"/applications/{self.application_id}(?:/guilds/(\d+))?/commands", path
        ):
            await self._script(["*"])
            if method == "PUT":
                return self._register_commands(match.group(1), record.json or [])
            return _json_response(self.registered_commands.get(match.group(1), []))
        await self._script(["*"])
        return _json_response({"message": "404: Not Found", "code": 0}, 404)

    async def _script(self, keys: list[str]) -> None:
        failure = self._scripted(keys)
        if failure is None:
            return
        if failure.delay:
            await asyncio.sleep(failure.delay)
        if failure.status < 400:
            return
        if failure.status == 429:
            raise _Reject(
                self._too_many(
                    failure.retry_after if failure.retry_after is not None else 1.0,
                    scope="global" if failure.is_global else "user",
                )
            )
        raise _Reject(
            _json_response(
                _error_body(failure.status, failure.code, failure.message), failure.status
            )
        )

    def _too_many(self, retry_after: float, *, scope: str) -> web.Response:
        is_global = scope == "global"
        headers = {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Scope": scope,
            "Via": "1.1 google",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        else:
            headers["X-RateLimit-Bucket"] = "fakebucket"
        body = {"message": "You are being rate limited.", "retry_after": retry_after}
        body["global"] = is_global
        return _json_response(body, 429, headers)

    def _limit(self, bucket_key: str, bucket_hash: str) -> dict[str, str]:
        """Count a request against the global and the route's limit; 429 when over either."""
        now = time.monotonic()
        if self._global is not None and (wait := self._global.take(now)) is not None:
            self.rate_limited += 1
            raise _Reject(self._too_many(wait, scope="global"))
        if self.channel_limit is None:
            return {}
        bucket = self._buckets.get(bucket_key)
        if bucket is None:
            bucket = self._buckets[bucket_key] = _Window(*self.channel_limit)
        if (wait := bucket.take(now)) is not None:
            self.rate_limited += 1
            raise _Reject(self._too_many(wait, scope="user"))
        reset_after = bucket.reset_after(now)
        return {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(bucket.remaining(now)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket_hash,
        }

    def _check_window(self, interaction_id: str, at: float) -> None:
        """Discord invalidates an interaction's token unless it is answered within 3 s."""
        dispatched = self.dispatched_at.pop(interaction_id, None)  # only the first callback
        if dispatched is None or self.interaction_window is None:
            return
        if at - dispatched > self.interaction_window:
            self.late_interactions += 1
            raise _Reject(
                _json_response({"message": "Unknown interaction", "code": UNKNOWN_INTERACTION}, 404)
            )

    def _check_message(self, payload: Mapping[str, Any]) -> None:
        problems = message_problems(payload)
        if problems:
            raise _Reject(_invalid_form({"message": problems}))
        if _is_empty(payload):
            raise _Reject(
                _json_response(
                    {"message": "Cannot send an empty message", "code": CANNOT_SEND_EMPTY}, 400
                )
            )

    def _create_message(
        self,
        channel_id: str,
        payload: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
        *,
        webhook_id: str | None = None,
        interaction: Mapping[str, Any] | None = None,
    ) -> web.Response:
        self._check_message(payload)
        message = self._message(channel_id, payload, webhook_id=webhook_id)
        return _json_response(message, 200, headers)

    def _message(
        self, channel_id: str, payload: Mapping[str, Any], *, webhook_id: str | None = None
    ) -> dict[str, Any]:
        message_id = snowflake()
        author = self._bot_user()
        if webhook_id:
            author = {**author, "id": webhook_id, "username": "KCrush", "bot": True}
        message: dict[str, Any] = {
            "id": message_id,
            "channel_id": channel_id,
            "type": 0,
            "content": payload.get("content") or "",
            "embeds": payload.get("embeds") or [],
            "components": payload.get("components") or [],
            "author": author,
            "attachments": [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": "2024-05-01T00:00:00+00:00",
            "edited_timestamp": None,
            "flags": payload.get("flags") or 0,
        }
        if webhook_id:
            message["webhook_id"] = webhook_id
        self.messages[message_id] = message
        return message

    def _change_message(
        self,
        method: str,
        message_id: str,
        record: Request,
        *,
        channel: str | None = None,
        webhook: str | None = None,
    ) -> web.Response:
        """Edit (PATCH) or delete (DELETE) a message by its channel or the webhook that sent
        it; 404 Unknown Message when it is not there (deleted, or someone else's)."""
        message = self.messages.get(message_id)
        if (
            message is None
            or (channel is not None and message["channel_id"] != channel)
            or (webhook is not None and message.get("webhook_id") != webhook)
        ):
            body = _error_body(404, UNKNOWN_MESSAGE, "Unknown Message")
            return _json_response(body, 404)
        if method == "DELETE":
            del self.messages[message_id]
            self.deleted.append(message_id)
            return web.Response(status=204)
        payload = record.json or {}
        self._check_message(payload)
        for key in ("content", "embeds", "components"):
            if key in payload:
                message[key] = payload[key] or ([] if key != "content" else "")
        message["edited_timestamp"] = "2024-05-01T00:00:01+00:00"
        self.edited.append(message_id)
        return _json_response(message)

    def _callback(self, interaction_id: str, body: Mapping[str, Any]) -> web.Response:
        kind = body.get("type")
        data = body.get("data") or {}
        response: dict[str, Any] = {"id": interaction_id, "type": kind}
        resource: dict[str, Any] = {"type": kind}
        if kind == CHANNEL_MESSAGE:
            self._check_message(data)
            message = self._message("0", data)
            response["response_message_id"] = message["id"]
            response["response_message_loading"] = False
            response["response_message_ephemeral"] = bool((data.get("flags") or 0) & EPHEMERAL)
            resource["message"] = message
        elif kind == UPDATE_MESSAGE:
            problems = message_problems(data)
            if problems:
                raise _Reject(_invalid_form({"data": problems}))
        elif kind == DEFERRED_CHANNEL_MESSAGE:
            response["response_message_loading"] = True
            response["response_message_ephemeral"] = bool((data.get("flags") or 0) & EPHEMERAL)
        elif kind == AUTOCOMPLETE_RESULT:
            choices = data.get("choices") or []
            if len(choices) > 25:
                raise _Reject(_invalid_form({"data": {"choices": "at most 25"}}))
            return web.Response(status=204)
        return _json_response({"interaction": response, "resource": resource})

    def _followup(self, method: str, token: str, rest: str, record: Request) -> web.Response:
        body = record.json or {}
        if method == "POST" and rest == "":
            self._check_message(body)
            return _json_response(self._message("0", body))
        if method == "PATCH" and rest.startswith("/messages/"):
            problems = message_problems(body)
            if problems:
                raise _Reject(_invalid_form({"message": problems}))
            message = self._message("0", body)
            return _json_response(message)
        if method == "DELETE":
            return web.Response(status=204)
        return _json_response({"message": "Unknown Webhook", "code": UNKNOWN_WEBHOOK}, 404)

    def _application(self) -> dict[str, Any]:
        return {
            "id": self.application_id,
            "name": BOT_USERNAME,
            "icon": None,
            "description": "KCrush America Magazine",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": _user("2001", "owner"),
            "verify_key": "0" * 64,
            "flags": 0,
            "team": None,
            "bot": self._bot_user(),
            "interactions_endpoint_url": None,
            "approximate_guild_count": 1,
            "redirect_uris": [],
        }

    def _register_commands(
        self, guild_id: str | None, commands: list[dict[str, Any]]
    ) -> web.Response:
        if len(commands) > 100:
            raise _Reject(_invalid_form({"commands": "at most 100"}))
        registered = []
        for command in commands:
            name = command.get("name", "")
            if not re.fullmatch(r"[-_a-z0-9]{1,32}", name) or not command.get("description"):
                raise _Reject(_invalid_form({"name": name}))
            if len(command.get("options") or []) > 25:
                raise _Reject(_invalid_form({name: "at most 25 options"}))
            registered.append(
                {
                    **command,
                    "id": snowflake(),
                    "application_id": self.application_id,
                    "version": snowflake(),
                    **({"guild_id": guild_id} if guild_id else {}),
                }
            )
        self.registered_commands[guild_id] = registered
        return _json_response(registered)


async def start_fake_discord(**options: Any) -> FakeDiscord:
    """Start a fake Discord on 127.0.0.1 (a free port); ``close()`` it when done."""
    return await FakeDiscord(**options).start()


FAKE_TOKEN = "fake-discord-token.not-a-real-one"


def settings_for(fake: FakeDiscord, **overrides: Any) -> Any:
    """``DiscordSettings`` pointing at ``fake`` (token ``FAKE_TOKEN`` unless overridden)."""
    from kcrush_bot.settings import DiscordSettings, Secret

    values: dict[str, Any] = {
        "api_base": fake.api_base,
        "gateway_url": fake.gateway_url,
        "token": Secret(FAKE_TOKEN),
    }
    values.update(overrides)
    return DiscordSettings(**values)
