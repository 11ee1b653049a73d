"""The send side: replies reach channels, threads and webhooks, and failures become core errors.

The real discord.py sends to the fake Discord, which enforces Discord's limits and answers
with Discord's errors; each answer must become the error the publisher acts on
(``RetryableDelivery`` with ``retry_after`` where Discord gave one, ``PermanentDelivery``
for a target that is gone), and no message may allow a mention.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from factories import make_post
from fakes.discord_api import (
    FAKE_TOKEN,
    MISSING_ACCESS,
    MISSING_PERMISSIONS,
    UNKNOWN_CHANNEL,
    UNKNOWN_WEBHOOK,
    Failure,
    FakeDiscord,
    message_problems,
    settings_for,
    start_fake_discord,
)
from kcrush_bot.core.commands import CommandService
from kcrush_bot.core.errors import (
    ConfigError,
    MessageRejected,
    PermanentDelivery,
    RetryableDelivery,
)
from kcrush_bot.core.models import ChatRef
from kcrush_bot.core.replies import Button, Cards, ListItem, ListPage, TeaserCard, Text
from kcrush_bot.platforms.discord import DiscordPlatform
from kcrush_bot.settings import Secret

pytestmark = pytest.mark.timeout(20)

CHANNEL = "500000000000000001"
THREAD = "510000000000000001"
HOOKED = "520000000000000001"
WEBHOOK_ID = "1300000000000000001"

card = TeaserCard.from_post(make_post(1), {"k-pop-interviews": "K-Pop Interviews"})
hostile = TeaserCard(
    title="@everyone <@&3001> **KNK** " + "long " * 200,
    teaser="<@123> @here " + "words " * 2000,
    url="https://www.kcrush.com/knk/",
    categories=("@everyone",) * 40,
    published_at=datetime(2024, 5, 1, tzinfo=UTC),
    image_url="https://www.kcrush.com/wp-content/uploads/knk.jpg",
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    # A roomier channel bucket than Discord's 5 per 5 s: long replies here take many messages,
    # and discord.py pacing them is the subject of one test below, not of every test.
    fake = await start_fake_discord(token=FAKE_TOKEN, channel_limit=(50, 1.0))
    yield fake
    for body in fake.outgoing_messages():
        assert body.get("allowed_mentions") == {"parse": []}, body
    await fake.close()


async def platform_for(
    fake: FakeDiscord, service: CommandService, **options: float
) -> DiscordPlatform:
    settings = settings_for(fake, webhooks={HOOKED: fake.webhook_url(WEBHOOK_ID)})
    return DiscordPlatform(settings, service, gateway=False, **options)


@pytest.fixture
async def platform(fake: FakeDiscord, service: CommandService) -> AsyncIterator[DiscordPlatform]:
    async with await platform_for(fake, service) as platform:
        yield platform


# --- delivering ------------------------------------------------------------------------------


async def test_a_card_goes_to_the_channel_as_an_embed(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    ids = await platform.send(ChatRef("discord", CHANNEL), Cards((card,)))
    [post] = fake.channel_posts(CHANNEL)
    assert ids == [post.response["id"]]
    [embed] = post.json["embeds"]
    assert embed["url"] == card.url
    assert embed["title"] == card.title
    assert post.json["allowed_mentions"] == {"parse": []}


async def test_a_thread_is_sent_to_by_its_own_id(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    await platform.send(ChatRef("discord", THREAD), Cards((card,)))
    assert fake.channel_posts(THREAD)


async def test_a_channel_with_a_webhook_gets_posts_through_it(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    ids = await platform.send(ChatRef("discord", HOOKED), Cards((card,)))
    [request] = fake.find("POST", f"/webhooks/{WEBHOOK_ID}/")
    assert request.query.get("wait") in ("1", "true")  # so Discord returns the message and id
    assert ids == [request.response["id"]]
    assert request.json["allowed_mentions"] == {"parse": []}  # webhooks have no client default
    assert not fake.channel_posts()


async def test_hostile_cards_stay_within_every_limit_and_ping_nobody(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    ids = await platform.send(ChatRef("discord", CHANNEL), Cards((hostile,) * 12, intro="@here"))
    await platform.send(ChatRef("discord", HOOKED), Cards((hostile,)))
    bodies = fake.outgoing_messages()
    assert len(ids) >= 2  # twelve embeds do not fit one message: split, not dropped
    assert sum(len(b.get("embeds", [])) for b in bodies) == 13
    for body in bodies:
        assert not message_problems(body)
        assert body["allowed_mentions"] == {"parse": []}


async def test_a_long_list_is_split_into_several_accepted_messages(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    items = tuple(ListItem(f"Post {n} " + "x" * 150, None, "detail " * 60) for n in range(60))
    ids = await platform.send(ChatRef("discord", CHANNEL), ListPage("Digest", items))
    assert len(ids) > 1
    assert len(fake.channel_posts(CHANNEL)) == len(ids)


async def test_buttons_are_sent_with_their_actions(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    page = ListPage(
        "Results", (ListItem("A"),), page=1, pages=2, buttons=(Button("Next ▶", "search:abc:2"),)
    )
    await platform.send(ChatRef("discord", CHANNEL), page)
    [post] = fake.channel_posts(CHANNEL)
    [row] = post.json["components"]
    assert [b["custom_id"] for b in row["components"]] == ["search:abc:2"]


async def test_a_busy_channel_is_paced_by_discords_headers_without_429s(
    service: CommandService,
) -> None:
    fake = await start_fake_discord(token=FAKE_TOKEN, channel_limit=(2, 0.3))
    try:
        async with await platform_for(fake, service) as platform:
            for n in range(5):
                await platform.send(ChatRef("discord", CHANNEL), Text(f"message {n}"))
        assert len(fake.channel_posts(CHANNEL)) == 5
        assert fake.rate_limited == 0  # discord.py waited on X-RateLimit-Remaining: 0
    finally:
        await fake.close()


# --- failures ------------------------------------------------------------------------------

permanent = {
    "403 Missing Access": Failure(403, MISSING_ACCESS),
    "403 Missing Permissions": Failure(403, MISSING_PERMISSIONS),
    "404 Unknown Channel": Failure(404, UNKNOWN_CHANNEL),
}


@pytest.mark.parametrize("failure", permanent.values(), ids=permanent.keys())
async def test_a_gone_or_closed_channel_is_a_permanent_failure(
    fake: FakeDiscord, platform: DiscordPlatform, failure: Failure
) -> None:
    fake.fail(failure, channel=CHANNEL)
    with pytest.raises(PermanentDelivery):
        await platform.send(ChatRef("discord", CHANNEL), Cards((card,)))
    assert len(fake.find("POST", f"/channels/{CHANNEL}/")) == 1  # no retry storm


async def test_an_invalid_message_is_rejected_but_the_channel_is_not_gone(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    fake.fail(Failure(400, 50035), channel=CHANNEL)
    with pytest.raises(MessageRejected):
        await platform.send(ChatRef("discord", CHANNEL), Cards((card,)))
    assert len(fake.find("POST", f"/channels/{CHANNEL}/")) == 1


async def test_a_deleted_webhook_is_a_permanent_failure(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    fake.fail(Failure(404, UNKNOWN_WEBHOOK), webhook=WEBHOOK_ID)
    with pytest.raises(PermanentDelivery):
        await platform.send(ChatRef("discord", HOOKED), Cards((card,)))


async def test_a_long_rate_limit_is_retryable_after_discords_wait(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    fake.fail(Failure(429, retry_after=120.0), channel=CHANNEL)
    started = time.monotonic()
    with pytest.raises(RetryableDelivery) as caught:
        await platform.send(ChatRef("discord", CHANNEL), Cards((card,)))
    assert caught.value.retry_after == pytest.approx(120.0)
    assert time.monotonic() - started < 5  # raised, not slept on


async def test_a_429_storm_ends_as_retryable_with_retry_after(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    # Short waits are slept on by discord.py, five tries; then the storm must surface.
    fake.fail(Failure(429, retry_after=0.01, times=None), channel=CHANNEL)
    with pytest.raises(RetryableDelivery) as caught:
        await platform.send(ChatRef("discord", CHANNEL), Text("hello"))
    assert caught.value.retry_after is not None and caught.value.retry_after > 0
    assert len(fake.find("POST", f"/channels/{CHANNEL}/")) == 5


async def test_a_global_rate_limit_storm_is_retryable(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    fake.fail(Failure(429, retry_after=0.01, is_global=True, times=None))
    with pytest.raises(RetryableDelivery):
        await platform.send(ChatRef("discord", CHANNEL), Text("hello"))


async def test_a_single_429_is_absorbed(fake: FakeDiscord, platform: DiscordPlatform) -> None:
    fake.fail(Failure(429, retry_after=0.05), channel=CHANNEL)
    assert await platform.send(ChatRef("discord", CHANNEL), Text("hello"))


@pytest.mark.parametrize("status", [500, 502])
async def test_server_errors_are_retryable(
    fake: FakeDiscord, service: CommandService, status: int
) -> None:
    # discord.py retries 5xx for ~25 s; the send timeout hands the wait back to the outbox.
    fake.fail(Failure(status, times=None), channel=CHANNEL)
    async with await platform_for(fake, service, send_timeout=0.5) as platform:
        with pytest.raises(RetryableDelivery):
            await platform.send(ChatRef("discord", CHANNEL), Text("hello"))


async def test_a_slow_answer_times_out_as_retryable(
    fake: FakeDiscord, service: CommandService
) -> None:
    fake.fail(Failure(200, delay=0.8), channel=CHANNEL)
    async with await platform_for(fake, service, send_timeout=0.3) as platform:
        with pytest.raises(RetryableDelivery):
            await platform.send(ChatRef("discord", CHANNEL), Text("hello"))


async def test_a_slow_webhook_rate_limit_times_out_as_retryable(
    fake: FakeDiscord, service: CommandService
) -> None:
    # Webhooks ignore max_ratelimit_timeout in discord.py; the send timeout still bounds them.
    fake.fail(Failure(429, retry_after=60.0), webhook=WEBHOOK_ID)
    async with await platform_for(fake, service, send_timeout=0.3) as platform:
        with pytest.raises(RetryableDelivery):
            await platform.send(ChatRef("discord", HOOKED), Text("hello"))


async def test_an_unreachable_discord_is_retryable(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    await fake.close()
    with pytest.raises(RetryableDelivery):
        await platform.send(ChatRef("discord", CHANNEL), Text("hello"))


async def test_a_revoked_token_is_retryable_not_a_reason_to_unsubscribe(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    fake.token = "rotated"
    with pytest.raises(RetryableDelivery):
        await platform.send(ChatRef("discord", CHANNEL), Text("hello"))


async def test_a_chat_that_is_not_a_discord_channel_is_permanent(
    platform: DiscordPlatform,
) -> None:
    with pytest.raises(PermanentDelivery):
        await platform.send(ChatRef("discord", "general"), Text("hello"))


# --- configuration -------------------------------------------------------------------------


async def test_a_refused_token_is_a_config_error_and_is_never_logged(
    fake: FakeDiscord, service: CommandService, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(fake, token=Secret("wrong-token-abc"))
    with pytest.raises(ConfigError, match="KCRUSH_DISCORD_TOKEN"):
        async with DiscordPlatform(settings, service, gateway=False):
            pass
    assert "wrong-token-abc" not in caplog.text


async def test_a_missing_token_is_a_config_error(
    fake: FakeDiscord, service: CommandService
) -> None:
    with pytest.raises(ConfigError, match="KCRUSH_DISCORD_TOKEN"):
        async with DiscordPlatform(settings_for(fake, token=Secret("")), service):
            pass


async def test_a_malformed_webhook_url_is_a_config_error_naming_the_channel(
    fake: FakeDiscord, service: CommandService
) -> None:
    settings = settings_for(fake, webhooks={HOOKED: "https://example.com/hook/secret"})
    with pytest.raises(ConfigError, match=HOOKED) as caught:
        async with DiscordPlatform(settings, service, gateway=False):
            pass
    assert "secret" not in str(caught.value)
