"""Search fuzzing: any Unicode at all, surrogates and NULs included, never raises from the store
or the /search command, and paging offsets of any size are harmless."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kcrush_bot.core.commands import CommandService
from kcrush_bot.core.replies import ErrorReply
from kcrush_bot.platforms.console import console_caller
from kcrush_bot.storage import Store
from pg import BACKENDS

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> str:
    """Every test here that takes ``store`` runs on SQLite, then on PostgreSQL."""
    return str(request.param)


ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=300)
FTS_SYNTAX = st.lists(
    st.sampled_from(['"', "*", "^", ":", "(", ")", "NEAR", "AND", "OR", "NOT", "-", "+", "\x00"])
    | st.text(max_size=5),
    max_size=20,
).map(" ".join)
FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(query=ANY_TEXT | FTS_SYNTAX, offset=st.integers(0, 10**6), limit=st.integers(1, 50))
async def test_store_search_never_raises(
    filled_store: Store, query: str, offset: int, limit: int
) -> None:
    hits, total = await filled_store.posts.search(query, limit=limit, offset=offset)
    assert total >= 0 and len(hits) <= limit


@FUZZ
@given(query=ANY_TEXT | FTS_SYNTAX)
async def test_the_search_command_never_crashes(service: CommandService, query: str) -> None:
    replies = await service.dispatch(console_caller(), "search", query)
    assert replies
    for reply in replies:
        if isinstance(reply, ErrorReply):
            assert "Something went wrong" not in reply.message, query
