"""The command line against a real SQLite file (DESIGN.md §2).

The verbs run in this process through ``cli.main`` with their own environment, working
directory, stdin, stdout and stderr: what they print and return is what a shell sees, minus
the second or so each new interpreter takes to import the bot. One test runs the real process,
for what only a process shows: ``python -m kcrush_bot``, its exit status and its stderr.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.strategies import utf16_units
from factories import REPO
from kcrush_bot import cli
from kcrush_bot.core.render.discord import embed_size
from kcrush_bot.core.render.telegram import visible_text
from kcrush_bot.storage import migrate
from ops.opskit import kept_logging

FIXTURES = REPO / "tests" / "fixtures"


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


def environment(tmp_path: Path, env: dict[str, str] | None) -> dict[str, str]:
    return (
        {k: v for k, v in os.environ.items() if not k.startswith("KCRUSH_")}
        | {"KCRUSH_DB": str(tmp_path / "bot.db")}
        | (env or {})
    )


def run(
    tmp_path: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> Result:
    """``kcrush-bot ARGS`` run by ``cli.main`` in this process."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, kept_logging():
        for key in list(os.environ):
            patch.delenv(key)
        for key, value in environment(tmp_path, env).items():
            patch.setenv(key, value)
        patch.chdir(REPO)
        patch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as exc:  # argparse's own usage errors
                code = exc.code if isinstance(exc.code, int) else 2
    return Result(code, out.getvalue(), err.getvalue())


def run_process(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kcrush_bot", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=environment(tmp_path, None),
        cwd=REPO,
        timeout=60,
    )


def ok(result: Result | subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def as_json(result: Result) -> Any:
    return json.loads(ok(result))


def test_as_a_process_it_answers_and_fails_in_one_line(tmp_path: Path) -> None:
    posts = json.loads(ok(run_process(tmp_path, "latest", "-n", "2", "--json")))
    assert len(posts) == 2 and all(p["url"].startswith("https://www.kcrush.com/") for p in posts)
    bad = run_process(tmp_path, "subscribe", "telegram:1", "nope")
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1
    assert bad.stdout == ""


def test_fresh_install_answers_latest_and_search_from_the_sample(tmp_path: Path) -> None:
    posts = as_json(run(tmp_path, "latest", "-n", "100", "--json"))
    assert len(posts) == 49  # every item of the three seed pages
    assert set(posts[0]) == {
        "id",
        "url",
        "title",
        "teaser",
        "categories",
        "published_at",
        "image_url",
    }
    assert all(p["url"].startswith("https://www.kcrush.com/") for p in posts)
    assert all(p["categories"] for p in posts)
    hits = as_json(run(tmp_path, "search", "Dreamcatcher", "--json"))
    assert hits[0]["title"] == "KCRUSH Interview with Dreamcatcher"
    assert {"snippet", "score"} <= set(hits[0])
    assert "\x02" not in hits[0]["snippet"]
    text = ok(run(tmp_path, "latest", "-n", "2"))
    assert "https://www.kcrush.com/" in text


def test_ingest_a_feed_file_then_search_and_latest(tmp_path: Path) -> None:
    out = ok(run(tmp_path, "ingest", str(FIXTURES / "wordpress-feed.xml")))
    assert "new" in out and "failed" not in out
    again = ok(run(tmp_path, "ingest", str(FIXTURES / "wordpress-feed.xml")))
    assert "0 new" in again or "not modified" in again  # deduplicated
    posts = as_json(run(tmp_path, "latest", "-n", "200", "--json"))
    titles = [p["title"] for p in posts]
    assert "Five Girl Groups to Watch in 2023 – Don’t Miss Them" in titles  # entities decoded
    assert not any("Staging" in t for t in titles)  # the staging mirror is skipped
    assert len(titles) == len(set(titles))
    knk = next(p for p in posts if p["title"] == "KCRUSH Interview with KNK")
    assert knk["categories"]
    assert "appeared first on" not in knk["teaser"]
    hits = as_json(run(tmp_path, "search", "girl groups watch", "--json"))
    assert hits[0]["title"].startswith("Five Girl Groups")


def test_bad_feed_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    before = as_json(run(tmp_path, "stats", "--json"))["posts"]
    result = run(tmp_path, "ingest", str(FIXTURES / "entity-bomb.xml"))
    assert result.returncode == 1
    assert "failed" in result.stdout and "Traceback" not in result.stderr
    assert as_json(run(tmp_path, "stats", "--json"))["posts"] == before


def test_categories_and_stats(tmp_path: Path) -> None:
    listed = as_json(run(tmp_path, "categories", "--json"))
    cats = {c["slug"]: c for c in listed}
    children = [c for c in listed if c["parent"]]
    assert children and all(cats[c["parent"]]["posts"] >= c["posts"] for c in children)
    assert cats["interviews"]["posts"] >= 20
    stats = as_json(run(tmp_path, "stats", "--json"))
    assert stats["posts"] == 49 and stats["outbox"] == {}
    assert "posts 49" in ok(run(tmp_path, "stats"))


def test_operator_subscribe_list_and_unsubscribe(tmp_path: Path) -> None:
    ok(run(tmp_path, "subscribe", "telegram:-100123", "kpop", "--digest", "daily"))
    ok(run(tmp_path, "subscribe", "discord:555"))
    [digest] = as_json(run(tmp_path, "stats", "--json"))["digests"]
    assert digest["chat"] == "telegram:-100123" and digest["next_at"].endswith("+09:00")
    ok(run(tmp_path, "subscribe", "discord:556", "kpop", "+bts", "--digest", "weekly"))
    subs = as_json(run(tmp_path, "subscriptions", "--json"))
    assert {(s["chat"], s["category"], s["mode"], tuple(s["keywords"])) for s in subs} == {
        ("telegram:-100123", "kpop", "daily", ()),
        ("discord:555", "interviews", "instant", ()),
        ("discord:556", "kpop", "weekly", ("bts",)),
    }
    ok(run(tmp_path, "unsubscribe", "telegram:-100123", "all"))
    remaining = {s["chat"] for s in as_json(run(tmp_path, "subscriptions", "--json"))}
    assert remaining == {"discord:555", "discord:556"}
    preview = ok(run(tmp_path, "digest", "preview", "discord:555"))
    assert "digest" in preview.lower()


@pytest.mark.parametrize(
    "args",
    [
        ["subscribe", "bogus"],
        ["subscribe", "telegram:1", "nope"],
        ["latest", "--category", "nope"],
        ["preview", "--url", "x"],
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, args: list[str]) -> None:
    result = run(tmp_path, *args)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


def test_bad_config_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[bot]\ndigest_time = 'noon'\n", encoding="utf-8")
    result = run(tmp_path, "--config", str(config), "latest")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: bot.digest_time: 'noon' is not HH:MM"


def test_announce_needs_yes_without_a_terminal(tmp_path: Path) -> None:
    ok(run(tmp_path, "subscribe", "telegram:-1"))
    refused = run(tmp_path, "announce", "Hello fans")
    assert refused.returncode == 1 and "--yes" in refused.stdout
    sent = ok(run(tmp_path, "announce", "Hello fans", "--yes"))
    assert "confirmed" in sent and "1 chat" in sent


def test_announce_can_be_scheduled_for_later(tmp_path: Path) -> None:
    ok(run(tmp_path, "subscribe", "telegram:-1"))
    sent = ok(run(tmp_path, "announce", "Live at nine", "--at", "2999-01-01T09:00", "--yes"))
    assert "at 2999-01-01 09:00" in sent and "is scheduled for 2999-01-01 09:00 KST" in sent
    with sqlite3.connect(tmp_path / "bot.db") as db:
        [(status, when)] = db.execute("SELECT status, scheduled_for FROM announcements").fetchall()
    assert status == "confirmed" and when == "2999-01-01T00:00:00.000000+00:00"  # 09:00 in Seoul
    past = run(tmp_path, "announce", "Too late", "--at", "2001-01-01T09:00", "--yes")
    assert past.returncode == 2 and "passed" in past.stderr
    bad = run(tmp_path, "announce", "When?", "--at", "tomorrow")
    assert bad.returncode == 2 and "is not a time" in bad.stderr


def test_console_session(tmp_path: Path) -> None:
    session = (
        "/latest 2 interviews\n/search 크나큰\n/subscribe kpop\n/subscriptions\n/nope\n/quit\n"
    )
    out = ok(run(tmp_path, "console", stdin=session))
    assert "KCRUSH Interview with KNK" in out
    assert "Subscribed to K-Pop" in out
    assert "Unknown command" in out


HOSTILE = [
    "@everyone <b>FREE</b> & <@&123> </a><script>alert(1)</script>",
    "[BREAKING] " + "크나큰 🎤👩‍👩‍👧‍👦 " * 300,
    "@here\u202e\u200d" + "x" * 5000,
    "*bold* _it_ `code` ||spoiler|| > quote\n# heading",
]


def test_preview_payloads_respect_limits_for_hostile_posts(tmp_path: Path) -> None:
    feed = tmp_path / "hostile.jsonl"
    lines = [
        json.dumps(
            {
                "url": f"https://www.kcrush.com/hostile-{i}/",
                "title": title,
                "teaser": title * 3,
                "categories": ["kpop"],
                "image_url": "https://www.kcrush.com/x.jpg" if i % 2 else None,
            }
        )
        for i, title in enumerate(HOSTILE)
    ]
    feed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ok(run(tmp_path, "ingest", str(feed)))
    telegram = as_json(
        run(tmp_path, "preview", "--platform", "telegram", "--latest", "4", "--json")
    )
    assert len(telegram) == 4
    for item in telegram:
        payload = item["payload"]
        if item["method"] == "sendPhoto":
            assert 0 < utf16_units(visible_text(payload["caption"])) <= 1024
        else:
            assert 0 < utf16_units(visible_text(payload["text"])) <= 4096
        assert "<script>" not in json.dumps(payload)
    discord = as_json(run(tmp_path, "preview", "--platform", "discord", "--latest", "4", "--json"))
    for item in discord:
        payload = item["payload"]
        assert payload["allowed_mentions"] == {"parse": []}
        assert len(payload.get("content") or "") <= 2000
        assert len(payload["embeds"]) <= 10
        assert sum(embed_size(e) for e in payload["embeds"]) <= 6000
        for embed in payload["embeds"]:
            assert len(embed.get("title", "")) <= 256
            assert len(embed.get("description", "")) <= 4096
        flat = json.dumps(payload, ensure_ascii=False)
        assert "@everyone" not in flat and "@here" not in flat and "<@&123>" not in flat


def test_db_upgrade_brings_an_older_database_to_the_newest_schema(tmp_path: Path) -> None:
    migrations = migrate.available()
    newest, last, _ = migrations[-1]
    older = newest - 1
    # A database as the release before the newest migration left it.
    with contextlib.closing(sqlite3.connect(tmp_path / "bot.db")) as db:
        for _, _, sql in migrations[:-1]:
            db.executescript(sql)
        db.execute(f"PRAGMA user_version = {older:d}")
        db.commit()

    out = ok(run(tmp_path, "db", "upgrade"))
    assert f"from version {older} to {newest}: {last}" in out
    with contextlib.closing(sqlite3.connect(tmp_path / "bot.db")) as db:
        [(version,)] = db.execute("PRAGMA user_version").fetchall()
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert version == newest
    assert {"posts", "outbox", "digests", "subscriptions"} <= tables
    assert f"up to date (version {newest})" in ok(run(tmp_path, "db", "upgrade"))
