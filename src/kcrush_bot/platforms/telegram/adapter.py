"""The Telegram adapter: python-telegram-bot 22 ``Application`` ↔ the core's commands and replies.

It translates, nothing more:

* updates in: every registry command as a ``CommandHandler`` (private chats, groups with
  ``/cmd@bot``, channels, whose commands arrive as channel posts), button presses, inline
  queries; each becomes a ``Caller`` (``updates``) and a call to ``CommandService``;
* replies out: neutral replies rendered by ``core.render.telegram`` and sent verbatim with
  ``Bot.do_api_request``, so the wire payload is exactly what ``preview --json`` shows plus
  ``chat_id`` / ``message_thread_id``; PTB's exceptions become the core's delivery errors
  (``errors``).

The ``Application`` runs inside the bot's own event loop (``async with``), never
``run_polling()``. It is built without PTB's ``AIORateLimiter`` (the delivery worker paces
sends against Telegram's limits itself and needs the real 429 answers to do so; a second,
hidden limiter would delay and retry behind its back) and without PTB's ``JobQueue``
(APScheduler, owned by the composition root, runs every schedule).

Fans first (DESIGN.md §1): updates are handled concurrently, in order within a chat, at most
``MAX_HANDLING`` at once (``ChatOrderedProcessor``); every request a command's answer makes
(messages, a button's edit, callback and inline answers, the admin lookup) first takes a
reply's turn in the platform's send budget (``pace_with``), the one the delivery worker
broadcasts from, so answers go ahead of the broadcast and never collide with it. Stopping
waits for the commands in hand (``stop_grace``), then disconnects.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import secrets
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any
from urllib.parse import urlsplit

from telegram import (
    BotCommand,
    ChatMember,
    InlineQueryResultArticle,
    InputTextMessageContent,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.error import BadRequest, InvalidToken, TelegramError
from telegram.ext import (
    Application,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    Updater,
    filters,
)
from telegram.warnings import PTBDeprecationWarning, PTBUserWarning

from kcrush_bot.core.commands import Command, CommandService
from kcrush_bot.core.commands.browse import find_posts
from kcrush_bot.core.errors import ConfigError, DeliveryError, KcrushError, RetryableDelivery
from kcrush_bot.core.models import HIGHLIGHT_END, HIGHLIGHT_START, ChatRef, Post
from kcrush_bot.core.permissions import Access
from kcrush_bot.core.ports import SOLE, Lease, SendBudget
from kcrush_bot.core.render.telegram import TelegramCall, render_card, render_reply
from kcrush_bot.core.replies import Cards, ErrorReply, ListPage, Reply, TeaserCard, Text
from kcrush_bot.core.text import shorten
from kcrush_bot.logs import RedactSecrets
from kcrush_bot.platforms.handling import Handling
from kcrush_bot.platforms.telegram import changes, errors
from kcrush_bot.platforms.telegram.health import PollingRequest
from kcrush_bot.platforms.telegram.updates import (
    PLATFORM,
    AdminCache,
    caller_for_button,
    caller_for_message,
    chat_ref,
)
from kcrush_bot.settings import TelegramSettings

log = logging.getLogger(__name__)

AnyApplication = Application[Any, Any, Any, Any, Any, Any]

# Only what the bot handles: Telegram then does not send (and we do not poll for) the rest.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CHANNEL_POST, Update.CALLBACK_QUERY, Update.INLINE_QUERY]
COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")  # Telegram's rule for bot commands
MENU_DESCRIPTION_LIMIT = 256
CALLBACK_ALERT_LIMIT = 200  # Telegram's limit for answerCallbackQuery text
INLINE_RESULTS = 10
INLINE_CACHE_SECONDS = 30  # short: new posts should show up in @bot queries soon
INLINE_QUERY_LIMIT = 256
APOLOGY = "Something went wrong on my side; it has been logged. Try again."
EXPIRED_BUTTON = "This button is no longer valid."
REPLY_MAX_WAIT = 5.0  # seconds of flood wait worth waiting out for a command's answer
REPLY_ATTEMPTS = 3
# Updates being handled at once (the rest wait their turn, holding nothing); of those, how many
# may be working the store at once, so a thousand commands cannot crowd out the broadcast's
# own reads and writes.
MAX_HANDLING = 256
MAX_DISPATCHING = 8
# Updates python-telegram-bot may hand over before it waits: far above MAX_HANDLING, since
# updates waiting for their chat's turn are held here and must not use up the handling slots.
MAX_UPDATES_IN_HAND = 4096
STOP_GRACE = 10.0  # seconds stopping waits for the commands in hand
# A channel post that starts like a command but carries no bot_command entity.
_CHANNEL_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@(\w+))?(?:\s|$)")
# Parameters a sendMessage call shares with editMessageText.
_EDITABLE = ("text", "parse_mode", "entities", "link_preview_options", "reply_markup")


class TelegramPlatform:
    """The Telegram side of the bot: takes commands and delivers replies and posts.

    ``async with TelegramPlatform(settings, service):`` connects (getMe), publishes the
    command menu, and starts long polling (or the webhook); leaving stops all of it.
    ``send`` and ``send_card`` are what the publisher calls.
    """

    name = PLATFORM

    def __init__(
        self,
        settings: TelegramSettings,
        service: CommandService,
        *,
        bot_username: str | None = None,
        poll_timeout: float = 10.0,
        request_timeout: float = 10.0,
        max_handling: int = MAX_HANDLING,
        stop_grace: float = STOP_GRACE,
    ) -> None:
        if not settings.token:
            raise ConfigError("KCRUSH_TELEGRAM_TOKEN: the Telegram bot token is not set")
        self.settings = settings
        self.service = service
        self.bot_username = bot_username
        self.poll_timeout = poll_timeout
        self.request_timeout = request_timeout
        self.admins = AdminCache(settings.admin_cache_seconds)
        self.commands = _telegram_commands(service.registry.for_platform(PLATFORM))
        self.max_handling = max_handling
        self.handling = Handling(max_handling, name="telegram commands")
        self.stop_grace = stop_grace
        self.budget: SendBudget | None = None
        self._dispatching = asyncio.Semaphore(MAX_DISPATCHING)
        self._app: AnyApplication | None = None
        self._polling: PollingRequest | None = None
        self._redaction: tuple[RedactSecrets, list[logging.Handler]] | None = None
        # Long polling is a singleton duty: of several replicas only the lease holder polls
        # (two getUpdates callers conflict); every replica takes a webhook's updates.
        self._lease: Lease = SOLE
        self._intake_stopped = False
        # We call do_api_request with the renderer's method names on purpose (see send);
        # PTB's hint to use the typed method instead is noise for us.
        warnings.filterwarnings("ignore", message=r"Please use 'Bot\.", category=PTBUserWarning)
        # PTB 22 warns, on every 429, that ``retry_after`` will become a timedelta; the error
        # translation accepts both types already.
        warnings.filterwarnings(
            "ignore", message=r".*`retry_after` will be of type", category=PTBDeprecationWarning
        )

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def application(self) -> AnyApplication:
        if self._app is None:
            raise RuntimeError("the Telegram platform is not connected: use `async with`")
        return self._app

    @property
    def username(self) -> str | None:
        """The bot's @username: from Telegram once connected, else what the caller passed."""
        if self._app is not None and self._app.bot.username:
            return str(self._app.bot.username)
        return self.bot_username

    def pace_with(self, budget: SendBudget) -> None:
        """Command answers take their turn in ``budget``, the platform's one send budget."""
        self.budget = budget

    def build_application(self) -> AnyApplication:
        timeout = self.request_timeout
        self.handling = Handling(self.max_handling, name="telegram commands")
        app = (
            Application.builder()
            .token(str(self.settings.token))
            .base_url(self.settings.base_url)
            .base_file_url(self.settings.base_file_url)
            .job_queue(None)
            # Concurrently, in order within a chat: see ChatOrderedProcessor.
            .concurrent_updates(ChatOrderedProcessor(self.handling))
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .write_timeout(timeout)
            .pool_timeout(timeout)
            .get_updates_request(self._polling_request())
            .build()
        )
        self._register_handlers(app)
        return app

    def _polling_request(self) -> PollingRequest:
        timeout = self.request_timeout
        self._polling = PollingRequest(
            connection_pool_size=1,  # one long poll at a time, as PTB's own default
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            pool_timeout=timeout,
        )
        return self._polling

    def connection_problem(self) -> str | None:
        """The ``HealthCheck`` port: None while updates arrive (the last long poll answered,
        or the webhook listener runs); otherwise why not."""
        app = self._app
        if app is None:
            return "not connected"
        if app.updater is None or not app.updater.running:
            return "not receiving updates"
        if self.settings.mode == "polling" and self._polling is not None:
            return self._polling.problem
        return None

    async def __aenter__(self) -> TelegramPlatform:
        app = self.build_application()
        try:
            await app.initialize()  # getMe: checks the token and learns the bot's username
        except InvalidToken:
            raise ConfigError(
                "KCRUSH_TELEGRAM_TOKEN: Telegram rejected the bot token (check it with BotFather)"
            ) from None
        except TelegramError as exc:
            raise errors.translate(exc) from exc
        self._app = app
        try:
            if self.bot_username and app.bot.username.lower() != self.bot_username.lower():
                log.warning(
                    "the token belongs to @%s, not @%s", app.bot.username, self.bot_username
                )
            await self.publish_command_menu()
            await app.start()
            await self._start_updates(app)
        except BaseException:
            await self._stop()
            raise
        log.info("telegram: @%s is %s", app.bot.username, self.settings.mode)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stop()

    def follow_lease(self, lease: Lease) -> None:
        self._lease = lease

    async def lease_changed(self, held: bool) -> None:
        """This replica took the singleton lease (start long polling) or lost it (stop)."""
        app = self._app
        if app is None or app.updater is None or self.settings.mode != "polling":
            return
        if self._intake_stopped or not app.running:
            return
        if held and not app.updater.running:
            log.info("telegram: holding the lease, long polling starts here")
            await self._start_updates(app)
        elif not held and app.updater.running:
            log.info("telegram: the lease moved on, long polling stops here")
            await app.updater.stop()

    async def stop_receiving(self) -> None:
        """Stop polling (or the webhook listener) and finish the commands in hand, for at most
        ``stop_grace`` seconds; the Bot API client stays up for sends."""
        self._intake_stopped = True
        app = self._app
        if app is not None and app.updater is not None and app.updater.running:
            try:
                await app.updater.stop()
            except Exception:
                log.exception("telegram: stopping updates failed")
        await self._finish_handling()

    async def _finish_handling(self) -> None:
        """Stop the application once the updates it holds are handled, within the grace.

        ``Application.stop`` waits for every update fetched so far, however long that takes;
        past the grace, the commands still running are cut off so that it can return.
        """
        app = self._app
        if app is None or not app.running:
            return
        stopping = asyncio.ensure_future(app.stop())
        done, _ = await asyncio.wait({stopping}, timeout=self.stop_grace)
        if not done:
            await self.handling.finish(0)
        try:
            await stopping
        except Exception:
            log.exception("telegram: stopping the application failed")

    async def _start_updates(self, app: AnyApplication) -> None:
        assert app.updater is not None
        if self.settings.mode == "webhook":
            await self._start_webhook(app.updater)
            return
        if not self._lease.held:
            log.info("telegram: another replica holds the lease and long-polls")
            return
        await app.updater.start_polling(
            poll_interval=0.0,
            timeout=int(self.poll_timeout),
            allowed_updates=ALLOWED_UPDATES,
            # Commands typed while the bot was down are still answered.
            drop_pending_updates=False,
            error_callback=_polling_failed,
        )

    async def _start_webhook(self, updater: Updater) -> None:
        """setWebhook with a fresh secret, then listen (tornado, python-telegram-bot[webhooks])."""
        settings = self.settings
        url = settings.webhook_url
        # Telegram echoes it in a header: requests without it are not Telegram's.
        secret = secrets.token_urlsafe(32)
        self._hide_from_logs(secret)
        try:
            await updater.start_webhook(
                listen=settings.webhook_listen,
                port=settings.webhook_port,
                url_path=urlsplit(url).path.lstrip("/"),
                webhook_url=url,
                secret_token=secret,
                allowed_updates=ALLOWED_UPDATES,
            )
        except BadRequest as exc:
            # "bad webhook: An HTTPS URL must be provided", a port Telegram does not call, ...
            raise ConfigError(
                f"telegram.webhook_url: Telegram refused the webhook {url}: {exc.message}"
            ) from None
        except TelegramError as exc:
            raise errors.translate(exc) from exc
        except OSError as exc:
            # Raised by the listener, which starts after setWebhook succeeded.
            raise ConfigError(
                f"telegram.webhook_port: cannot listen on "
                f"{settings.webhook_listen}:{settings.webhook_port}: {exc.strerror or exc}"
            ) from None

    def _hide_from_logs(self, secret: str) -> None:
        """Redact ``secret`` from every log handler while the bot runs.

        python-telegram-bot logs each call's parameters at debug (``-vv``), setWebhook's
        secret_token included; whoever reads that log could otherwise post forged updates.
        """
        redactor = RedactSecrets([secret])
        handlers = list(logging.getLogger().handlers)
        for handler in handlers:
            handler.addFilter(redactor)
        self._redaction = (redactor, handlers)

    async def _stop(self) -> None:
        app = self._app
        if app is None:
            return
        try:
            # The commands in hand are answered before the client goes: ``application``
            # stays usable until they are.
            await self.stop_receiving()
            await self._stop_application(app)
        finally:
            self._app = None
            if self._redaction is not None:
                (redactor, handlers), self._redaction = self._redaction, None
                for handler in handlers:
                    handler.removeFilter(redactor)

    async def _stop_application(self, app: AnyApplication) -> None:
        # Each step on its own: a failing one must not leave the others running.
        if app.updater is not None and app.updater.running:
            try:
                await app.updater.stop()
            except Exception:
                log.exception("telegram: stopping updates failed")
        if app.running:
            try:
                await app.stop()
            except Exception:
                log.exception("telegram: stopping the application failed")
        try:
            await app.shutdown()
        except Exception:
            log.exception("telegram: shutting down failed")

    async def publish_command_menu(self) -> bool:
        """Set the menu Telegram shows for "/". A failure is logged, never fatal."""
        menu = [
            BotCommand(c.name, (c.summary or c.usage)[:MENU_DESCRIPTION_LIMIT])
            for c in self.commands
        ]
        try:
            await self.application.bot.set_my_commands(menu)
        except TelegramError as exc:
            log.warning("telegram: could not set the command menu: %s", exc)
            return False
        return True

    # -- handlers -----------------------------------------------------------------------------

    def _register_handlers(self, app: AnyApplication) -> None:
        # New messages and channel posts; not edits, or fixing a typo would run a command twice.
        where = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST
        for command in self.commands:
            app.add_handler(CommandHandler(command.name, self._command_callback(command), where))
        app.add_handler(
            MessageHandler(
                filters.UpdateType.CHANNEL_POST & filters.Regex(_CHANNEL_COMMAND),
                self._on_channel_command_text,
            )
        )
        # In a private chat an unknown command deserves an answer; in a group it may be meant
        # for another bot, so silence.
        app.add_handler(
            MessageHandler(
                filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE & filters.COMMAND,
                self._on_unknown_command,
            )
        )
        app.add_handler(CallbackQueryHandler(self._on_button))
        app.add_handler(InlineQueryHandler(self._on_inline_query))
        app.add_error_handler(self._on_error)

    def _command_callback(
        self, command: Command
    ) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]:
        async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            if update.effective_message is not None:
                await self._run_command(command, update.effective_message)

        return callback

    async def _run_command(self, command: Command, message: Message) -> None:
        caller = await caller_for_message(
            message,
            # getChatMember only when the answer matters: /latest costs no extra request.
            needs_admin=command.access is Access.CHAT_ADMIN,
            admins=self.admins,
            lookup=self._chat_member,
        )
        async with self._dispatching:
            replies = await self.service.dispatch(caller, command.name, argument_line(message.text))
        await self._reply(caller.chat, replies)

    async def _on_channel_command_text(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        message = update.channel_post
        match = _CHANNEL_COMMAND.match(message.text or "") if message else None
        if message is None or match is None:
            return
        name, addressee = match.group(1).lower(), match.group(2)
        if addressee and self.username and addressee.lower() != self.username.lower():
            return  # addressed to another bot in the channel
        command = next((c for c in self.commands if c.name == name), None)
        if command is not None:
            await self._run_command(command, message)

    async def _on_unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or not message.text:
            return
        name = message.text.split(maxsplit=1)[0].lstrip("/").split("@", 1)[0]
        caller = await caller_for_message(
            message, needs_admin=False, admins=self.admins, lookup=self._chat_member
        )
        async with self._dispatching:
            replies = await self.service.dispatch(caller, name, argument_line(message.text))
        await self._reply(caller.chat, replies)

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A button press: run its action, update the message, and always answer the query."""
        query = update.callback_query
        if query is None:
            return
        alert: str | None = None
        try:
            message = query.message
            if not isinstance(message, Message) or not query.data:
                # Inline-mode messages and deleted messages: nothing we can act on.
                alert = EXPIRED_BUTTON
                return
            caller = caller_for_button(message, query.from_user)
            async with self._dispatching:
                replies = await self.service.handle_action(caller, query.data)
            error = next((r for r in replies if isinstance(r, ErrorReply)), None)
            if error is not None:
                alert = shorten(error.message, CALLBACK_ALERT_LIMIT)
                return
            await self._show_action_result(message, replies)
        except (TelegramError, DeliveryError) as exc:
            log.warning("telegram: could not show a button's result: %s", exc)
            alert = "Sorry, that did not work. Try again in a moment."
        except Exception:
            alert = APOLOGY
            raise
        finally:
            # Unanswered, the button keeps spinning on the user's screen for a long while.
            try:
                await self._turn(None)
                await query.answer(alert, show_alert=alert is not None)
            except TelegramError as exc:
                log.warning("telegram: could not answer a button press: %s", exc)

    async def _show_action_result(self, message: Message, replies: Sequence[Reply]) -> None:
        """A page or an outcome replaces the message the button was on; the rest is sent."""
        chat = chat_ref(message)
        rest = list(replies)
        if rest and isinstance(rest[0], ListPage | Text) and message.text is not None:
            calls = render_reply(rest.pop(0))
            await self._edit(message, calls[0])
            for call in calls[1:]:
                await self._turn(chat.key)
                await self._execute(chat, call)
        for reply in rest:
            for call, fallback in _with_fallbacks(reply):
                await self._answer_call(chat, call, fallback)

    async def _edit(self, message: Message, call: TelegramCall) -> None:
        params: dict[str, Any] = {"chat_id": message.chat.id, "message_id": message.message_id}
        params.update({k: v for k, v in call.params.items() if k in _EDITABLE})
        try:
            await self._turn(chat_ref(message).key)
            await self.application.bot.do_api_request("editMessageText", api_kwargs=params)
        except TelegramError as exc:
            # Pressing "next" twice quickly asks for the page already shown: not an error.
            if not errors.is_not_modified(exc):
                raise

    async def _on_inline_query(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``@bot words`` in any chat: matching posts (the newest when no words) as cards."""
        query = update.inline_query
        if query is None:
            return
        text = query.query.strip()[:INLINE_QUERY_LIMIT]
        offset = int(query.offset) if query.offset.isdigit() else 0
        async with self._dispatching:
            try:
                found, next_offset = await find_posts(
                    self.service, text, offset=offset, limit=INLINE_RESULTS
                )
            except KcrushError as exc:
                log.info("telegram: inline query %r found nothing: %s", text[:40], exc)
                found, next_offset = [], None
            names = (await self.service.categories()).names()
        results = [
            _inline_article(post, detail, names, position)
            for position, (post, detail) in enumerate(found, offset)
        ]
        await self._turn(None)
        await query.answer(
            results,
            cache_time=INLINE_CACHE_SECONDS,
            is_personal=False,
            next_offset=str(next_offset) if next_offset else None,
        )

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Last resort: log (the redacting filter keeps the token out) and apologise."""
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("telegram: handling update %s failed", update_id, exc_info=context.error)
        if not isinstance(update, Update) or update.callback_query is not None:
            return  # button presses were answered already
        message = update.effective_message
        if message is None or update.inline_query is not None:
            return
        try:
            [(call, _)] = _with_fallbacks(ErrorReply(APOLOGY))
            await self._answer_call(chat_ref(message), call, None)
        except DeliveryError as exc:
            log.warning("telegram: could not apologise in %s: %s", message.chat.id, exc)

    async def _chat_member(self, chat_id: int, user_id: int) -> ChatMember:
        await self._turn(None)  # a request against the same flood limits as a message
        member: ChatMember = await self.application.bot.get_chat_member(chat_id, user_id)
        return member

    async def _turn(self, chat_key: str | None) -> None:
        """A reply's turn in the send budget: ahead of the broadcast, within the limits."""
        if self.budget is not None:
            await self.budget.acquire(chat_key, reply=True)

    async def _answer_call(
        self, chat: ChatRef, call: TelegramCall, fallback: TelegramCall | None
    ) -> str:
        """One message of a command's answer, in its turn."""
        await self._turn(chat.key)
        return await self._deliver(chat, call, fallback)

    async def _reply(self, chat: ChatRef, replies: Sequence[Reply]) -> None:
        """Answer a command, message by message, each in its turn of the send budget.

        ``/latest 5`` is six messages, and Telegram allows about one a second per chat: the
        budget spaces them. A flood wait Telegram still asks for (another process using the
        token, a limit lower than configured) pauses the chat in the budget and is waited out
        if short; a longer wait, or any other failure, drops the rest: a late answer is worse
        than none.
        """
        for reply in replies:
            for call, fallback in _with_fallbacks(reply):
                for attempt in range(1, REPLY_ATTEMPTS + 1):
                    try:
                        await self._answer_call(chat, call, fallback)
                        break
                    except RetryableDelivery as exc:
                        wait = exc.retry_after
                        if wait is None or wait > REPLY_MAX_WAIT or attempt == REPLY_ATTEMPTS:
                            log.warning("telegram: reply to %s not delivered: %s", chat.key, exc)
                            return
                        if self.budget is not None:
                            self.budget.pause_chat(chat.key, wait)
                        else:
                            await asyncio.sleep(wait)
                    except DeliveryError as exc:
                        log.warning("telegram: reply to %s not delivered: %s", chat.key, exc)
                        return

    # -- the send side (the publisher's port) -------------------------------------------------

    async def send(self, chat: ChatRef, reply: Reply) -> list[str]:
        """Deliver ``reply`` to ``chat``; the message ids, in order.

        Raises only ``RetryableDelivery``, ``PermanentDelivery`` or ``ChatMoved``. A reply of
        several messages that fails half-way raises for the first message that failed; the
        ones before it were delivered.
        """
        ids = []
        for call, fallback in _with_fallbacks(reply):
            ids.append(await self._deliver(chat, call, fallback))
        return ids

    async def edit(self, chat: ChatRef, message_ids: Sequence[str], reply: Reply) -> None:
        """Show ``reply`` in messages sent earlier (see ``telegram.changes``)."""
        bot = self.application.bot
        await changes.edit_messages(bot, _chat_id(chat.chat_id), message_ids, reply)

    async def delete(self, chat: ChatRef, message_ids: Sequence[str]) -> None:
        """Delete messages sent earlier; ``CannotDelete`` where Telegram refuses."""
        await changes.delete_messages(self.application.bot, _chat_id(chat.chat_id), message_ids)

    async def send_card(self, chat: ChatRef, card: TeaserCard) -> str:
        """One teaser card: a photo with a caption when it has an image, else text + preview."""
        call = render_card(card)
        return await self._deliver(chat, call, _text_card(card, call))

    async def _deliver(
        self, chat: ChatRef, call: TelegramCall, fallback: TelegramCall | None
    ) -> str:
        try:
            try:
                return await self._execute(chat, call)
            except TelegramError as exc:
                if fallback is None or not errors.photo_rejected(exc):
                    raise
                # Telegram could not fetch or use the image; the post still goes out as text.
                log.info("telegram: image refused in %s (%s); sending text", chat.key, exc)
                return await self._execute(chat, fallback)
        except TelegramError as exc:
            raise errors.translate(exc) from exc

    async def _execute(self, chat: ChatRef, call: TelegramCall) -> str:
        """Perform one rendered call in ``chat``: the renderer's parameters, sent as they are.

        ``do_api_request`` rather than ``send_message``/``send_photo``: converting the
        parameters into PTB objects and back could change the payload; verbatim, it is
        byte-for-byte what ``preview --json`` shows, and a method the renderer adds later
        needs no change here.
        """
        params: dict[str, Any] = {"chat_id": _chat_id(chat.chat_id), **call.params}
        if chat.thread_id:
            params["message_thread_id"] = int(chat.thread_id)
        result = await self.application.bot.do_api_request(
            call.method, api_kwargs=params, return_type=Message
        )
        return str(result.message_id) if isinstance(result, Message) else ""


# -- helpers ------------------------------------------------------------------------------------


def argument_line(text: str | None) -> str:
    """What follows ``/command`` (or ``/command@bot``), line breaks kept."""
    parts = (text or "").split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


def _telegram_commands(commands: Sequence[Command]) -> list[Command]:
    valid = []
    for command in commands:
        if COMMAND_NAME.match(command.name):
            valid.append(command)
        else:
            log.warning("telegram: /%s is not a valid Telegram command name; skipped", command.name)
    return valid


def _chat_id(value: str) -> int | str:
    # Numeric ids as numbers, "@channelname" as it is.
    return int(value) if value.lstrip("-").isdigit() else value


def _with_fallbacks(reply: Reply) -> list[tuple[TelegramCall, TelegramCall | None]]:
    """The calls for ``reply``; a photo card is paired with its text-only version."""
    calls = render_reply(reply)
    paired: list[tuple[TelegramCall, TelegramCall | None]] = [(c, None) for c in calls]
    if isinstance(reply, Cards) and reply.cards and len(calls) >= len(reply.cards):
        # The renderer puts one call per card after the intro, in order.
        start = len(calls) - len(reply.cards)
        for index, card in enumerate(reply.cards, start):
            if calls[index] == render_card(card):
                paired[index] = (calls[index], _text_card(card, calls[index]))
    return paired


def _text_card(card: TeaserCard, call: TelegramCall) -> TelegramCall | None:
    if call.method != "sendPhoto":
        return None
    return render_card(dataclasses.replace(card, image_url=None))


def _inline_article(
    post: Post, detail: str, names: dict[str, str], position: int
) -> InlineQueryResultArticle:
    card = TeaserCard.from_post(post, names)
    call = render_card(dataclasses.replace(card, image_url=None))  # a text card: no photo
    preview = call.params.get("link_preview_options") or {"is_disabled": True}
    description = " ".join(detail.replace(HIGHLIGHT_START, "").replace(HIGHLIGHT_END, "").split())
    return InlineQueryResultArticle(
        id=str(post.id) if post.id is not None else f"p{position}",
        title=shorten(" ".join(post.title.split()) or "Untitled post", 256),
        input_message_content=InputTextMessageContent(
            call.params["text"],
            parse_mode=call.params.get("parse_mode"),
            link_preview_options=LinkPreviewOptions(**preview),
        ),
        url=post.url,
        description=shorten(description, 200) or None,
        thumbnail_url=post.image_url,
    )


def _polling_failed(exc: TelegramError) -> None:
    """One line per failed long poll (python-telegram-bot retries it with back-off), instead
    of the library's default traceback for every try while Telegram is unreachable."""
    log.warning("telegram: polling for updates failed, retrying: %s", exc)


class ChatOrderedProcessor(BaseUpdateProcessor):
    """python-telegram-bot's update processor, handing updates to ``Handling``.

    Concurrent across chats, in order within one (a chat's updates, or a user's inline
    queries), bounded by ``Handling``. python-telegram-bot's own bound (the semaphore around
    ``do_process_update``) is set far higher, because updates waiting for their chat's turn sit
    inside it: were it the real bound, one chat flooding the bot could fill it and hold every
    other chat back.
    """

    def __init__(self, handling: Handling) -> None:
        super().__init__(max(MAX_UPDATES_IN_HAND, handling.limit))
        self.handling = handling

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await self.handling.run(order_key(update), coroutine)

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


def order_key(update: object) -> str | None:
    """What an update's handling is ordered by: its chat, else (inline queries) its user."""
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return f"chat:{update.effective_chat.id}"
    if update.effective_user is not None:
        return f"user:{update.effective_user.id}"
    return None
