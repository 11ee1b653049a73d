"""Times as the bot reads them: aware datetimes in UTC, clock times (HH:MM), time zone names.

Written once because each has a trap when written again: a naive datetime compared with an
aware one raises, and one read as the server's local time is hours off; ``9h00`` and
``09:00`` must be the same schedule; a time zone name is outside text until ZoneInfo knows it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# 9:00, 09:00, 09.00 and 9h00 are all nine o'clock.
_CLOCK_TIME = re.compile(r"([01]?\d|2[0-3])[:.h]([0-5]\d)")
# What a zone key may hold; checked before ZoneInfo so that no path ("../x") reaches the disk.
_ZONE_KEY = re.compile(r"[A-Za-z0-9_+\-/]+")


def utc_now() -> datetime:
    """The default clock: now, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC. A time without an offset is taken to be UTC already: stored times are."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def in_zone(value: datetime, zone: tzinfo) -> datetime:
    """``value`` with ``zone`` attached when it has no offset of its own (an operator's
    ``--at 09:00`` means nine in the bot's time zone); an aware time is left as it is."""
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


def parse_clock_time(text: str) -> str | None:
    """``text`` as ``HH:MM`` (``9h00`` → ``09:00``), or None when it is not a time of day."""
    match = _CLOCK_TIME.fullmatch(text)
    return f"{int(match.group(1)):02d}:{match.group(2)}" if match else None


def parse_timezone(text: str) -> str | None:
    """``text`` if it names a time zone ZoneInfo knows (``Asia/Seoul``, ``UTC``), else None."""
    if len(text) > 64 or not _ZONE_KEY.fullmatch(text):
        return None
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return text
