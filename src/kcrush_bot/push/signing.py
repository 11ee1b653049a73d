"""The signature checks of push, and the memory of notices already taken.

The plugin signs ``<timestamp>.<body>`` with HMAC-SHA256 under the shared secret and sends
``X-KCrush-Timestamp`` and ``X-KCrush-Signature: sha256=<hex>``; the body is checked as the raw
bytes that arrived, never re-encoded. A WebSub hub signs the body alone under the
subscription's ``hub.secret``, naming its hash (``X-Hub-Signature: sha1=…``, ``sha256=…``,
``sha384=…`` or ``sha512=…``). Every comparison is ``hmac.compare_digest``: the time it takes
says nothing about how much of a forged signature was right.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import re
from enum import StrEnum

# How far a notice's timestamp may be from the bot's clock, either way.
WINDOW_SECONDS = 300.0
# Signatures remembered against replays. Each costs about 150 bytes; a legitimate site sends a
# few notices a minute, so this bounds memory without ever forgetting a real one in time.
REPLAY_MEMORY = 20_000

_KCRUSH_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")
_TIMESTAMP = re.compile(r"\d{1,12}")
_HUB_SIGNATURE = re.compile(r"(sha1|sha256|sha384|sha512)=([0-9a-fA-F]{40,128})")


class Refusal(StrEnum):
    """Why a notice's signature was refused; each is answered 401 and counted by name."""

    UNSIGNED = "unsigned"  # a header is missing or not in the documented form
    BAD_SIGNATURE = "bad_signature"
    STALE = "stale"  # the timestamp is more than WINDOW_SECONDS from now
    REPLAY = "replay"


def sign_notice(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` for a body sent at ``timestamp``: what the plugin puts in the header."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def check_notice(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    *,
    window: float = WINDOW_SECONDS,
) -> Refusal | None:
    """None when the notice is signed by ``secret`` and fresh; else why not (replays are the
    ``ReplayGuard``'s to tell)."""
    if not timestamp or not signature:
        return Refusal.UNSIGNED
    timestamp, signature = timestamp.strip(), signature.strip()
    given = _KCRUSH_SIGNATURE.fullmatch(signature)
    if given is None or not _TIMESTAMP.fullmatch(timestamp):
        return Refusal.UNSIGNED
    expected = sign_notice(secret, timestamp, body).removeprefix("sha256=")
    if not hmac.compare_digest(expected, given.group(1).lower()):
        return Refusal.BAD_SIGNATURE
    if abs(now - int(timestamp)) > window:
        return Refusal.STALE
    return None


class ReplayGuard:
    """Remembers the signatures of the notices taken within the window; a second one is a
    replay. Bounded: when ``capacity`` signatures are held, the oldest is forgotten and every
    notice stamped no later than it is refused from then on (it cannot be told from a replay),
    so memory stays bounded without letting a forgotten notice be played again."""

    def __init__(self, window: float = WINDOW_SECONDS, capacity: int = REPLAY_MEMORY) -> None:
        self.window = window
        self.capacity = capacity
        self._seen: set[str] = set()
        self._by_age: list[tuple[int, str]] = []  # a heap of (timestamp, signature)
        self._floor = -1  # notices stamped at or before this are refused

    def __len__(self) -> int:
        return len(self._seen)

    def first_time(self, signature: str, timestamp: int, now: float) -> bool:
        """True, and remembered, the first time a signature is shown; False after."""
        # Older than the window: a notice stamped then is refused as stale anyway.
        while self._by_age and self._by_age[0][0] < now - self.window:
            self._seen.discard(heapq.heappop(self._by_age)[1])
        key = signature.strip().lower()
        if timestamp <= self._floor or key in self._seen:
            return False
        while len(self._seen) >= self.capacity:
            stamped, oldest = heapq.heappop(self._by_age)
            self._seen.discard(oldest)
            self._floor = max(self._floor, stamped)
            if timestamp <= self._floor:
                return False
        self._seen.add(key)
        heapq.heappush(self._by_age, (timestamp, key))
        return True


def check_hub_signature(secret: str, header: str | None, body: bytes) -> bool:
    """Whether a WebSub delivery is signed with the subscription's secret, in the hash the hub
    named."""
    if not header:
        return False
    given = _HUB_SIGNATURE.fullmatch(header.strip())
    if given is None:
        return False
    algorithm, hexdigest = given.group(1), given.group(2).lower()
    expected = hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()
    return hmac.compare_digest(expected, hexdigest)
