"""The store suite runs on both backends: every test here that takes ``store`` runs twice."""

from __future__ import annotations

import pytest

from pg import BACKENDS


@pytest.fixture(params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
