"""Clock times, time zones and UTC: one reading of each, the same for chats and the config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from factories import caller
from kcrush_bot import settings as settings_mod
from kcrush_bot.core.commands import CommandService
from kcrush_bot.core.errors import ConfigError
from kcrush_bot.core.models import ChatKind
from kcrush_bot.core.replies import ErrorReply
from kcrush_bot.core.times import as_utc, in_zone, parse_clock_time, parse_timezone

ADMIN = caller("telegram", chat_id="-7", kind=ChatKind.GROUP, user_id="43", admin=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00", "09:00"),
        ("9:00", "09:00"),
        ("9h05", "09:05"),
        ("23.59", "23:59"),
        ("0:00", "00:00"),
    ],
)
def test_clock_times_a_chat_may_write(text: str, expected: str) -> None:
    assert parse_clock_time(text) == expected


@pytest.mark.parametrize("text", ["24:00", "9:60", "noon", "9", "09:00:00", "", "09:00\n"])
def test_what_is_not_a_clock_time(text: str) -> None:
    assert parse_clock_time(text) is None


@pytest.mark.parametrize(
    "text", ["Asia/Seoul", "UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+5"]
)
def test_time_zones_zoneinfo_knows(text: str) -> None:
    assert parse_timezone(text) == text


@pytest.mark.parametrize("text", ["Mars/Olympus", "../../etc/passwd", "Asia/Seoul ", "", "A" * 65])
def test_what_is_not_a_time_zone(text: str) -> None:
    assert parse_timezone(text) is None


async def test_the_digest_command_and_the_config_read_times_and_zones_alike(
    service: CommandService, tmp_path: Path
) -> None:
    # The chat's lenient spelling is normalised; the config must hold the normal form itself.
    await service.dispatch(ADMIN, "digest", "daily 9h30 Europe/Paris")
    [schedule] = await service.store.chats.digests(ADMIN.chat)
    assert (schedule.time, schedule.timezone) == ("09:30", "Europe/Paris")
    config = {"bot": {"digest_time": "09:30", "timezone": "Europe/Paris"}}
    loaded = settings_mod.from_dict(config, environ={})
    assert (loaded.bot.digest_time, loaded.bot.timezone) == ("09:30", "Europe/Paris")
    with pytest.raises(ConfigError, match=r"^bot\.digest_time: '9h30' is not HH:MM$"):
        settings_mod.from_dict({"bot": {"digest_time": "9h30"}}, environ={})
    # A zone one refuses, the other refuses too.
    [refused] = await service.dispatch(ADMIN, "digest", "daily Mars/Olympus")
    assert isinstance(refused, ErrorReply)
    with pytest.raises(ConfigError, match=r"^bot\.timezone: 'Mars/Olympus' is not a time zone$"):
        settings_mod.from_dict({"bot": {"timezone": "Mars/Olympus"}}, environ={})


def test_a_naive_time_is_taken_as_utc_and_an_aware_one_converted() -> None:
    naive = datetime(2026, 3, 1, 9, 0)
    assert as_utc(naive) == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    assert as_utc(naive).tzinfo is UTC
    seoul = datetime(2026, 3, 1, 18, 0, tzinfo=ZoneInfo("Asia/Seoul"))
    assert as_utc(seoul) == seoul and as_utc(seoul).utcoffset() == timedelta(0)
    assert as_utc(seoul).isoformat() == "2026-03-01T09:00:00+00:00"


def test_a_naive_time_is_read_in_the_given_zone_and_an_aware_one_kept() -> None:
    seoul = ZoneInfo("Asia/Seoul")
    assert in_zone(datetime(2026, 12, 1, 9, 0), seoul).isoformat() == "2026-12-01T09:00:00+09:00"
    paris = datetime(2026, 12, 1, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    assert in_zone(paris, seoul) is paris
