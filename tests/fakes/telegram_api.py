"""A fake Telegram Bot API on loopback, for driving the real python-telegram-bot against it.

``start_fake_telegram()`` starts an aiohttp server on 127.0.0.1 (port 0) that answers
``/bot<token>/<method>`` like api.telegram.org does: the same envelopes
(``{"ok": true, "result": ...}`` / ``{"ok": false, "error_code", "description", "parameters"}``),
the same request encodings (python-telegram-bot sends form-encoded fields whose non-string
values are JSON; other clients send JSON or multipart), and the same rules that bite in
production:

* flood limits: about 30 sends/s overall, 1/s per chat, 20/min per group, answered with 429 and
  ``parameters.retry_after`` (configurable through ``Limits``, so a benchmark can raise them);
  an edit counts like a message in its chat; answers to callback and inline queries, for which
  Telegram documents no limit, are not counted;
* text limits counted after entity parsing: 4096 for a message, 1024 for a caption;
* Telegram's HTML subset: unknown tags, unclosed tags, stray ``<`` or ``&`` are rejected;
* callback queries can be answered once, an edit that changes nothing is "not modified", a
  text message cannot be edited as a photo nor a photo as text, and a message older than 48
  hours in a private chat or a basic group "can't be deleted";
  ``getUpdates`` keeps updates until a later ``offset`` confirms them;
* ``setWebhook`` checks its ``url`` and ``secret_token`` and records them; while a webhook is
  set ``getUpdates`` is refused (409), and ``post_to_webhook`` delivers an update to the bot's
  listener the way Telegram does, secret header included.

Tests push updates (``push_update`` and the ``*_update`` builders), script failures per method
and chat (``script``: 429, 403, 400, migrate-to-supergroup, 5xx, delays) and assert on what the
bot sent (``calls``, ``sent``, ``wait_for_calls``).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import math
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import ClientSession, ClientTimeout, web

DEFAULT_TOKEN = "123456789:AAHfakeTOKENfakeTOKENfakeTOKENfake12"
BOT_USER = {
    "id": 123456789,
    "is_bot": True,
    "first_name": "KCrush",
    "username": "kcrush_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": True,
}
GROUP_ANONYMOUS_BOT = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}

DELETE_WINDOW = 48 * 3600  # seconds a bot may delete its message in a private chat or group

# Methods that post a message into a chat: these count against the flood limits.
SEND_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendVideo",
        "sendAnimation",
        "sendAudio",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessage",
    }
)
# Edits of a message count against the same limits as messages.
EDIT_METHODS = frozenset(
    {"editMessageText", "editMessageCaption", "editMessageMedia", "editMessageReplyMarkup"}
)
FLOOD_METHODS = SEND_METHODS | EDIT_METHODS
# Parameters whose form value is a plain string, never JSON: "123" as a text stays text.
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "photo",
        "url",
        "query",
        "callback_query_id",
        "inline_query_id",
        "next_offset",
        "secret_token",
        "description",
        "title",
        "ip_address",
    }
)
_ALLOWED_TAGS = {
    "b": (),
    "strong": (),
    "i": (),
    "em": (),
    "u": (),
    "ins": (),
    "s": (),
    "strike": (),
    "del": (),
    "tg-spoiler": (),
    "span": ("class",),
    "a": ("href",),
    "code": ("class",),
    "pre": (),
    "blockquote": ("expandable",),
    "tg-emoji": ("emoji-id",),
}
_TOKEN = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[^>]*)?)\s*>|&(#\d+|#x[0-9A-Fa-f]+|\w+);|[<&]"
)
# post_to_webhook's default: the secret the bot registered with setWebhook.
REGISTERED: Any = object()
# setWebhook's secret_token: 1-256 characters, letters, digits, "_" and "-".
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_ATTR = re.compile(r'\s*([A-Za-z-]+)(?:\s*=\s*(?:"([^"]*)"|\'([^\']*)\'|([^\s"\'>]+)))?')


@dataclass(frozen=True)
class FakeError:
    """A scripted failure answer: HTTP status, Telegram description, optional parameters."""

    status: int
    description: str
    parameters: dict[str, Any] | None = None
    html_body: bool = False  # a proxy's HTML error page instead of JSON (nginx 502)


BLOCKED = FakeError(403, "Forbidden: bot was blocked by the user")
KICKED = FakeError(403, "Forbidden: bot was kicked from the group chat")
CHAT_NOT_FOUND = FakeError(400, "Bad Request: chat not found")
NO_RIGHTS = FakeError(400, "Bad Request: have no rights to send a message")
TOPIC_CLOSED = FakeError(400, "Bad Request: TOPIC_CLOSED")
SERVER_ERROR = FakeError(500, "Internal Server Error")
BAD_GATEWAY = FakeError(502, "Bad Gateway", html_body=True)


def retry_after(seconds: int) -> FakeError:
    return FakeError(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})


def migrated(new_chat_id: int) -> FakeError:
    return FakeError(
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        {"migrate_to_chat_id": new_chat_id},
    )


@dataclass
class Limits:
    """Flood limits; ``None`` switches one off. Defaults are Telegram's documented ones."""

    per_second: float | None = 30
    per_chat_per_second: float | None = 1
    per_group_per_minute: float | None = 20

    @classmethod
    def off(cls) -> Limits:
        """No flood limits: for tests of command replies, which arrive in bursts."""
        return cls(None, None, None)


@dataclass
class Rule:
    method: str | None
    chat_id: str | None
    error: FakeError | None
    delay: float
    times: int | None  # None: forever


@dataclass
class Call:
    """One request the fake received, and how it answered."""

    method: str
    params: dict[str, Any]
    at: float
    status: int = 200
    content_type: str = ""
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def chat_id(self) -> str | None:
        value = self.params.get("chat_id")
        return None if value is None else str(value)


class ApiError(Exception):
    def __init__(self, error: FakeError) -> None:
        super().__init__(error.description)
        self.error = error


class FakeTelegram:
    """The fake server's state. Build it with ``start_fake_telegram()``."""

    def __init__(self, *, token: str = DEFAULT_TOKEN, limits: Limits | None = None) -> None:
        self.token = token
        self.limits = limits or Limits()
        self.bot = dict(BOT_USER)
        self.calls_log: list[Call] = []
        self.messages: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.edits: list[tuple[str, int]] = []  # (chat id, message id) of each edit made
        self.deleted: list[tuple[str, int]] = []  # (chat id, message id) of each deletion
        self.chats: dict[str, dict[str, Any]] = {}
        self.members: dict[tuple[str, str], str] = {}
        self.commands: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] = {"url": ""}
        self.too_many_requests = 0
        self.rules: list[Rule] = []
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self._open_callbacks: set[str] = set()
        self._open_inline: set[str] = set()
        self._callback_ids = itertools.count(1)
        self._allowed_updates: list[str] = []
        self._sends: deque[float] = deque()
        self._chat_sends: dict[str, deque[float]] = defaultdict(deque)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            # Release long polls still waiting (their clients may be gone) so shutdown is quick.
            self._closing = True
            await self._notify()
            await runner.cleanup()

    # -- scripting -------------------------------------------------------------------------

    def script(
        self,
        method: str | None = None,
        chat_id: int | str | None = None,
        *,
        error: FakeError | None = None,
        delay: float = 0.0,
        times: int | None = 1,
    ) -> None:
        """Make the next ``times`` matching requests fail with ``error`` and/or answer late."""
        self.rules.append(
            Rule(method, None if chat_id is None else str(chat_id), error, delay, times)
        )

    def set_member(self, chat_id: int | str, user_id: int | str, status: str) -> None:
        """What ``getChatMember`` answers: creator, administrator, member, left, kicked."""
        self.members[(str(chat_id), str(user_id))] = status

    def add_chat(self, chat_id: int, kind: str, title: str | None = None, **extra: Any) -> dict:
        chat: dict[str, Any] = {"id": chat_id, "type": kind}
        if kind == "private":
            chat["first_name"] = title or "Fan"
        else:
            chat["title"] = title or f"Chat {chat_id}"
        chat.update(extra)
        self.chats[str(chat_id)] = chat
        return chat

    def chat(self, chat_id: int | str) -> dict[str, Any]:
        known = self.chats.get(str(chat_id))
        if known:
            return known
        number = int(chat_id)
        if number > 0:
            return {"id": number, "type": "private", "first_name": "Fan"}
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": number, "type": kind, "title": f"Chat {chat_id}"}

    # -- updates ---------------------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for ``getUpdates``; ``update_id`` is assigned if absent."""
        update = dict(update)
        update.setdefault("update_id", next(self._update_ids))
        for key in ("callback_query",):
            if key in update:
                self._open_callbacks.add(update[key]["id"])
        if "inline_query" in update:
            self._open_inline.add(update["inline_query"]["id"])
        self._updates.append(update)
        asyncio.get_running_loop().create_task(self._notify())
        return update

    def message_update(
        self,
        chat_id: int,
        text: str,
        *,
        user: dict[str, Any] | None = None,
        sender_chat: dict[str, Any] | None = None,
        thread_id: int | None = None,
    ) -> dict[str, Any]:
        """A user's message (a command when ``text`` starts with "/"), pushed and returned."""
        chat = self.chat(chat_id)
        message = self._message(chat, text)
        message["from"] = user or user_dict(42)
        if sender_chat is not None:
            message["sender_chat"] = sender_chat
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        return self.push_update({"message": message})

    def channel_post_update(self, chat_id: int, text: str) -> dict[str, Any]:
        chat = self.chat(chat_id)
        if chat["type"] != "channel":
            chat = self.add_chat(chat_id, "channel", chat.get("title"))
        message = self._message(chat, text)
        message["sender_chat"] = chat
        return self.push_update({"channel_post": message})

    def callback_update(
        self, message: dict[str, Any], data: str, *, user: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A press on a button under ``message`` (one the bot sent)."""
        query = {
            "id": f"cbq{next(self._callback_ids)}",
            "from": user or user_dict(42),
            "chat_instance": "1",
            "message": message,
            "data": data,
        }
        return self.push_update({"callback_query": query})

    def inline_query_update(
        self, query: str, *, user: dict[str, Any] | None = None, offset: str = ""
    ) -> dict[str, Any]:
        inline = {
            "id": f"iq{next(self._callback_ids)}",
            "from": user or user_dict(42),
            "query": query,
            "offset": offset,
        }
        return self.push_update({"inline_query": inline})

    def _message(self, chat: dict[str, Any], text: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids[str(chat["id"])]),
            "date": int(time.time()),
            "chat": chat,
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(command)}
            ]
        return message

    # -- assertions ------------------------------------------------------------------------

    def calls(self, method: str | None = None, chat_id: int | str | None = None) -> list[Call]:
        return [
            c
            for c in self.calls_log
            if (method is None or c.method == method)
            and (chat_id is None or c.chat_id == str(chat_id))
        ]

    def sent(self, chat_id: int | str) -> list[dict[str, Any]]:
        """Messages the bot posted in that chat, as they look now (edits applied)."""
        return self.messages[str(chat_id)]

    def texts(self, chat_id: int | str) -> list[str]:
        return [m.get("text") or m.get("caption") or "" for m in self.sent(chat_id)]

    async def wait_for(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Until ``predicate()`` holds (checked after every request); TimeoutError after ``within``."""
        async with asyncio.timeout(within):
            async with self._changed:
                await self._changed.wait_for(predicate)

    async def wait_for_calls(
        self,
        method: str,
        count: int = 1,
        *,
        chat_id: int | str | None = None,
        within: float = 5.0,
    ) -> list[Call]:
        await self.wait_for(lambda: len(self.calls(method, chat_id)) >= count, within)
        return self.calls(method, chat_id)

    async def wait_consumed(self, update: dict[str, Any], within: float = 5.0) -> None:
        """Until the bot confirmed ``update`` (a later getUpdates offset)."""
        await self.wait_for(lambda: update not in self._updates, within)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- HTTP ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, files = await _read_params(request)
        call = Call(method, params, time.monotonic(), content_type=request.content_type)
        call.files = files
        self.calls_log.append(call)
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(FakeError(401, "Unauthorized"))
            await self._apply_rules(method, call.chat_id)
            handler = getattr(self, f"_api_{method}", None)
            if handler is None:
                raise ApiError(FakeError(404, "Not Found"))
            if method in FLOOD_METHODS:
                self._check_flood(call.chat_id)
            result = await handler(params)
        except ApiError as exc:
            call.status = exc.error.status
            await self._notify()
            return _error_response(exc.error)
        await self._notify()
        return web.json_response({"ok": True, "result": result})

    async def _apply_rules(self, method: str, chat_id: str | None) -> None:
        for rule in self.rules:
            if rule.times == 0:
                continue
            if rule.method not in (None, method) or rule.chat_id not in (None, chat_id):
                continue
            if rule.times is not None:
                rule.times -= 1
            if rule.delay:
                await asyncio.sleep(rule.delay)
            if rule.error is not None:
                raise ApiError(rule.error)
            return

    def _check_flood(self, chat_id: str | None) -> None:
        now = time.monotonic()
        limits = self.limits
        waits: list[float] = []
        if limits.per_second is not None:
            _expire(self._sends, now - 1.0)
            if len(self._sends) >= limits.per_second:
                waits.append(self._sends[0] + 1.0 - now)
        if chat_id is not None:
            history = self._chat_sends[chat_id]
            _expire(history, now - 60.0)
            if limits.per_chat_per_second is not None and history:
                recent = [t for t in history if t > now - 1.0]
                if len(recent) >= limits.per_chat_per_second:
                    waits.append(recent[0] + 1.0 - now)
            group_limit = limits.per_group_per_minute if chat_id.startswith("-") else None
            if group_limit is not None and len(history) >= group_limit:
                waits.append(history[0] + 60.0 - now)
        if waits:
            self.too_many_requests += 1
            raise ApiError(retry_after(max(1, math.ceil(max(waits)))))
        self._sends.append(now)
        if chat_id is not None:
            self._chat_sends[chat_id].append(now)

    # -- methods ---------------------------------------------------------------------------

    async def _api_getMe(self, params: dict[str, Any]) -> Any:
        return self.bot

    async def _api_logOut(self, params: dict[str, Any]) -> Any:
        return True

    async def _api_close(self, params: dict[str, Any]) -> Any:
        return True

    async def _api_setMyCommands(self, params: dict[str, Any]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(FakeError(400, "Bad Request: commands must be a list of at most 100"))
        for command in commands:
            name = command.get("command", "")
            description = command.get("description", "")
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise ApiError(FakeError(400, "Bad Request: BOT_COMMAND_INVALID"))
            if not 1 <= len(description) <= 256:
                raise ApiError(FakeError(400, "Bad Request: command description is invalid"))
        self.commands = commands
        return True

    async def _api_getMyCommands(self, params: dict[str, Any]) -> Any:
        return self.commands

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = {"url": ""}
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _api_setWebhook(self, params: dict[str, Any]) -> Any:
        url = str(_require(params, "url"))
        if url and urlsplit(url).scheme not in ("http", "https"):
            # A local Bot API server (which this fake stands for) also accepts http:// URLs.
            raise ApiError(FakeError(400, "Bad Request: bad webhook: Webhook URL is invalid"))
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(str(secret)):
            raise ApiError(
                FakeError(400, "Bad Request: secret token contains unallowed characters")
            )
        if params.get("drop_pending_updates"):
            self._updates.clear()
        if not url:  # an empty url removes the webhook, as deleteWebhook does
            self.webhook = {"url": ""}
            return True
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "allowed_updates": params.get("allowed_updates"),
            "max_connections": params.get("max_connections", 40),
        }
        if params.get("allowed_updates") is not None:
            self._allowed_updates = list(params["allowed_updates"])
        return True

    async def _api_getWebhookInfo(self, params: dict[str, Any]) -> Any:
        info: dict[str, Any] = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook.get("url"):
            info["max_connections"] = self.webhook["max_connections"]
            if self.webhook.get("allowed_updates") is not None:
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    async def post_to_webhook(
        self, update: dict[str, Any], *, secret_token: Any = REGISTERED
    ) -> int:
        """POST ``update`` to the registered webhook as Telegram does; the HTTP status.

        The ``X-Telegram-Bot-Api-Secret-Token`` header carries the registered secret unless
        ``secret_token`` says otherwise (``None``: no header at all).
        """
        url = self.webhook.get("url")
        if not url:
            raise AssertionError("no webhook is set (setWebhook was not called)")
        token = self.webhook.get("secret_token") if secret_token is REGISTERED else secret_token
        headers = {"X-Telegram-Bot-Api-Secret-Token": str(token)} if token is not None else {}
        async with (
            ClientSession(timeout=ClientTimeout(total=5)) as session,
            session.post(url, json=update, headers=headers) as response,
        ):
            await response.read()
            return response.status

    async def _api_getUpdates(self, params: dict[str, Any]) -> Any:
        if self.webhook.get("url"):
            raise ApiError(
                FakeError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            )
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if params.get("allowed_updates") is not None:
            self._allowed_updates = list(params["allowed_updates"])
        # Like Telegram: an offset confirms every earlier update; unconfirmed ones are sent
        # again. A poll abandoned by a cancelled client therefore loses nothing.
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            await self._notify()

        def ready() -> list[dict[str, Any]]:
            return [u for u in self._updates if u["update_id"] >= offset and self._wanted(u)][
                :limit
            ]

        if not ready() and timeout > 0:
            with contextlib.suppress(TimeoutError):
                await self.wait_for(lambda: self._closing or bool(ready()), timeout)
        return ready()

    def _wanted(self, update: dict[str, Any]) -> bool:
        if not self._allowed_updates:
            return True
        kind = next(k for k in update if k != "update_id")
        return kind in self._allowed_updates

    async def _api_getChatMember(self, params: dict[str, Any]) -> Any:
        chat_id, user_id = str(params["chat_id"]), str(params["user_id"])
        status = self.members.get((chat_id, user_id), "member")
        member: dict[str, Any] = {"status": status, "user": user_dict(int(user_id))}
        if status == "administrator":
            member.update(
                can_be_edited=False,
                is_anonymous=False,
                can_manage_chat=True,
                can_delete_messages=True,
                can_manage_video_chats=True,
                can_restrict_members=True,
                can_promote_members=False,
                can_change_info=True,
                can_invite_users=True,
                can_post_stories=False,
                can_edit_stories=False,
                can_delete_stories=False,
            )
        elif status == "creator":
            member["is_anonymous"] = False
        return member

    async def _api_getChat(self, params: dict[str, Any]) -> Any:
        chat = dict(self.chat(params["chat_id"]))
        chat.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
            },
        )
        return chat

    async def _api_sendMessage(self, params: dict[str, Any]) -> Any:
        chat_id = _require(params, "chat_id")
        text = str(_require(params, "text"))
        visible, entities = _parse_text(text, params.get("parse_mode"))
        if not visible.strip():
            raise ApiError(FakeError(400, "Bad Request: message text is empty"))
        if _utf16_len(visible) > 4096:
            raise ApiError(FakeError(400, "Bad Request: message is too long"))
        _check_markup(params.get("reply_markup"))
        message = self._store(chat_id, params, text=visible, entities=entities)
        if isinstance(params.get("link_preview_options"), dict):
            message["link_preview_options"] = params["link_preview_options"]
        return message

    async def _api_sendPhoto(self, params: dict[str, Any]) -> Any:
        chat_id = _require(params, "chat_id")
        _require(params, "photo")
        caption = str(params.get("caption") or "")
        visible, entities = _parse_text(caption, params.get("parse_mode"))
        if _utf16_len(visible) > 1024:
            raise ApiError(FakeError(400, "Bad Request: message caption is too long"))
        _check_markup(params.get("reply_markup"))
        photo = [{"file_id": "AgAD-photo", "file_unique_id": "photo1", "width": 800, "height": 600}]
        extra: dict[str, Any] = {"photo": photo, "photo_url": params.get("photo")}
        if visible:
            extra.update(caption=visible, caption_entities=entities)
        return self._store(chat_id, params, **extra)

    async def _api_editMessageText(self, params: dict[str, Any]) -> Any:
        chat_id, message_id = str(_require(params, "chat_id")), _require(params, "message_id")
        visible, entities = _parse_text(str(_require(params, "text")), params.get("parse_mode"))
        if not visible.strip():
            raise ApiError(FakeError(400, "Bad Request: message text is empty"))
        if _utf16_len(visible) > 4096:
            raise ApiError(FakeError(400, "Bad Request: MESSAGE_TOO_LONG"))
        _check_markup(params.get("reply_markup"))
        message = self._find(chat_id, int(message_id))
        if "photo" in message:
            raise ApiError(FakeError(400, "Bad Request: there is no text in the message to edit"))
        markup = params.get("reply_markup")
        if (
            message.get("text") == visible
            and message.get("entities", []) == entities
            and message.get("reply_markup") == markup
        ):
            raise ApiError(
                FakeError(
                    400,
                    "Bad Request: message is not modified: specified new message content and "
                    "reply markup are exactly the same as a current content and reply markup "
                    "of the message",
                )
            )
        message["text"] = visible
        message["entities"] = entities
        message["html"] = params["text"]
        message["edit_date"] = int(time.time())
        self.edits.append((chat_id, message["message_id"]))
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        return message

    async def _api_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        message = self._find(str(_require(params, "chat_id")), int(params["message_id"]))
        markup = params.get("reply_markup")
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        return message

    async def _api_deleteMessage(self, params: dict[str, Any]) -> Any:
        chat_id = str(_require(params, "chat_id"))
        try:
            message = self._find(chat_id, int(params["message_id"]))
        except ApiError:
            raise ApiError(FakeError(400, "Bad Request: message to delete not found")) from None
        # Telegram: in private chats and basic groups a message older than 48 hours cannot be
        # deleted by a bot (without the right to delete others' messages there).
        if message["chat"]["type"] in ("private", "group") and (
            time.time() - message["date"] > DELETE_WINDOW
        ):
            raise ApiError(FakeError(400, "Bad Request: message can't be deleted"))
        self.messages[chat_id].remove(message)
        self.deleted.append((chat_id, message["message_id"]))
        return True

    async def _api_editMessageCaption(self, params: dict[str, Any]) -> Any:
        chat_id, message_id = str(_require(params, "chat_id")), _require(params, "message_id")
        caption = str(params.get("caption") or "")
        visible, entities = _parse_text(caption, params.get("parse_mode"))
        if _utf16_len(visible) > 1024:
            raise ApiError(FakeError(400, "Bad Request: message caption is too long"))
        message = self._find(chat_id, int(message_id))
        if "photo" not in message:
            raise ApiError(
                FakeError(400, "Bad Request: there is no caption in the message to edit")
            )
        return self._edited(message, {"caption": visible, "caption_entities": entities}, caption)

    async def _api_editMessageMedia(self, params: dict[str, Any]) -> Any:
        chat_id, message_id = str(_require(params, "chat_id")), _require(params, "message_id")
        media = _require(params, "media")
        if not isinstance(media, dict) or media.get("type") != "photo" or not media.get("media"):
            raise ApiError(FakeError(400, "Bad Request: can't parse InputMedia"))
        caption = str(media.get("caption") or "")
        visible, entities = _parse_text(caption, media.get("parse_mode"))
        if _utf16_len(visible) > 1024:
            raise ApiError(FakeError(400, "Bad Request: message caption is too long"))
        message = self._find(chat_id, int(message_id))
        if "photo" not in message:
            raise ApiError(FakeError(400, "Bad Request: there is no media in the message to edit"))
        changes = {
            "photo_url": media["media"],
            "caption": visible,
            "caption_entities": entities,
        }
        return self._edited(message, changes, caption)

    def _edited(self, message: dict[str, Any], changes: dict[str, Any], html: str) -> Any:
        """Apply an edit, or answer "not modified" as Telegram does when nothing changes."""
        if all(
            message.get(k, [] if k.endswith("entities") else None) == v for k, v in changes.items()
        ):
            raise ApiError(
                FakeError(
                    400,
                    "Bad Request: message is not modified: specified new message content and "
                    "reply markup are exactly the same as a current content and reply markup "
                    "of the message",
                )
            )
        message.update(changes)
        message["html"] = html
        message["edit_date"] = int(time.time())
        self.edits.append((str(message["chat"]["id"]), message["message_id"]))
        return message

    def age_messages(self, chat_id: int | str, hours: float) -> None:
        """Make a chat's messages ``hours`` older (for the 48-hour deletion rule)."""
        for message in self.messages[str(chat_id)]:
            message["date"] -= int(hours * 3600)

    def message(self, chat_id: int | str, message_id: int | str) -> dict[str, Any] | None:
        """A message as the chat shows it now, or None once deleted."""
        for message in self.messages[str(chat_id)]:
            if message["message_id"] == int(message_id):
                return message
        return None

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        query_id = params.get("callback_query_id")
        if query_id not in self._open_callbacks:
            raise ApiError(
                FakeError(
                    400,
                    "Bad Request: query is too old and response timeout expired or query ID "
                    "is invalid",
                )
            )
        self._open_callbacks.discard(query_id)
        if len(str(params.get("text") or "")) > 200:
            raise ApiError(FakeError(400, "Bad Request: MESSAGE_TOO_LONG"))
        return True

    async def _api_answerInlineQuery(self, params: dict[str, Any]) -> Any:
        query_id = params.get("inline_query_id")
        if query_id not in self._open_inline:
            raise ApiError(
                FakeError(
                    400,
                    "Bad Request: query is too old and response timeout expired or query ID "
                    "is invalid",
                )
            )
        results = params.get("results") or []
        if len(results) > 50:
            raise ApiError(FakeError(400, "Bad Request: RESULTS_TOO_MUCH"))
        ids = [r.get("id") for r in results]
        if len(set(ids)) != len(ids) or any(not i or len(str(i).encode()) > 64 for i in ids):
            raise ApiError(FakeError(400, "Bad Request: RESULT_ID_INVALID"))
        for result in results:
            content = result.get("input_message_content") or {}
            visible, _ = _parse_text(
                str(content.get("message_text", "")), content.get("parse_mode")
            )
            if not visible.strip() or _utf16_len(visible) > 4096:
                raise ApiError(FakeError(400, "Bad Request: MESSAGE_TEXT_INVALID"))
        self._open_inline.discard(query_id)
        return True

    # -- storage ---------------------------------------------------------------------------

    def _store(self, chat_id: Any, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat = self.chat(chat_id)
        message: dict[str, Any] = {
            "message_id": next(self._message_ids[str(chat["id"])]),
            "date": int(time.time()),
            "chat": chat,
            "from": self.bot,
        }
        if chat["type"] == "channel":
            message.pop("from")
            message["sender_chat"] = chat
        if params.get("message_thread_id") is not None:
            message["message_thread_id"] = int(params["message_thread_id"])
            message["is_topic_message"] = True
        if params.get("reply_markup") is not None:
            message["reply_markup"] = params["reply_markup"]
        if "text" in params:
            message["html"] = params["text"]
        if "caption" in params:
            message["html"] = params["caption"]
        message.update({k: v for k, v in content.items() if v not in (None, [])})
        self.messages[str(chat["id"])].append(message)
        return message

    def _find(self, chat_id: str, message_id: int) -> dict[str, Any]:
        for message in self.messages[chat_id]:
            if message["message_id"] == message_id:
                return message
        raise ApiError(FakeError(400, "Bad Request: message to edit not found"))


async def start_fake_telegram(
    *, token: str = DEFAULT_TOKEN, limits: Limits | None = None
) -> FakeTelegram:
    """Start a fake Bot API on 127.0.0.1; point ``base_url`` at ``fake.base_url``."""
    return await FakeTelegram(token=token, limits=limits).start()


def user_dict(user_id: int, name: str = "Fan") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"{name}{user_id}"}


# -- request parsing ---------------------------------------------------------------------------


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Parameters from query string, JSON, form-encoded or multipart bodies."""
    params: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    raw: dict[str, str] = dict(request.query)
    if request.body_exists:
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        else:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = value.file.read()
                    params[key] = f"attach://{key}"
                else:
                    raw[key] = str(value)
    for key, value in raw.items():
        params[key] = value if key in _STRING_PARAMS else _json_or_text(value)
    return params, files


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _require(params: dict[str, Any], key: str) -> Any:
    if params.get(key) in (None, ""):
        raise ApiError(FakeError(400, f"Bad Request: {key} is empty"))
    return params[key]


def _error_response(error: FakeError) -> web.Response:
    if error.html_body:
        return web.Response(
            status=error.status,
            text=f"<html><body><h1>{error.status} {error.description}</h1></body></html>",
            content_type="text/html",
        )
    body: dict[str, Any] = {
        "ok": False,
        "error_code": error.status,
        "description": error.description,
    }
    if error.parameters:
        body["parameters"] = error.parameters
    return web.json_response(body, status=error.status)


def _expire(times: deque[float], before: float) -> None:
    while times and times[0] <= before:
        times.popleft()


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _check_markup(markup: Any) -> None:
    if markup is None:
        return
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if rows is None:
        return
    for row in rows:
        for button in row:
            if not button.get("text"):
                raise ApiError(FakeError(400, "Bad Request: BUTTON_TEXT_INVALID"))
            if "callback_data" in button:
                size = len(str(button["callback_data"]).encode())
                if not 1 <= size <= 64:
                    raise ApiError(FakeError(400, "Bad Request: BUTTON_DATA_INVALID"))


def _parse_text(text: str, parse_mode: Any) -> tuple[str, list[dict[str, Any]]]:
    """The visible text and entities Telegram would make of ``text``; errors like Telegram's."""
    if parse_mode is None or parse_mode == "":
        return text, []
    if str(parse_mode).upper() != "HTML":
        return text, []  # Markdown is not used by the bot; count it as written
    return parse_html(text)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's HTML subset: returns the visible text and (simplified) entities."""
    out: list[str] = []
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, int, dict[str, str]]] = []
    position = 0
    for match in _TOKEN.finditer(text):
        out.append(text[position : match.start()])
        position = match.end()
        token = match.group(0)
        if match.group(2):
            closing, name, attrs_text = (
                match.group(1) == "/",
                match.group(2).lower(),
                match.group(3),
            )
            if name not in _ALLOWED_TAGS:
                raise ApiError(
                    FakeError(
                        400,
                        f'Bad Request: can\'t parse entities: Unsupported start tag "{name}" '
                        f"at byte offset {match.start()}",
                    )
                )
            offset = _utf16_len("".join(out))
            if closing:
                if not stack or stack[-1][0] != name:
                    raise ApiError(
                        FakeError(
                            400,
                            f"Bad Request: can't parse entities: Unexpected end tag at byte "
                            f"offset {match.start()}",
                        )
                    )
                opened, start, attrs = stack.pop()
                entity: dict[str, Any] = {
                    "type": _entity_type(opened, attrs),
                    "offset": start,
                    "length": offset - start,
                }
                if opened == "a":
                    entity["url"] = attrs.get("href", "")
                if entity["length"]:
                    entities.append(entity)
            else:
                attrs = {
                    m.group(1).lower(): html.unescape(m.group(2) or m.group(3) or m.group(4) or "")
                    for m in _ATTR.finditer(attrs_text or "")
                    if m.group(1)
                }
                stack.append((name, offset, attrs))
        elif match.group(4):
            entity_name = match.group(4)
            if not entity_name.startswith("#") and entity_name not in ("lt", "gt", "amp", "quot"):
                raise ApiError(
                    FakeError(
                        400,
                        "Bad Request: can't parse entities: Unsupported HTML entity at byte "
                        f"offset {match.start()}",
                    )
                )
            out.append(html.unescape(token))
        elif token == "<":
            raise ApiError(
                FakeError(
                    400,
                    "Bad Request: can't parse entities: Unexpected end of name token at byte "
                    f"offset {match.start()}",
                )
            )
        else:  # a bare "&": Telegram takes it literally only when nothing entity-like follows
            out.append(token)
    out.append(text[position:])
    if stack:
        raise ApiError(
            FakeError(
                400,
                "Bad Request: can't parse entities: Can't find end tag corresponding to start "
                f'tag "{stack[-1][0]}"',
            )
        )
    return "".join(out), sorted(entities, key=lambda e: e["offset"])


def _entity_type(tag: str, attrs: dict[str, str]) -> str:
    return {
        "b": "bold",
        "strong": "bold",
        "i": "italic",
        "em": "italic",
        "u": "underline",
        "ins": "underline",
        "s": "strikethrough",
        "strike": "strikethrough",
        "del": "strikethrough",
        "tg-spoiler": "spoiler",
        "span": "spoiler",
        "a": "text_link",
        "code": "code",
        "pre": "pre",
        "blockquote": "blockquote",
        "tg-emoji": "custom_emoji",
    }[tag]


def iter_buttons(message: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """Every inline button under a sent message."""
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        yield from row


async def processed(fake: FakeTelegram, update: dict[str, Any], application: Any) -> None:
    """Until a real PTB ``Application`` has fetched ``update`` and finished handling it.

    The updater confirms an update (the next ``getUpdates`` offset) only after queueing it,
    and the application marks the queue entry done only after every handler returned.
    """
    await fake.wait_consumed(update)
    async with asyncio.timeout(10):
        await application.update_queue.join()


def telegram_settings(fake: FakeTelegram, **overrides: Any) -> Any:
    """``TelegramSettings`` pointing at ``fake`` (the token included)."""
    from kcrush_bot.settings import Secret, TelegramSettings

    values: dict[str, Any] = {
        "base_url": fake.base_url,
        "base_file_url": fake.base_file_url,
        "token": Secret(fake.token),
    }
    values.update(overrides)
    return TelegramSettings(**values)
