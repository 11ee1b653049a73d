"""The operator tests that take ``store`` run on both backends."""

from __future__ import annotations

import pytest

from pg import BACKENDS


@pytest.fixture(params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
