"""Fixtures for the publisher tests: fake platforms and a publisher over the real store."""

from __future__ import annotations

import pytest

from kcrush_bot.publisher import Publisher
from kcrush_bot.storage import Store
from pg import BACKENDS
from publisher.publisherkit import FakePlatform, make_settings


@pytest.fixture
def telegram() -> FakePlatform:
    return FakePlatform("telegram")


@pytest.fixture
def discord() -> FakePlatform:
    return FakePlatform("discord")


@pytest.fixture
def publisher(store: Store, telegram: FakePlatform, discord: FakePlatform) -> Publisher:
    return Publisher(store, make_settings(), {"telegram": telegram, "discord": discord})


@pytest.fixture(params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> str:
    """The publisher's tests run on both backends: the outbox is where they differ most."""
    return str(request.param)
