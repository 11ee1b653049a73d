"""A flood of signed notices from another process, as a misbehaving site (or a replayed
burst) would send them: ``python flood.py URL SITE FIRST COUNT`` with the secret in
``KCRUSH_PUSH_SECRET``. Sends one notice per post id from FIRST on, many at a time, and prints
the answers' statuses as JSON (``{"202": 1000}``) and how long sending took."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import Counter

import aiohttp

from kcrush_bot.push.signing import sign_notice

CONCURRENCY = 64


async def flood(url: str, site: str, first: int, count: int, secret: str) -> None:
    statuses: Counter[str] = Counter()
    ids = iter(range(first, first + count))
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:

        async def sender() -> None:
            for post_id in ids:
                body = json.dumps(
                    {"event": "publish", "post_id": post_id, "modified_gmt": "", "site": site},
                    separators=(",", ":"),
                ).encode()
                stamp = str(int(time.time()))
                headers = {
                    "Content-Type": "application/json",
                    "X-KCrush-Timestamp": stamp,
                    "X-KCrush-Signature": sign_notice(secret, stamp, body),
                }
                async with session.post(url, data=body, headers=headers) as answer:
                    await answer.read()
                    statuses[str(answer.status)] += 1

        await asyncio.gather(*(sender() for _ in range(CONCURRENCY)))
    seconds = time.perf_counter() - started
    print(json.dumps({"statuses": dict(statuses), "seconds": round(seconds, 3)}))


if __name__ == "__main__":
    target, site_url, start, total = sys.argv[1:5]
    asyncio.run(flood(target, site_url, int(start), int(total), os.environ["KCRUSH_PUSH_SECRET"]))
