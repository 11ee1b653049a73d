"""The command service: runs a command or a button's action for a caller, safely.

Every platform calls ``dispatch`` and ``handle_action``. Permission checks happen here, in
the core, from the facts the adapter supplied. Errors become short ``ErrorReply``s: a
``KcrushError`` says what would work, anything else is logged and answered with an apology,
so no traceback ever reaches a chat.
"""

from __future__ import annotations

import difflib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kcrush_bot.core.categories import CategoryIndex
from kcrush_bot.core.commands.registry import Command, Invocation, Registry
from kcrush_bot.core.errors import BadInput, Forbidden, KcrushError
from kcrush_bot.core.metrics import NO_METRICS
from kcrush_bot.core.permissions import REFUSALS, Access, Caller, Moderators, allowed
from kcrush_bot.core.ports import CommandStore, Metrics, Notifier, PushView, ScheduleView
from kcrush_bot.core.replies import ErrorReply, Reply

log = logging.getLogger(__name__)

MAX_ARGUMENT_CHARS = 4096
_MAX_SAVED_SEARCHES = 2048


# Where a chat finds every category; the operator's shell names its own verb instead.
CHAT_CATEGORIES = "/category lists them all."


@dataclass(frozen=True, slots=True)
class CoreConfig:
    """The settings commands need, taken from the validated settings by the composition root."""

    version: str = "0"
    default_category: str = "interviews"
    timezone: str = "Asia/Seoul"
    digest_time: str = "09:00"
    digest_max_items: int = 50  # a preview lists what the digest would: no more
    moderators: Moderators = field(default_factory=Moderators)
    # The configured sources' names: chats see these and nothing else (a one-off ingest of a
    # local path or a URL is the operator's business, not a chat's).
    sources: frozenset[str] = frozenset()


class CommandService:
    """Runs commands against the store. Platform-neutral: it never knows who renders replies."""

    def __init__(
        self,
        store: CommandStore,
        registry: Registry,
        config: CoreConfig,
        *,
        clock: Callable[[], datetime] | None = None,
        notifier: Notifier | None = None,
        metrics: Metrics = NO_METRICS,
        schedules: ScheduleView | None = None,
        push: PushView | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.registry = registry
        self.config = config
        self.clock = clock or (lambda: datetime.now(UTC))
        # Both given by the composition root: the publisher's doorbell and digest calendar.
        self.notifier = notifier
        self.schedules = schedules
        self.push = push  # the push receiver's and WebSub's state, for ``status``
        self._categories: CategoryIndex | None = None
        # Paging state for search buttons. Button data is limited (Telegram: 64 bytes), so a
        # button carries a short random token, never the query; an unknown token is "expired".
        self._searches: OrderedDict[str, str] = OrderedDict()

    # -- categories ----------------------------------------------------------------------

    async def categories(self) -> CategoryIndex:
        if self._categories is None:
            self._categories = CategoryIndex(await self.store.posts.categories())
        return self._categories

    def forget_categories(self) -> None:
        """Call after an ingest may have added categories."""
        self._categories = None

    async def resolve_category(self, name: str, *, listed_by: str = CHAT_CATEGORIES) -> str:
        """A slug for what the caller typed, or BadInput listing close matches.

        ``listed_by`` tells where the whole list is: a chat command here, the CLI's own verb
        at the operator's shell.
        """
        index = await self.categories()
        slug = index.resolve(name)
        if slug is None:
            self.forget_categories()  # an ingest may have added it since
            index = await self.categories()
            slug = index.resolve(name)
        if slug is not None:
            return slug
        close = index.suggest(name)
        shown = name if len(name) <= 40 else name[:40] + "…"
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise BadInput(f"There is no category {shown!r}.{hint} {listed_by}")

    # -- saved searches for paging --------------------------------------------------------

    def save_search(self, query: str) -> str:
        for token, saved in self._searches.items():
            if saved == query:
                self._searches.move_to_end(token)
                return token
        token = secrets.token_urlsafe(6)
        self._searches[token] = query
        while len(self._searches) > _MAX_SAVED_SEARCHES:
            self._searches.popitem(last=False)
        return token

    def saved_search(self, token: str) -> str | None:
        return self._searches.get(token)

    # -- running commands ------------------------------------------------------------------

    def find(self, name: str, platform: str) -> Command | None:
        command = self.registry.get(name.strip().lstrip("/").lower())
        return command if command and command.available_on(platform) else None

    async def dispatch(self, caller: Caller, name: str, text: str = "") -> list[Reply]:
        """Run command ``name`` with its argument line; always returns replies, never raises."""
        command = self.find(name, caller.platform)
        if command is None:
            names = [c.name for c in self.registry.for_platform(caller.platform)]
            close = difflib.get_close_matches(name.lower()[:32], names, n=2)
            hint = f" Did you mean /{close[0]}?" if close else ""
            return [ErrorReply(f"Unknown command.{hint} /help lists what I can do.")]
        return await self._run(caller, command, text)

    async def _run(self, caller: Caller, command: Command, text: str) -> list[Reply]:
        started = time.perf_counter()
        try:
            self.check_access(caller, command.access)
            if len(text) > MAX_ARGUMENT_CHARS:
                raise BadInput(f"That is too long for /{command.name}: {command.usage}")
            return await command.handler(Invocation(self, caller, text.strip()))
        except KcrushError as exc:
            return [ErrorReply(str(exc))]
        except Exception:
            log.exception("command /%s failed for %s", command.name, caller.chat.key)
            return [ErrorReply("Something went wrong on my side; it has been logged. Try again.")]
        finally:
            self.metrics.command_seconds(command.name, time.perf_counter() - started)

    def check_access(self, caller: Caller, access: Access) -> None:
        if not allowed(access, caller, self.config.moderators):
            raise Forbidden(REFUSALS[access])

    async def handle_action(self, caller: Caller, action: str) -> list[Reply]:
        """A button was pressed. Button data comes from the client: it is checked like input."""
        from kcrush_bot.core.commands import actions  # the action table imports the commands

        try:
            return await actions.run(self, caller, action[:100])
        except KcrushError as exc:
            return [ErrorReply(str(exc))]
        except Exception:
            log.exception("action %r failed for %s", action[:100], caller.chat.key)
            return [ErrorReply("Something went wrong on my side; it has been logged. Try again.")]

    def wake_delivery(self) -> None:
        if self.notifier is not None:
            self.notifier.wake()

    @property
    def delivers(self) -> bool:
        """Whether this process sends what is queued (``run``), or only queues it for a bot
        running elsewhere (``console``, the operator's shell)."""
        return self.notifier is not None and self.notifier.listening
