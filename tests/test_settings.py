"""Settings: the shipped file loads, bad files get one clear error naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from kcrush_bot import settings as settings_mod
from kcrush_bot.core.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def load_text(tmp_path: Path, text: str, **env: str) -> settings_mod.Settings:
    path = tmp_path / "kcrush-bot.toml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "categories.toml").write_text(
        (REPO / "config" / "categories.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    data = settings_mod.tomllib.loads(text)
    return settings_mod.from_dict(data, base_dir=tmp_path, environ=env)


def test_shipped_config_loads_with_every_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KCRUSH_DB", raising=False)
    loaded = settings_mod.load(str(REPO / "config" / "kcrush-bot.toml"))
    assert {s.name for s in loaded.sources} == {"kcrush-interviews", "kcrush-all"}
    assert loaded.telegram.base_url == "https://api.telegram.org/bot"
    assert loaded.discord.gateway_url.startswith("wss://")
    slugs = {c.slug for c in loaded.categories}
    assert {
        "interviews",
        "k-pop-interviews",
        "featured-interview",
        "video-interviews",
        "film-maker-interviews",
        "k-dramas",
        "kpop",
        "breaking",
        "uncategorized",
    } <= slugs


def test_packaged_copies_are_the_config_files() -> None:
    for name in ("kcrush-bot.toml", "categories.toml"):
        packaged = settings_mod.packaged_file(name).read_text(encoding="utf-8")
        assert packaged == (REPO / "config" / name).read_text(encoding="utf-8")


def test_tokens_come_from_the_environment_and_are_masked(tmp_path: Path) -> None:
    loaded = load_text(tmp_path, "", KCRUSH_TELEGRAM_TOKEN="123:SECRET-TOKEN-VALUE")
    assert loaded.telegram.token == "123:SECRET-TOKEN-VALUE"
    assert "SECRET" not in repr(loaded)
    assert not loaded.discord.token


def test_config_file_cannot_hold_tokens(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^telegram\.token: unknown setting"):
        load_text(tmp_path, '[telegram]\ntoken = "123:abc"\n')


def test_database_from_env_and_intervals_as_durations(tmp_path: Path) -> None:
    text = '[[sources]]\nname = "local"\nkind = "file"\nurl = "feed.xml"\ninterval = "1s"\n'
    loaded = load_text(tmp_path, text, KCRUSH_DB="/tmp/x.db")
    assert loaded.database_path == "/tmp/x.db"
    assert loaded.sources[0].interval == 1.0
    assert loaded.sources[0].url == str(tmp_path / "feed.xml")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[bot]\ndigest_time = '25:00'\n", "bot.digest_time"),
        ("[bot]\ntimezone = 'Mars/Olympus'\n", "bot.timezone"),
        ("[bot]\nsample_archive = 'yes'\n", "bot.sample_archive"),
        ("[bott]\n", "bott"),
        ("[ingest]\nmax_bytes = 10\n", "ingest.max_bytes"),
        ("[telegram]\nbase_url = 'ftp://x'\n", "telegram.base_url"),
        ("[discord]\ngateway_url = 'http://x'\n", "discord.gateway_url"),
        (
            "[[sources]]\nname = 'a'\nkind = 'rss'\nurl = 'https://www.kcrush.com/feed/'\n",
            "sources[0].kind",
        ),
        (
            "[[sources]]\nname = 'a'\nkind = 'feed'\nurl = 'https://www.kcrush.com/feed/'\n"
            "interval = 'often'\n",
            "sources[0].interval",
        ),
        (
            "[[sources]]\nname = 'a'\nkind = 'feed'\nurl = 'https://www.kcrush.com/feed/'\n"
            "interval = 5\n",
            "sources[0].interval",
        ),
        ("[[sources]]\nkind = 'feed'\nurl = 'https://www.kcrush.com/feed/'\n", "sources[0].name"),
        (
            "[[sources]]\nname = 'a'\nkind = 'feed'\nurl = 'x'\n[[sources]]\nname = 'a'\n"
            "kind = 'feed'\nurl = 'y'\n",
            "sources[1].name",
        ),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, text)
    assert str(caught.value).startswith(f"{key}:"), caught.value


def test_broken_toml_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[bot\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        settings_mod.load(str(path))
    with pytest.raises(ConfigError, match="not found"):
        settings_mod.load(str(tmp_path / "missing.toml"))
