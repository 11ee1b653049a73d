"""Unit rules of the adapter: caller facts from messages, the admin cache, error translation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from telegram import Chat, ChatMemberAdministrator, ChatMemberMember, Message, User
from telegram import error as tg

from kcrush_bot.core.errors import ChatMoved, MessageRejected, PermanentDelivery, RetryableDelivery
from kcrush_bot.core.models import ChatKind
from kcrush_bot.platforms.telegram.adapter import argument_line
from kcrush_bot.platforms.telegram.errors import MESSAGE_REJECTED, translate
from kcrush_bot.platforms.telegram.updates import AdminCache, caller_for_message, chat_ref

NOW = datetime(2024, 1, 1, tzinfo=UTC)
USER = User(7, "Fan", False)
GROUP = Chat(-1001, Chat.SUPERGROUP, title="Fans")


def message(chat: Chat = GROUP, **kwargs) -> Message:
    kwargs.setdefault("from_user", USER)
    return Message(1, NOW, chat, text="/subscribe", **kwargs)


def test_a_topic_message_names_its_topic_but_a_reply_thread_does_not():
    assert chat_ref(message(message_thread_id=5, is_topic_message=True)).thread_id == "5"
    assert chat_ref(message(message_thread_id=5)).thread_id is None


async def test_admin_status_expires_after_the_cache_time():
    now = [0.0]
    cache = AdminCache(300, clock=lambda: now[0])
    lookups = []

    async def lookup(chat_id, user_id):
        lookups.append((chat_id, user_id))
        return ChatMemberAdministrator(USER, *([False] * 12))

    assert await cache.is_admin(-1001, 7, lookup)
    now[0] = 299
    assert await cache.is_admin(-1001, 7, lookup)
    now[0] = 301
    assert await cache.is_admin(-1001, 7, lookup)
    assert len(lookups) == 2


async def test_a_member_is_not_an_admin_and_reading_needs_no_lookup():
    async def member(chat_id, user_id):
        return ChatMemberMember(USER)

    async def forbidden(chat_id, user_id):
        raise AssertionError("no lookup for a command anyone may run")

    cache = AdminCache(300)
    caller = await caller_for_message(message(), needs_admin=True, admins=cache, lookup=member)
    assert (caller.chat_kind, caller.is_chat_admin, caller.user_id) == (ChatKind.GROUP, False, "7")
    caller = await caller_for_message(message(), needs_admin=False, admins=cache, lookup=forbidden)
    assert caller.is_chat_admin is False


async def test_a_linked_channel_posting_in_a_group_is_nobody_in_particular():
    channel = Chat(-1009, Chat.CHANNEL, title="Linked")
    msg = message(sender_chat=channel)
    caller = await caller_for_message(msg, needs_admin=True, admins=AdminCache(1), lookup=None)
    assert (caller.user_id, caller.is_chat_admin) == (None, False)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: tg.BadRequest("Chat not found"), PermanentDelivery),  # a NetworkError subclass
        (lambda: tg.BadRequest("Bad Request: message thread not found"), PermanentDelivery),
        (lambda: tg.TimedOut(), RetryableDelivery),
        (lambda: tg.NetworkError("Bad Gateway"), RetryableDelivery),
        (
            lambda: tg.Forbidden("Forbidden: bot is not a member of the channel chat"),
            PermanentDelivery,
        ),
        (lambda: tg.ChatMigrated(-100777), ChatMoved),
        (lambda: tg.RetryAfter(timedelta(seconds=3)), RetryableDelivery),
        (lambda: tg.Conflict("terminated by other getUpdates request"), RetryableDelivery),
    ],
)
# PTB's own RetryAfter constructor warns about its future timedelta type.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
def test_translation(make, expected):
    assert type(translate(make())) is expected


def test_a_malformed_message_is_permanent_for_the_message_not_the_chat():
    error = translate(tg.BadRequest("Can't parse entities: unclosed tag"))
    assert isinstance(error, MessageRejected) and not isinstance(error, PermanentDelivery)
    assert str(error).startswith(MESSAGE_REJECTED)
    assert isinstance(translate(tg.BadRequest("Chat not found")), PermanentDelivery)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("/latest", ""),
        ("/latest@kcrush_bot 3 kpop", "3 kpop"),
        ("/announce  Big news\nsecond line  ", "Big news\nsecond line"),
    ],
)
def test_the_argument_line_is_what_follows_the_command(text, line):
    assert argument_line(text) == line
