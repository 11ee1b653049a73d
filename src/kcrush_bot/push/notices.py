"""A WordPress notice's fields, checked; and the bounded queue of work that push hands the worker.

The notice is the plugin's JSON body: ``{"event": "publish"|"update"|"unpublish"|"delete",
"post_id": 123, "modified_gmt": "2026-11-21T09:00:00", "site": "https://www.kcrush.com"}``.
Fields beyond these are ignored, so a newer plugin does not break an older bot.

The queue holds jobs, not requests: "re-read post 123 of source S" or "poll source S now". A job
already waiting absorbs a new one for the same thing (ten saves of one post are one read), and
the number of post reads waiting is bounded: past it a read is dropped, counted, and replaced by
one poll of its source, which finds whatever the dropped reads would have. Polls are keyed by
configured source, so they are bounded by the configuration. A flood of notices therefore costs
a bounded amount of memory and work, whatever its size.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

EVENTS = ("publish", "update", "unpublish", "delete")
MAX_POST_ID = 2**63 - 1  # WordPress's ids are unsigned BIGINTs; larger is no post of any site
QUEUE_CAPACITY = 1_000


class BadNotice(ValueError):
    """The body is not a notice: answered 400 with this message."""


@dataclass(frozen=True, slots=True)
class Notice:
    event: str
    post_id: int
    modified_gmt: str
    site: str

    @property
    def is_test(self) -> bool:
        """The settings page's test button on a site with no post yet sends post 0."""
        return self.post_id == 0


def _text(value: Any, name: str, limit: int) -> str:
    if not isinstance(value, str):
        raise BadNotice(f"{name} must be a string")
    if len(value) > limit:
        raise BadNotice(f"{name} is longer than {limit} characters")
    return value


def parse_notice(body: bytes) -> Notice:
    """The notice in a body; ``BadNotice`` saying what is wrong with it otherwise."""
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadNotice(f"the body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadNotice("the body must be a JSON object")
    event = value.get("event")
    if event not in EVENTS:
        raise BadNotice(f"event must be one of {', '.join(EVENTS)}")
    post_id = value.get("post_id")
    if isinstance(post_id, bool) or not isinstance(post_id, int) or not 0 <= post_id <= MAX_POST_ID:
        raise BadNotice("post_id must be a whole number, 0 or more")
    site = _text(value.get("site"), "site", 500).strip()
    if not site.startswith(("http://", "https://")):
        raise BadNotice("site must be the site's http(s) address")
    modified = _text(value.get("modified_gmt", ""), "modified_gmt", 40)
    return Notice(event, post_id, modified, site)


class JobKind(StrEnum):
    POST = "post"  # re-read one post of a wordpress source
    POLL = "poll"  # poll a source now


@dataclass(frozen=True, slots=True)
class Job:
    kind: JobKind
    source: str
    post_id: int = 0
    event: str = ""

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.kind.value, self.source, self.post_id)


class Offer(StrEnum):
    QUEUED = "queued"
    COALESCED = "coalesced"  # the same work was already waiting
    DROPPED = "dropped"  # the queue was full: a poll of the source stands in for it


class JobQueue:
    """FIFO of distinct jobs; at most ``capacity`` post reads wait at a time."""

    def __init__(self, capacity: int = QUEUE_CAPACITY) -> None:
        self.capacity = capacity
        self._jobs: OrderedDict[tuple[str, str, int], Job] = OrderedDict()
        self._posts = 0
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._jobs)

    @property
    def posts_waiting(self) -> int:
        return self._posts

    def offer(self, job: Job) -> Offer:
        if job.key in self._jobs:
            self._jobs[job.key] = job  # the newest event, in the place of the first
            return Offer.COALESCED
        if job.kind is JobKind.POST and self._posts >= self.capacity:
            self.offer(Job(JobKind.POLL, job.source))
            return Offer.DROPPED
        self._jobs[job.key] = job
        if job.kind is JobKind.POST:
            self._posts += 1
        self._ready.set()
        return Offer.QUEUED

    async def take(self) -> Job:
        while not self._jobs:
            self._ready.clear()
            await self._ready.wait()
        _, job = self._jobs.popitem(last=False)
        if job.kind is JobKind.POST:
            self._posts -= 1
        return job
