"""The WebSub repository, on both backends: a request, its verification with the lease the hub
granted, a failure, deliveries, and a renewal that keeps the secret."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kcrush_bot.storage import Store


async def test_a_subscription_from_request_to_lease(store: Store) -> None:
    repo = store.websub
    assert await repo.get("feed") is None
    await repo.requested("feed", "https://hub.example/", "https://site.example/feed", "s" * 64, 600)
    row = await repo.get("feed")
    assert row is not None and row.state == "requested" and row.lease_seconds == 600
    assert row.expires_at is None and row.requested_at.tzinfo is not None
    assert "s" * 64 not in repr(row)

    before = datetime.now(UTC)
    expires = await repo.verified("feed", 300)  # the hub granted less than asked
    row = await repo.get("feed")
    assert row is not None and row.state == "verified" and row.lease_seconds == 300
    assert row.expires_at == expires and row.verified_at is not None
    assert before + timedelta(seconds=299) <= expires <= datetime.now(UTC) + timedelta(seconds=301)

    await repo.delivered("feed")
    await repo.delivered("feed")
    row = await repo.get("feed")
    assert row is not None and row.deliveries == 2 and row.last_delivery_at is not None

    await repo.set_state("feed", "failed", "HTTP 500: " + "x" * 1000)
    row = await repo.get("feed")
    assert row is not None and row.state == "failed"
    assert row.last_error is not None and len(row.last_error) == 300

    # Asked again: requested, the error cleared, the deliveries kept.
    await repo.requested("feed", "https://hub.example/", "https://site.example/feed", "s" * 64, 600)
    row = await repo.get("feed")
    assert row is not None and row.state == "requested" and row.last_error is None
    assert row.deliveries == 2 and row.secret == "s" * 64

    await repo.requested("other", "https://hub.example/", "https://o.example/", "t" * 64, 60)
    assert [r.source for r in await repo.all()] == ["feed", "other"]
    await repo.remove("feed")
    assert [r.source for r in await repo.all()] == ["other"]
