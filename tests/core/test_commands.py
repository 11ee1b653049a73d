"""Every command through the registry, for callers who may and may not run it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from factories import MODERATOR_DISCORD, MODERATOR_ROLE, MODERATOR_TELEGRAM, caller, make_post
from kcrush_bot.core.commands import CommandService, default_registry
from kcrush_bot.core.models import ChatKind, ChatRef, Mode
from kcrush_bot.core.permissions import Access
from kcrush_bot.core.replies import Cards, Confirm, ErrorReply, ListPage, Text
from pg import BACKENDS


@pytest.fixture(params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> str:
    """Every test here that takes ``store`` runs on SQLite, then on PostgreSQL."""
    return str(request.param)


GROUP_MEMBER = caller("telegram", user_id="42")
GROUP_ADMIN = caller("telegram", user_id="43", admin=True)
PRIVATE = caller("telegram", chat_id="42", kind=ChatKind.PRIVATE, user_id="42")
TG_MODERATOR = caller("telegram", user_id=MODERATOR_TELEGRAM)


def only(replies: list) -> object:
    assert len(replies) == 1, replies
    return replies[0]


def test_every_command_has_help_summary_and_usage() -> None:
    for command in default_registry():
        assert command.summary.strip(), command.name
        assert len(command.summary) <= 100, command.name
        assert command.help.strip(), command.name
        assert command.usage.startswith(f"/{command.name}"), command.name
        assert re.fullmatch(r"[a-z][a-z0-9_]{0,31}", command.name), command.name
        for arg in command.args:
            assert arg.help.strip(), f"{command.name}.{arg.name}"


def test_registry_has_the_designed_commands_and_access() -> None:
    access = {c.name: c.access for c in default_registry()}
    assert access == {
        "latest": Access.ANYONE,
        "search": Access.ANYONE,
        "category": Access.ANYONE,
        "subscribe": Access.CHAT_ADMIN,
        "unsubscribe": Access.CHAT_ADMIN,
        "subscriptions": Access.ANYONE,
        "digest": Access.CHAT_ADMIN,
        "announce": Access.MODERATOR,
        "help": Access.ANYONE,
        "status": Access.ANYONE,
        "start": Access.ANYONE,
    }


async def test_latest_defaults_to_five_newest_cards(service: CommandService) -> None:
    reply = only(await service.dispatch(GROUP_MEMBER, "latest"))
    assert isinstance(reply, Cards)
    assert len(reply.cards) == 5
    assert reply.cards[0].title.startswith("KCRUSH Interview with KNK")  # newest (n=13)


async def test_latest_count_and_category(service: CommandService) -> None:
    reply = only(await service.dispatch(GROUP_MEMBER, "latest", "3 interviews"))
    assert isinstance(reply, Cards)
    assert len(reply.cards) == 3
    # interviews covers its child k-pop-interviews; the kpop post (n=13) is not in it.
    assert all("K-Pop Interviews" in c.categories for c in reply.cards)
    assert reply.cards[0].title.startswith("KCRUSH Interview number 12")


@pytest.mark.parametrize("text", ["0", "-3"])
async def test_latest_refuses_counts_below_one(service: CommandService, text: str) -> None:
    reply = only(await service.dispatch(GROUP_MEMBER, "latest", text))
    assert isinstance(reply, ErrorReply)
    assert "1 to 10" in reply.message


async def test_latest_caps_huge_counts_with_a_note(service: CommandService) -> None:
    reply = only(await service.dispatch(GROUP_MEMBER, "latest", "99999999999999999999"))
    assert isinstance(reply, Cards)
    assert len(reply.cards) == 10
    assert reply.intro and "most" in reply.intro


async def test_unknown_category_lists_close_matches(service: CommandService) -> None:
    reply = only(await service.dispatch(GROUP_MEMBER, "latest", "intervews"))
    assert isinstance(reply, ErrorReply)
    assert "interviews" in reply.message


async def test_search_pages_with_buttons_and_next_page(service: CommandService) -> None:
    reply = only(await service.dispatch(GROUP_MEMBER, "search", "interview"))
    assert isinstance(reply, ListPage)
    assert reply.page == 1 and reply.pages == 3 and reply.total == 13
    assert len(reply.items) == 5
    [next_button] = reply.buttons
    assert len(next_button.action.encode()) <= 64  # Telegram's callback_data limit
    second = only(await service.handle_action(GROUP_MEMBER, next_button.action))
    assert isinstance(second, ListPage) and second.page == 2
    assert {i.url for i in second.items}.isdisjoint({i.url for i in reply.items})
    assert [b.label for b in second.buttons] == ["◀ Previous", "Next ▶"]


async def test_hangul_search_finds_with_particles(service: CommandService) -> None:
    reply = only(await service.dispatch(GROUP_MEMBER, "search", "서울"))
    assert isinstance(reply, ListPage)
    assert any("KNK" in item.title for item in reply.items)


async def test_empty_search_says_so_and_suggests(service: CommandService) -> None:
    reply = only(await service.dispatch(GROUP_MEMBER, "search", "zzzqqqxxx"))
    assert isinstance(reply, Text)
    assert "Nothing found" in reply.text and "fewer or shorter" in reply.text


async def test_forged_or_stale_search_button_changes_nothing(service: CommandService) -> None:
    for action in ("search:nope:2", "search:../../etc:1", "drop table", "x" * 500):
        reply = only(await service.handle_action(GROUP_MEMBER, action))
        assert isinstance(reply, ErrorReply)


async def test_category_without_name_lists_counts(service: CommandService) -> None:
    reply = only(await service.dispatch(GROUP_MEMBER, "category"))
    assert isinstance(reply, ListPage)
    details = {i.title: i.detail for i in reply.items}
    assert details["Interviews"] == "interviews · 12 posts"
    assert details["K-Pop"] == "kpop · 1 post"


async def test_category_with_name_shows_newest(service: CommandService) -> None:
    reply = only(await service.dispatch(GROUP_MEMBER, "category", "K-Pop"))
    assert isinstance(reply, Cards)
    assert [c.title for c in reply.cards] == ["KCRUSH Interview with KNK (크나큰)"]


async def test_member_cannot_subscribe_a_group(service: CommandService) -> None:
    reply = only(await service.dispatch(GROUP_MEMBER, "subscribe"))
    assert isinstance(reply, ErrorReply)
    assert "admins" in reply.message
    assert await service.store.chats.subscriptions() == []


async def test_admin_subscribes_group_to_interviews_by_default(service: CommandService) -> None:
    reply = only(await service.dispatch(GROUP_ADMIN, "subscribe"))
    assert isinstance(reply, Text) and reply.ephemeral
    [sub] = await service.store.chats.subscriptions(GROUP_ADMIN.chat)
    assert (sub.category, sub.mode) == ("interviews", Mode.INSTANT)


async def test_anyone_subscribes_their_private_chat(service: CommandService) -> None:
    only(await service.dispatch(PRIVATE, "subscribe", "kpop k-dramas daily"))
    subs = await service.store.chats.subscriptions(PRIVATE.chat)
    assert {(s.category, s.mode) for s in subs} == {("kpop", Mode.DAILY), ("k-dramas", Mode.DAILY)}
    [digest] = await service.store.chats.digests(PRIVATE.chat)
    assert (digest.time, digest.timezone) == ("09:00", "Asia/Seoul")


async def test_subscribe_with_keywords_narrows_to_posts_mentioning_them(
    service: CommandService,
) -> None:
    reply = only(await service.dispatch(GROUP_ADMIN, "subscribe", "kpop daily +Stray kids"))
    assert isinstance(reply, Text) and "only posts mentioning Stray kids" in reply.text
    [sub] = await service.store.chats.subscriptions(GROUP_ADMIN.chat)
    assert (sub.category, sub.mode, sub.keywords) == ("kpop", Mode.DAILY, ("Stray", "kids"))
    listed = only(await service.dispatch(GROUP_MEMBER, "subscriptions"))
    assert isinstance(listed, Text) and "only posts mentioning Stray kids" in listed.text
    too_many = only(await service.dispatch(GROUP_ADMIN, "subscribe", "kpop +a +b +c +d +e +f"))
    assert isinstance(too_many, ErrorReply)


async def test_subscribe_unknown_category_changes_nothing(service: CommandService) -> None:
    reply = only(await service.dispatch(GROUP_ADMIN, "subscribe", "kpop nosuchthing"))
    assert isinstance(reply, ErrorReply)
    assert await service.store.chats.subscriptions() == []


async def test_unsubscribe_some_then_all(service: CommandService) -> None:
    await service.dispatch(GROUP_ADMIN, "subscribe", "kpop k-dramas interviews")
    only(await service.dispatch(GROUP_ADMIN, "unsubscribe", "kpop"))
    assert {s.category for s in await service.store.chats.subscriptions()} == {
        "k-dramas",
        "interviews",
    }
    refused = only(await service.dispatch(GROUP_MEMBER, "unsubscribe", "all"))
    assert isinstance(refused, ErrorReply)
    only(await service.dispatch(GROUP_ADMIN, "unsubscribe", "all"))
    assert await service.store.chats.subscriptions() == []


async def test_subscriptions_lists_for_anyone(service: CommandService) -> None:
    await service.dispatch(GROUP_ADMIN, "subscribe", "kpop")
    await service.dispatch(GROUP_ADMIN, "digest", "weekly fri 18:30 Europe/Paris")
    reply = only(await service.dispatch(GROUP_MEMBER, "subscriptions"))
    assert isinstance(reply, Text)
    assert "K-Pop: in a weekly digest" in reply.text  # a digest replaces instant posts
    assert "weekly, Fri 18:30 Europe/Paris" in reply.text


async def test_digest_settings_are_stored(service: CommandService) -> None:
    reply = only(await service.dispatch(GROUP_ADMIN, "digest", "daily 08:00 Asia/Seoul"))
    assert isinstance(reply, Text) and reply.ephemeral
    [digest] = await service.store.chats.digests(GROUP_ADMIN.chat)
    assert (digest.frequency, digest.time, digest.timezone) == (Mode.DAILY, "08:00", "Asia/Seoul")
    only(await service.dispatch(GROUP_ADMIN, "digest", "off"))
    assert await service.store.chats.digests(GROUP_ADMIN.chat) == []


@pytest.mark.parametrize(
    "text", ["daily 25:00", "daily 08:00 Mars/Olympus", "hourly", "daily ../../etc"]
)
async def test_bad_digest_settings_change_nothing(service: CommandService, text: str) -> None:
    reply = only(await service.dispatch(GROUP_ADMIN, "digest", text))
    assert isinstance(reply, ErrorReply)
    assert await service.store.chats.digests() == []


async def test_digest_refused_for_members(service: CommandService) -> None:
    reply = only(await service.dispatch(GROUP_MEMBER, "digest", "daily"))
    assert isinstance(reply, ErrorReply)


async def test_digest_preview_lists_what_the_digest_would_send(service: CommandService) -> None:
    await service.dispatch(PRIVATE, "subscribe", "interviews daily")
    silent = only(await service.dispatch(PRIVATE, "digest", "preview"))
    assert isinstance(silent, Text) and "empty" in silent.text  # archived posts are not news
    news = [make_post(n, url=f"https://www.kcrush.com/news-{n}/") for n in range(100, 112)]
    news.append(make_post(200, category="kpop", url="https://www.kcrush.com/news-kpop/"))
    await service.store.posts.upsert(news, source="feed", pushable=True)
    replies = await service.dispatch(PRIVATE, "digest", "preview")
    titles = [i.title for r in replies for i in r.items]  # type: ignore[union-attr]
    assert len(titles) == 12  # every new interview, none dropped; not the kpop post
    assert len(replies) == 2  # ten to a page


async def test_non_moderator_announce_is_refused_politely(service: CommandService) -> None:
    for who in (GROUP_MEMBER, GROUP_ADMIN, PRIVATE, caller("discord", user_id="9")):
        reply = only(await service.dispatch(who, "announce", "Hello everyone"))
        assert isinstance(reply, ErrorReply)
        assert "moderators" in reply.message
    assert await service.store.announcements.get(1) is None


async def test_announce_preview_then_confirm_once(service: CommandService) -> None:
    await service.store.chats.subscribe(ChatRef("telegram", "-1"), ["interviews"], Mode.INSTANT)
    await service.store.chats.subscribe(ChatRef("discord", "77"), ["kpop"], Mode.INSTANT)
    confirm = only(
        await service.dispatch(TG_MODERATOR, "announce", "New issue out! #k-pop-interviews")
    )
    assert isinstance(confirm, Confirm)
    assert "1 chat subscribed to K-Pop Interviews" in confirm.prompt  # interviews covers it
    assert isinstance(confirm.preview, Text) and confirm.preview.text == "New issue out!"
    # A member pressing a forwarded confirm button is refused.
    refused = only(await service.handle_action(GROUP_MEMBER, confirm.confirm.action))
    assert isinstance(refused, ErrorReply)
    assert (await service.store.announcements.get(1)).status == "draft"  # type: ignore[union-attr]
    done = only(await service.handle_action(TG_MODERATOR, confirm.confirm.action))
    assert isinstance(done, Text) and "confirmed" in done.text
    again = only(await service.handle_action(TG_MODERATOR, confirm.confirm.action))
    assert isinstance(again, Text) and "already confirmed" in again.text
    announcement = await service.store.announcements.get(1)
    assert announcement is not None and announcement.status == "confirmed"
    assert announcement.category == "k-pop-interviews"
    actions = [row["action"] for row in await service.store.announcements.audit_log()]  # type: ignore[attr-defined]
    assert actions[:2] == ["announce confirmed", "announce draft"]


async def test_announce_cancel(service: CommandService) -> None:
    confirm = only(await service.dispatch(TG_MODERATOR, "announce", "Oops"))
    assert isinstance(confirm, Confirm)
    only(await service.handle_action(TG_MODERATOR, confirm.cancel.action))
    assert (await service.store.announcements.get(1)).status == "cancelled"  # type: ignore[union-attr]


async def test_discord_moderators_by_user_role_or_manage_server(service: CommandService) -> None:
    for who in (
        caller("discord", user_id=MODERATOR_DISCORD),
        caller("discord", user_id="5", roles=(MODERATOR_ROLE,)),
        caller("discord", user_id="6", manage_server=True),
    ):
        assert isinstance(only(await service.dispatch(who, "announce", "hi")), Confirm)


async def test_overlong_announcement_is_refused(service: CommandService) -> None:
    reply = only(await service.dispatch(TG_MODERATOR, "announce", "x" * 10_000))
    assert isinstance(reply, ErrorReply)
    assert await service.store.announcements.get(1) is None


async def test_help_lists_commands_and_explains_one(service: CommandService) -> None:
    reply = only(await service.dispatch(GROUP_MEMBER, "help"))
    assert isinstance(reply, Text)
    for name in ("latest", "search", "category", "subscribe", "digest", "announce", "status"):
        assert f"/{name}" in reply.text
    one = only(await service.dispatch(GROUP_MEMBER, "help", "digest"))
    assert isinstance(one, Text) and "09:00 Asia/Seoul" in one.text


async def test_status_reports_archive(service: CommandService) -> None:
    reply = only(await service.dispatch(GROUP_MEMBER, "status"))
    assert isinstance(reply, Text)
    assert "Posts: 13" in reply.text and "Version test" in reply.text


async def test_status_shows_paused_chats_and_this_chats_next_digest(
    service: CommandService,
) -> None:
    class Schedules:
        def next_digest_times(self) -> dict[str, datetime]:
            return {GROUP_MEMBER.chat.key: datetime(2026, 11, 23, 9, 0, tzinfo=UTC)}

    service.schedules = Schedules()
    await service.store.chats.subscribe(ChatRef("telegram", "-9"), ["kpop"], Mode.INSTANT)
    await service.store.chats.deactivate(ChatRef("telegram", "-9"), "Forbidden: bot was kicked")
    reply = only(await service.dispatch(GROUP_MEMBER, "status"))
    assert isinstance(reply, Text)
    assert "paused because the platform refused them: 1" in reply.text
    assert "Next digest here: 2026-11-23 09:00" in reply.text


async def test_start_deep_link_subscribes_private_chat_only(service: CommandService) -> None:
    only(await service.dispatch(PRIVATE, "start", "subscribe_kpop"))
    assert [s.category for s in await service.store.chats.subscriptions(PRIVATE.chat)] == ["kpop"]
    refused = only(await service.dispatch(GROUP_MEMBER, "start", "subscribe_kpop"))
    assert isinstance(refused, ErrorReply)
    assert await service.store.chats.subscriptions(GROUP_MEMBER.chat) == []


async def test_start_is_not_a_discord_command(service: CommandService) -> None:
    reply = only(await service.dispatch(caller("discord"), "start"))
    assert isinstance(reply, ErrorReply)


@pytest.mark.parametrize("name", ["lаtest", "LATEST\u200b", "", "/", "ｌａｔｅｓｔ", "x" * 300])
async def test_lookalike_and_unknown_command_names(service: CommandService, name: str) -> None:
    reply = only(await service.dispatch(GROUP_MEMBER, name))
    assert isinstance(reply, ErrorReply)
    assert "Unknown command" in reply.message


async def test_handler_crash_becomes_apology_not_traceback(
    service: CommandService, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(service.store.posts, "latest", broken)
    reply = only(await service.dispatch(GROUP_MEMBER, "latest"))
    assert isinstance(reply, ErrorReply)
    assert "secret" not in reply.message and "Traceback" not in reply.message


async def test_overlong_arguments_are_refused(service: CommandService) -> None:
    reply = only(await service.dispatch(GROUP_MEMBER, "search", "a" * 5000))
    assert isinstance(reply, ErrorReply)
