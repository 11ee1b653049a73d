"""``/push/wordpress`` answers every bad notice as DESIGN.md says, and a bad notice changes
nothing: no read of WordPress, nothing stored, nothing sent; a good notice after them all still
brings its post to the chat, once."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from publisher.publisherkit import wait_until
from push.pushkit import (
    GROUP,
    SECRET,
    bot_after_first_sight,
    fake_telegram,
    notice_body,
    push_bot,
    push_settings,
    rest_site,
    signed,
    wordpress_source,
)


async def test_every_bad_notice_gets_its_answer_and_changes_nothing(tmp_path: Path) -> None:
    async with rest_site() as site:
        site.publish(1)
        async with bot_after_first_sight(tmp_path, site) as bot:
            telegram = bot.telegram
            site.publish(2)  # news, named by every notice below
            posts_before = await bot.post_count()
            good = notice_body(2, site=site.base)
            now = time.time()
            headers = signed(good)

            def without(name: str) -> dict[str, str]:
                return {k: v for k, v in headers.items() if k != name}

            def resigned(signature: str) -> dict[str, str]:
                return headers | {"X-KCrush-Signature": signature}

            big = good + b" " * (1024 * 1024)
            cases: list[tuple[str, bytes, dict[str, str], int]] = [
                ("no signature", good, without("X-KCrush-Signature"), 401),
                ("no timestamp", good, without("X-KCrush-Timestamp"), 401),
                ("not sha256=<hex>", good, resigned("sha1=" + "ab" * 20), 401),
                ("hex cut short", good, resigned(headers["X-KCrush-Signature"][:-2]), 401),
                ("not a number", good, headers | {"X-KCrush-Timestamp": "soon"}, 401),
                ("another secret", good, signed(good, secret="not the secret"), 401),
                ("signed over another body", good, signed(notice_body(3, site=site.base)), 401),
                ("six minutes old", good, signed(good, at=now - 360), 401),
                ("six minutes ahead", good, signed(good, at=now + 360), 401),
                ("1 MB, signed", big, signed(big), 413),
                ("not JSON", b"{event: publish", signed(b"{event: publish"), 400),
                ("a JSON list", b"[1]", signed(b"[1]"), 400),
            ]
            for name, fields in [
                ("post_id as text", {"post_id": "2"}),
                ("negative post_id", {"post_id": -2}),
                ("post_id true", {"post_id": True}),
                ("unknown event", {"event": "explode"}),
                ("no site", {"site": None}),
                ("site not a URL", {"site": "javascript:alert(1)"}),
            ]:
                value = json.loads(good) | fields
                body = json.dumps({k: v for k, v in value.items() if v is not None}).encode()
                cases.append((name, body, signed(body), 400))
            other = notice_body(2, site="https://another-magazine.example")
            cases.append(("a site the bot does not read", other, signed(other), 422))

            for name, body, sent_headers, status in cases:
                answer = await bot.notify(body, sent_headers)
                assert answer.status_code == status, (name, answer.text)
                assert answer.json()["error"], name

            # 1 MB without a Content-Length: refused as soon as reading passes 64 KB.
            async def chunks() -> Any:
                for _ in range(16):
                    yield b" " * 65536

            chunked = await bot.http.post(
                "/push/wordpress", content=chunks(), headers=signed(b"unknowable")
            )
            assert chunked.status_code == 413

            # A post WordPress answers 404 for: accepted (a hint), read, and nothing stored.
            missing = notice_body(404404, site=site.base)
            assert (await bot.notify(missing, signed(missing))).status_code == 202
            await bot.settle()
            assert site.single_reads() == ["/wp-json/wp/v2/posts/404404?_embed=1"]
            assert await bot.post_count() == posts_before
            assert telegram.sent(GROUP) == []

            # The good notice: the post reaches the group; the same notice again is a replay.
            assert (await bot.notify(good, headers)).status_code == 202
            await wait_until(lambda: telegram.sent(GROUP), within=10)
            replayed = await bot.notify(good, headers)
            assert replayed.status_code == 401 and "already" in replayed.json()["error"]
            await bot.settle()
            await bot.app.publisher.deliver_due()
            assert len(telegram.sent(GROUP)) == 1
            assert "number 2" in str(telegram.sent(GROUP)[0])
            assert await bot.post_count() == posts_before + 1

            counts = bot.app.push.counts
            assert counts["unsigned"] == 5 and counts["bad_signature"] == 2
            assert counts["stale"] == 2 and counts["replay"] == 1
            assert counts["too_large"] == 2 and counts["bad_request"] == 8
            assert counts["other_site"] == 1 and counts["gone"] == 1
            assert counts["accepted"] == 2 and counts["stored"] == 1

            health = (await bot.http.get("/healthz")).json()["push"]
            assert health["receiver"] == "on" and health["counts"] == dict(sorted(counts.items()))
            assert health["last_notice"]["post_id"] == 2


async def test_without_the_secret_the_receiver_says_it_is_off(tmp_path: Path) -> None:
    async with fake_telegram() as telegram, rest_site() as site:
        settings = push_settings(tmp_path / "bot.db", telegram, wordpress_source(site), secret="")
        async with push_bot(settings, telegram) as bot:
            body = notice_body(1, site=site.base)
            answer = await bot.notify(body, signed(body, secret=""))
            assert answer.status_code == 503 and "KCRUSH_PUSH_SECRET" in answer.json()["error"]
            assert site.single_reads() == []
            health = (await bot.http.get("/healthz")).json()
            assert health["push"]["receiver"].startswith("off")


async def test_the_test_button_notice_is_answered_without_reading_anything(
    tmp_path: Path,
) -> None:
    """A site without posts sends post 0 from its settings page's test button."""
    async with fake_telegram() as telegram, rest_site() as site:
        settings = push_settings(tmp_path / "bot.db", telegram, wordpress_source(site))
        async with push_bot(settings, telegram) as bot:
            body = notice_body(0, event="update", site=site.base)
            answer = await bot.notify(body, signed(body))
            assert answer.status_code == 202 and answer.json() == {"accepted": True, "test": True}
            await bot.settle()
            assert site.single_reads() == []


async def test_a_notice_answers_even_when_the_client_hangs_up(tmp_path: Path) -> None:
    """WordPress without curl sends the notice and closes without reading the answer: the
    notice is still taken and its post delivered."""
    async with rest_site() as site:
        site.publish(1)
        async with bot_after_first_sight(tmp_path, site) as bot:
            telegram = bot.telegram
            site.publish(2)
            body = notice_body(2, site=site.base)
            host, port = bot.server.host, bot.server.port
            head = "".join(f"{k}: {v}\r\n" for k, v in signed(body).items())
            request = (
                f"POST /push/wordpress HTTP/1.1\r\nHost: {host}:{port}\r\n{head}"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode() + body
            _, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            await writer.drain()
            writer.close()  # gone before the answer
            await writer.wait_closed()
            await wait_until(lambda: telegram.sent(GROUP), within=10)
            assert bot.app.push.counts["accepted"] == 1


async def test_the_secret_is_never_logged_nor_shown(tmp_path: Path, caplog: Any) -> None:
    caplog.set_level("DEBUG")
    async with fake_telegram() as telegram, rest_site() as site:
        site.publish(1)
        settings = push_settings(tmp_path / "bot.db", telegram, wordpress_source(site))
        assert SECRET not in repr(settings)
        async with push_bot(settings, telegram) as bot:
            body = notice_body(1, site=site.base)
            await bot.notify(body, signed(body, secret="wrong"))
            await bot.notify(body, signed(body))
            await bot.settle()
            health = await bot.http.get("/healthz")
            metrics = await bot.http.get("/metrics")
    for text in (caplog.text, health.text, metrics.text):
        assert SECRET not in text
