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
    assert {s.name for s in loaded.sources} == {"kcrush", "kcrush-interviews", "kcrush-all"}
    # The REST API is read; the feeds are the documented fallback, off.
    assert [(s.name, s.kind) for s in loaded.sources if s.enabled] == [("kcrush", "wordpress")]
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


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [
        ('[telegram]\ntoken = "123:abc"\n', "telegram.token", "KCRUSH_TELEGRAM_TOKEN"),
        ('[discord]\ntoken = "abc"\n', "discord.token", "KCRUSH_DISCORD_TOKEN"),
        (
            '[bot]\ntoken = "abc"\n',
            "bot.token",
            "KCRUSH_TELEGRAM_TOKEN or KCRUSH_DISCORD_TOKEN",
        ),
        ('token = "abc"\n', "token", "KCRUSH_TELEGRAM_TOKEN or KCRUSH_DISCORD_TOKEN"),
    ],
)
def test_a_token_in_the_file_points_to_the_environment(
    tmp_path: Path, text: str, key: str, says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, text)
    message = str(caught.value)
    assert message.startswith(f"{key}: ") and f"set {says} instead" in message, message
    assert "abc" not in message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[delivery]\ntelegram_per_second = '1h'\n",
            "delivery.telegram_per_second: '1h' is not a rate (messages per second), e.g. 30",
        ),
        (
            "[delivery]\ndiscord_per_second = '10m'\n",
            "delivery.discord_per_second: '10m' is not a rate (messages per second), e.g. 50",
        ),
        (
            "[delivery]\ntelegram_group_per_minute = '3s'\n",
            "delivery.telegram_group_per_minute: '3s' is not a rate (messages per minute), e.g. 20",
        ),
        (
            "[delivery]\ntelegram_per_second = 0\n",
            "delivery.telegram_per_second: must be more than zero (messages per second)",
        ),
        (
            "[delivery]\nbackoff_max = '30/s'\n",
            "delivery.backoff_max: '30/s' is not a duration: write seconds or e.g. '10m', '2h'",
        ),
        (
            "[delivery]\nmax_attempts = '3m'\n",
            "delivery.max_attempts: '3m' is not a count (a whole number), e.g. 12",
        ),
        (
            "[digest]\nmax_items = 2.5\n",
            "digest.max_items: 2.5 is not a count (a whole number), e.g. 50",
        ),
        ("[digest]\nmax_items = 0\n", "digest.max_items: must be at least 1, got 0"),
        (
            "[ingest]\nteaser_chars = true\n",
            "ingest.teaser_chars: True is not a count (a whole number), e.g. 300",
        ),
    ],
)
def test_rates_durations_and_counts_are_told_apart(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, text)
    assert str(caught.value) == message
    if "rate" in message:
        assert "duration" not in message


def test_amounts_load_as_their_own_types(tmp_path: Path) -> None:
    loaded = load_text(
        tmp_path,
        "[delivery]\ntelegram_per_second = 25\ndiscord_per_second = '12.5'\n"
        "telegram_group_per_minute = 19.5\ntelegram_per_chat_seconds = '1500ms'\n"
        "keep_finished = '2d'\nmax_attempts = 3\n",
    )
    delivery = loaded.delivery
    assert isinstance(delivery.telegram_per_second, settings_mod.Rate)
    assert delivery.telegram_per_second == 25.0 and delivery.discord_per_second == 12.5
    assert isinstance(delivery.telegram_group_per_minute, settings_mod.RatePerMinute)
    assert delivery.telegram_group_per_minute == 19.5
    assert isinstance(delivery.telegram_per_chat_seconds, settings_mod.Duration)
    assert delivery.telegram_per_chat_seconds == 1.5
    assert delivery.keep_finished == 2 * 86400.0
    assert isinstance(delivery.max_attempts, settings_mod.Count) and delivery.max_attempts == 3
    # The defaults are typed the same way as values read from the file.
    assert isinstance(settings_mod.DeliverySettings().backoff_max, settings_mod.Duration)


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
        ("[delivery]\nbatch = 5\n", "delivery.batch"),
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
        # A local path is read by kind = "file" only: a feed source would fail every poll.
        ("[[sources]]\nname = 'a'\nkind = 'feed'\nurl = '/tmp/korean.xml'\n", "sources[0].url"),
        ("[[sources]]\nname = 'a'\nkind = 'listing'\nurl = 'page.html'\n", "sources[0].url"),
        (
            "[[sources]]\nname = 'a'\nkind = 'file'\nurl = 'x'\n[[sources]]\nname = 'a'\n"
            "kind = 'file'\nurl = 'y'\n",
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


def test_every_amount_says_what_it_measures() -> None:
    """A bare float or int would be read without a unit: each is a Duration, Rate or Count
    (the port is the one plain whole number)."""
    import dataclasses
    import typing

    for cls in vars(settings_mod).values():
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            continue
        for name, hint in typing.get_type_hints(cls).items():
            if (cls.__name__, name) == ("TelegramSettings", "webhook_port"):
                continue
            assert hint not in (float, int), f"{cls.__name__}.{name} is a bare {hint.__name__}"
