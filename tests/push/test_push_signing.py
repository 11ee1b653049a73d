"""The signature checks and the replay memory, on their own: what the plugin signs verifies,
anything else is refused by name, and the memory of signatures stays bounded without ever
letting a forgotten notice be played again."""

from __future__ import annotations

import hashlib
import hmac

from kcrush_bot.push.signing import (
    Refusal,
    ReplayGuard,
    check_hub_signature,
    check_notice,
    sign_notice,
)

SECRET = "s3cret"
BODY = b'{"event":"publish","post_id":7,"modified_gmt":"","site":"https://www.kcrush.com"}'
NOW = 1_800_000_000


def test_what_the_plugin_signs_verifies_and_nothing_else_does() -> None:
    stamp = str(NOW)
    # The plugin's PHP: hash_hmac('sha256', $timestamp . '.' . $body, $secret).
    php = hmac.new(SECRET.encode(), f"{stamp}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign_notice(SECRET, stamp, BODY) == f"sha256={php}"
    assert check_notice(SECRET, stamp, f"sha256={php}", BODY, NOW) is None
    assert check_notice(SECRET, stamp, f"sha256={php.upper()}", BODY, NOW) is None
    assert check_notice(SECRET, stamp, f"sha256={php}", BODY + b" ", NOW) is Refusal.BAD_SIGNATURE
    assert check_notice("other", stamp, f"sha256={php}", BODY, NOW) is Refusal.BAD_SIGNATURE
    assert check_notice(SECRET, None, f"sha256={php}", BODY, NOW) is Refusal.UNSIGNED
    assert check_notice(SECRET, stamp, None, BODY, NOW) is Refusal.UNSIGNED
    assert check_notice(SECRET, stamp, php, BODY, NOW) is Refusal.UNSIGNED
    assert check_notice(SECRET, "-1", f"sha256={php}", BODY, NOW) is Refusal.UNSIGNED


def test_a_timestamp_more_than_five_minutes_off_is_stale() -> None:
    for offset, refusal in ((-301, Refusal.STALE), (-300, None), (300, None), (301, Refusal.STALE)):
        stamp = str(NOW + offset)
        signature = sign_notice(SECRET, stamp, BODY)
        assert check_notice(SECRET, stamp, signature, BODY, NOW) is refusal, offset


def test_a_signature_is_taken_once() -> None:
    guard = ReplayGuard()
    assert guard.first_time("sha256=AB", NOW, NOW)
    assert not guard.first_time("sha256=ab", NOW, NOW)  # the same hex, however written
    assert guard.first_time("sha256=cd", NOW, NOW)


def test_the_replay_memory_is_bounded_and_never_forgets_into_a_hole() -> None:
    guard = ReplayGuard(window=300, capacity=100)
    for n in range(1000):
        assert guard.first_time(f"sha256={n}", NOW + n // 10, NOW + n // 10)
        assert len(guard) <= 100
    # A forgotten signature cannot come back: anything stamped before what was forgotten is
    # refused, even though its own signature is no longer remembered.
    assert not guard.first_time("sha256=0", NOW, NOW + 99)
    assert not guard.first_time("sha256=new", NOW + 80, NOW + 99)
    assert guard.first_time("sha256=new", NOW + 99, NOW + 99)


def test_old_signatures_leave_the_memory_with_the_window() -> None:
    guard = ReplayGuard(window=300, capacity=100)
    for n in range(50):
        guard.first_time(f"sha256={n}", NOW, NOW)
    assert guard.first_time("sha256=later", NOW + 301, NOW + 301)
    assert len(guard) == 1


def test_hub_signatures_in_every_hash_a_hub_may_name() -> None:
    for algorithm in ("sha1", "sha256", "sha384", "sha512"):
        digest = hmac.new(b"hub-secret", BODY, getattr(hashlib, algorithm)).hexdigest()
        assert check_hub_signature("hub-secret", f"{algorithm}={digest}", BODY)
        assert not check_hub_signature("other", f"{algorithm}={digest}", BODY)
        assert not check_hub_signature("hub-secret", f"{algorithm}={digest}", BODY + b"x")
    assert not check_hub_signature("hub-secret", None, BODY)
    assert not check_hub_signature("hub-secret", "md5=" + "0" * 32, BODY)
