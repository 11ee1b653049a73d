"""Fixtures for the publisher tests: fake platforms and a publisher over the real store."""

from __future__ import annotations

import pytest

from kcrush_bot.publisher import Publisher
from kcrush_bot.storage import Store
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
