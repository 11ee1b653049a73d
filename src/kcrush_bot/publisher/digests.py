"""Digest timing: a chat's schedule as an APScheduler cron trigger, and when a digest is due.

Chats with the same schedule (its ``signature``) share one cron job, ``digest_job_id``: the
job is a wake-up for all of them, and each chat is still checked on its own by the rule below.

The schedule lives in the ``digests`` table; the cron trigger is derived from it (day names,
not numbers: APScheduler counts 0 as Monday where cron counts it as Sunday; the chat's own time
zone, so 09:00 stays 09:00 local across a DST change).

A digest is due when the trigger's latest fire time at or before now is later than both the
chat's last digest and the moment its schedule was set. That one rule covers the normal run
(the cron job fires), a restart after downtime (the missed fire time is later than the last
digest: sent once), and a second look at the same time (already sent: nothing). Sending marks
``last_sent_at`` in the same transaction that enqueues the digest's messages.

``DigestCalendar`` holds the schedules as the publisher last read them, with one trigger per
signature: it answers "when is this chat's next digest" for ``/status`` (the core's
``ScheduleView``) without the command service having to know the publisher.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from kcrush_bot.core.models import DigestSchedule, Mode
from kcrush_bot.core.times import utc_now

# (frequency, time, time zone, weekday or "" when daily): all a chat's cron trigger depends on.
Signature = tuple[str, str, str, str]

_LOOKBACK = {Mode.DAILY: timedelta(days=2), Mode.WEEKLY: timedelta(days=8)}


def digest_trigger(schedule: DigestSchedule) -> CronTrigger:
    hour, minute = (int(part) for part in schedule.time.split(":", 1))
    zone = ZoneInfo(schedule.timezone)
    if schedule.frequency is Mode.WEEKLY:
        return CronTrigger(day_of_week=schedule.weekday, hour=hour, minute=minute, timezone=zone)
    return CronTrigger(hour=hour, minute=minute, timezone=zone)


def signature(schedule: DigestSchedule) -> Signature:
    """What the cron job depends on: chats with the same signature share one job, and a job
    is added or removed only when the set of signatures changes."""
    weekday = schedule.weekday if schedule.frequency is Mode.WEEKLY else ""
    return (schedule.frequency.value, schedule.time, schedule.timezone, weekday)


def digest_job_id(sig: Signature) -> str:
    """The stable id of the cron job shared by every chat with this schedule, e.g.
    ``digest:weekly:18:30:Asia/Seoul:fri`` or ``digest:daily:09:00:UTC``."""
    return "digest:" + ":".join(part for part in sig if part)


def previous_fire(trigger: CronTrigger, now: datetime, frequency: Mode) -> datetime | None:
    """The trigger's latest fire time at or before ``now`` (APScheduler 3 has only "next")."""
    cursor = now - _LOOKBACK.get(frequency, timedelta(days=8))
    latest = None
    while True:
        fire: datetime | None = trigger.get_next_fire_time(latest, cursor)
        if fire is None or fire > now:
            return latest
        latest = fire
        cursor = fire + timedelta(seconds=1)


def next_fire(trigger: CronTrigger, now: datetime) -> datetime | None:
    fire: datetime | None = trigger.get_next_fire_time(None, now)
    return fire


def due_fire_time(
    schedule: DigestSchedule,
    now: datetime,
    set_at: datetime | None,
    trigger: CronTrigger | None = None,
) -> datetime | None:
    """The fire time the chat's digest is due for, or None when it is not due."""
    if schedule.frequency not in _LOOKBACK:
        return None
    fire = previous_fire(trigger or digest_trigger(schedule), now, schedule.frequency)
    if fire is None:
        return None
    if schedule.last_sent_at is not None and schedule.last_sent_at >= fire:
        return None
    if set_at is not None and set_at >= fire:
        return None  # set (or changed) after that time: the first digest is the next one
    return fire


def next_digest_times(
    schedules: Iterable[DigestSchedule],
    now: datetime,
    trigger: Callable[[DigestSchedule], CronTrigger] = digest_trigger,
) -> dict[str, datetime]:
    """Chat key → when its next digest fires after ``now``."""
    times = {}
    for schedule in schedules:
        fire = next_fire(trigger(schedule), now)
        if fire is not None:
            times[schedule.chat.key] = fire
    return times


class DigestCalendar:
    """The digest schedules as last read, and one cron trigger per signature, shared by the
    chats with that schedule and by its job (see the module docstring)."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or utc_now
        self.schedules: dict[str, DigestSchedule] = {}
        self._triggers: dict[Signature, CronTrigger] = {}

    def read(self, schedules: Iterable[DigestSchedule]) -> None:
        """The schedules as the table now holds them; triggers no schedule uses are dropped."""
        self.schedules = {s.chat.key: s for s in schedules}
        used = {signature(s) for s in self.schedules.values()}
        self._triggers = {sig: t for sig, t in self._triggers.items() if sig in used}

    def trigger(self, schedule: DigestSchedule) -> CronTrigger:
        sig = signature(schedule)
        trigger = self._triggers.get(sig)
        if trigger is None:
            trigger = self._triggers[sig] = digest_trigger(schedule)
        return trigger

    def next_digest_times(self) -> dict[str, datetime]:
        """Chat key → when its next digest fires (from the schedules last read)."""
        return next_digest_times(self.schedules.values(), self.clock(), self.trigger)
