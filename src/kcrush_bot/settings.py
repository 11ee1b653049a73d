"""Settings: the TOML file and the environment, validated into one frozen object.

Where the file comes from: ``--config``, else ``KCRUSH_CONFIG``, else ``config/kcrush-bot.toml``
in the working directory, else the copy inside the package. The database: ``--db``, else
``KCRUSH_DB``, else ``[bot] database``. Tokens come only from the environment
(``KCRUSH_TELEGRAM_TOKEN``, ``KCRUSH_DISCORD_TOKEN``), as does the push secret
(``KCRUSH_PUSH_SECRET``), and they are never printed: their ``repr`` is masked.

A bad file gets one ``ConfigError`` naming the key (``sources[2].interval: …``), never a
traceback. Unknown keys are errors too, since a typo would otherwise silently do nothing.

Amounts have their own types, so that one is refused where another is meant: a ``Duration``
(seconds, or "10m", "2h"), a ``Rate`` (messages per second, or per minute where the key says so:
a plain number, since "1h" as a rate would mean 3,600 a second) and a ``Count`` (a whole number
of at least one). Each is a ``float`` or ``int`` to the code that reads it. The checks are a
few lines over the dataclasses' own type hints rather than a settings library: see README.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

from kcrush_bot.core.errors import ConfigError
from kcrush_bot.core.models import Category
from kcrush_bot.core.text import check_url
from kcrush_bot.core.times import parse_clock_time, parse_timezone
from kcrush_bot.storage.urls import is_postgres_url, shown

SOURCE_KINDS = ("wordpress", "feed", "listing", "file")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_NUMBER = re.compile(r"^\s*\d+(?:\.\d+)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


class Secret(str):
    """A token: a str for the SDKs, masked wherever it might be printed or logged."""

    def __repr__(self) -> str:
        return "Secret('***')" if self else "Secret('')"


def _amount(value: Any) -> float | None:
    """A number written as a number or as a string of digits; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMBER.match(value):
        return float(value)
    return None


ON_UNPUBLISH = ("delete", "tombstone", "keep")


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string like "90", "10m", "1.5h"."""
    return Duration.parse(value)


class Duration(float):
    """A length of time in seconds, written as seconds or as "90s", "10m", "1.5h", "30d"."""

    @classmethod
    def parse(cls, value: Any, example: object = None) -> Duration:
        if isinstance(value, bool):
            raise ValueError("expected seconds or a duration like '10m'")
        seconds = _amount(value)
        if seconds is None:
            match = _DURATION.match(str(value))
            if not match:
                raise ValueError(f"{value!r} is not a duration: write seconds or e.g. '10m', '2h'")
            seconds = float(match.group(1)) * _UNITS[match.group(2)]
        if seconds <= 0:
            raise ValueError("must be more than zero")
        return cls(seconds)


class Rate(float):
    """How many messages a platform takes per second: a plain number, never a duration."""

    per: ClassVar[str] = "second"

    @classmethod
    def parse(cls, value: Any, example: object = None) -> Rate:
        unit = f"messages per {cls.per}"
        amount = _amount(value)
        if amount is None:
            hint = f", e.g. {example:g}" if isinstance(example, int | float) else ""
            raise ValueError(f"{value!r} is not a rate ({unit}){hint}")
        if amount <= 0:
            raise ValueError(f"must be more than zero ({unit})")
        return cls(amount)


class RatePerMinute(Rate):
    """A rate counted per minute, for limits the platform states per minute."""

    per = "minute"


class Count(int):
    """A whole number of things (attempts, items, pages, characters, bytes): at least one."""

    @classmethod
    def parse(cls, value: Any, example: object = None) -> Count:
        if isinstance(value, bool) or not isinstance(value, int):
            hint = f", e.g. {example}" if isinstance(example, int) else ""
            raise ValueError(f"{value!r} is not a count (a whole number){hint}")
        if value < 1:
            raise ValueError(f"must be at least 1, got {value}")
        return cls(value)


_AMOUNTS: tuple[type[Duration] | type[Rate] | type[Count], ...] = (Duration, Rate, Count)
# Keys that only the environment may set: the file naming one gets told where it goes.
_TOKEN_HINT = {
    "telegram": "KCRUSH_TELEGRAM_TOKEN",
    "discord": "KCRUSH_DISCORD_TOKEN",
    "push": "KCRUSH_PUSH_SECRET",
}


@dataclass(frozen=True)
class SourceSettings:
    name: str
    kind: str
    url: str
    interval: Duration = Duration(600)
    enabled: bool = True
    categories: tuple[str, ...] = ()  # applied to every item (e.g. a category feed)
    max_pages: Count = Count(50)  # how far --backfill pages

    @property
    def is_local(self) -> bool:
        return not urlparse(self.url).scheme.startswith("http")


@dataclass(frozen=True)
class BotSettings:
    database: str = "~/.local/share/kcrush-bot/kcrush-bot.db"
    site_host: str = "www.kcrush.com"
    default_category: str = "interviews"
    timezone: str = "Asia/Seoul"
    digest_time: str = "09:00"
    sample_archive: bool = True
    categories_file: str = "categories.toml"


@dataclass(frozen=True)
class IngestSettings:
    timeout: Duration = Duration(20)
    max_bytes: Count = Count(10_000_000)
    min_remote_interval: Duration = Duration(300)
    max_backoff: Duration = Duration(6 * 3600)
    teaser_chars: Count = Count(300)
    user_agent: str = "kcrush-bot/0.1 (+https://www.kcrush.com/)"
    # How often the archive's recent posts are checked against WordPress (withdrawals no poll
    # reports), and how far back.
    reconcile_interval: Duration = Duration(3600)
    reconcile_window: Duration = Duration(30 * 86400)


@dataclass(frozen=True)
class TelegramSettings:
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    mode: str = "polling"
    webhook_url: str = ""
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    moderators: tuple[str, ...] = ()
    admin_cache_seconds: Duration = Duration(300)
    token: Secret = field(default_factory=Secret)


@dataclass(frozen=True)
class DiscordSettings:
    api_base: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    moderators: tuple[str, ...] = ()
    moderator_roles: tuple[str, ...] = ()
    webhooks: dict[str, str] = field(default_factory=dict)  # channel id -> webhook URL
    # Gateway shards (discord.py shard_count): the replicas on one PostgreSQL share them out.
    shards: Count = Count(1)
    token: Secret = field(default_factory=Secret)


@dataclass(frozen=True)
class DeliverySettings:
    telegram_per_second: Rate = Rate(30)
    telegram_per_chat_seconds: Duration = Duration(1)
    telegram_group_per_minute: RatePerMinute = RatePerMinute(20)
    discord_per_second: Rate = Rate(50)
    discord_per_channel_seconds: Duration = Duration(1)
    max_attempts: Count = Count(12)
    backoff_base: Duration = Duration(2)
    backoff_max: Duration = Duration(300)
    keep_finished: Duration = Duration(30 * 86400)
    # A post's messages follow it: edits within edit_debounce become one edit; message ids are
    # kept edit_window for that; a withdrawn post's messages are deleted, tombstoned or kept.
    edit_window: Duration = Duration(30 * 86400)
    edit_debounce: Duration = Duration(60)
    on_unpublish: str = "delete"


@dataclass(frozen=True)
class DigestSettings:
    send_empty: bool = False
    max_items: Count = Count(50)


@dataclass(frozen=True)
class HttpSettings:
    listen: str = "127.0.0.1:8787"  # "" turns the HTTP server off


@dataclass(frozen=True)
class PushSettings:
    # Where hubs reach this bot from outside (``https://bot.example.com``); "" turns WebSub off.
    public_url: str = ""
    # The lease asked of a WebSub hub; it is renewed before it runs out.
    websub_lease: Duration = Duration(7 * 86400)
    secret: Secret = field(default_factory=Secret)  # KCRUSH_PUSH_SECRET; never from the file


def parse_listen(value: str) -> tuple[str, int] | None:
    """``host:port`` (``[::1]:8787`` for IPv6) → (host, port); "" → None (no server)."""
    if not value.strip():
        return None
    host, sep, port = value.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f'{value!r} is not host:port (e.g. 127.0.0.1:8787), or "" for off')
    return host, int(port)


@dataclass(frozen=True)
class Settings:
    bot: BotSettings = field(default_factory=BotSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    sources: tuple[SourceSettings, ...] = ()
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    push: PushSettings = field(default_factory=PushSettings)
    categories: tuple[Category, ...] = ()
    config_path: str | None = None

    @property
    def database_path(self) -> str:
        """A SQLite path, or a ``postgresql://`` URL (which may hold a password: show
        ``database_shown`` instead)."""
        if is_postgres_url(self.bot.database):
            return self.bot.database
        return os.path.expanduser(self.bot.database)

    @property
    def database_shown(self) -> str:
        """The database as logs and output may name it: a URL's password replaced."""
        return shown(self.database_path)


# -- loading -------------------------------------------------------------------------------------


def _coerce(key: str, value: Any, hint: Any, default: object = None) -> Any:
    """Check one value against a dataclass field's type; the error names the key."""
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and issubclass(hint, _AMOUNTS):
        try:
            return hint.parse(value, default)
        except ValueError as exc:
            raise ConfigError(f"{key}: {exc}") from None
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected a whole number, got {value!r}")
    if hint is str or hint is Secret:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        # Ids may be written as numbers or strings; keep them as strings.
        if any(isinstance(v, bool) or not isinstance(v, str | int) for v in value):
            raise ConfigError(f"{key}: expected a list of strings or numbers")
        return tuple(str(v) for v in value)
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{key}: expected a table of strings")
        return {str(k): v for k, v in value.items()}
    if origin in (types.UnionType, typing.Union):
        return value
    raise ConfigError(f"{key}: unsupported value {value!r}")


def _section(cls: type[Any], data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix}: expected a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in ("token", "secret")}
    for key in data:
        if key == "token" or (key == "secret" and prefix in _TOKEN_HINT):
            raise ConfigError(f"{prefix}.{key}: {_token_refusal(prefix)}")
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{prefix}.{key}: unknown setting (known: {known})")
    values = {
        key: _coerce(f"{prefix}.{key}", value, hints[key], fields[key].default)
        for key, value in data.items()
    }
    try:
        return cls(**values)
    except TypeError as exc:  # a required key is missing
        missing = re.findall(r"'(\w+)'", str(exc))
        raise ConfigError(f"{prefix}.{missing[0] if missing else '?'}: required") from None


def _token_refusal(section: str) -> str:
    tokens = [_TOKEN_HINT["telegram"], _TOKEN_HINT["discord"]]
    names = [_TOKEN_HINT[section]] if section in _TOKEN_HINT else tokens
    return (
        "unknown setting in the file: tokens and secrets are read only from the environment, "
        f"set {' or '.join(names)} instead"
    )


def _load_sources(raw: Any, base_dir: Path, ingest: IngestSettings) -> tuple[SourceSettings, ...]:
    if not isinstance(raw, list):
        raise ConfigError("sources: expected [[sources]] tables")
    sources: list[SourceSettings] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        key = f"sources[{index}]"
        src = _section(SourceSettings, item, key)
        if src.kind not in SOURCE_KINDS:
            raise ConfigError(f"{key}.kind: {src.kind!r} is not one of {', '.join(SOURCE_KINDS)}")
        if src.name in seen:
            raise ConfigError(f"{key}.name: {src.name!r} is used twice")
        seen.add(src.name)
        if src.is_local and src.kind != "file":
            # Refused here rather than failing every poll with an HTTP client's complaint.
            raise ConfigError(
                f"{key}.url: {src.url!r} is not an http/https URL; a {src.kind} source is read "
                'over HTTP, and a local file is read by kind = "file" (a feed, WordPress JSON, '
                "a listing page or JSON Lines)"
            )
        if src.is_local:
            path = Path(os.path.expanduser(src.url))
            src = dataclasses.replace(src, url=str(path if path.is_absolute() else base_dir / path))
        else:
            check_url(f"{key}.url", src.url, ("http", "https"))
            # A remote host is polled no more often than the operator allows; loopback is a
            # test or a local mirror and may be polled as often as asked.
            host = urlparse(src.url).hostname or ""
            if src.interval < ingest.min_remote_interval and host not in (
                "127.0.0.1",
                "localhost",
                "::1",
            ):
                raise ConfigError(
                    f"{key}.interval: {src.interval:g}s is more often than "
                    f"ingest.min_remote_interval ({ingest.min_remote_interval:g}s) allows"
                )
        sources.append(src)
    return tuple(sources)


def load_categories(path: Path) -> tuple[Category, ...]:
    """The taxonomy file: ``[[category]]`` tables with slug, name, parent, aliases, site_names."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the categories file ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    cats = []
    slugs = set()
    for index, item in enumerate(data.get("category", [])):
        key = f"{path.name}: category[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("slug"), str):
            raise ConfigError(f"{key}.slug: required")
        unknown = set(item) - {"slug", "name", "parent", "aliases", "site_names"}
        if unknown:
            raise ConfigError(f"{key}.{sorted(unknown)[0]}: unknown setting")
        aliases = item.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise ConfigError(f"{key}.aliases: expected a list of strings")
        site_names = item.get("site_names", [])
        if not isinstance(site_names, list) or not all(isinstance(a, str) for a in site_names):
            raise ConfigError(f"{key}.site_names: expected a list of strings")
        cats.append(
            Category(
                slug=item["slug"],
                name=str(item.get("name", item["slug"])),
                parent=item.get("parent") or None,
                aliases=tuple(aliases),
                site_names=tuple(site_names),
            )
        )
        slugs.add(item["slug"])
    for cat in cats:
        if cat.parent and cat.parent not in slugs:
            raise ConfigError(f"{path.name}: {cat.slug}.parent: {cat.parent!r} is not a category")
    return tuple(cats)


def packaged_file(name: str) -> Path:
    return Path(str(resources.files("kcrush_bot").joinpath("data", name)))


def find_config(explicit: str | None = None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("KCRUSH_CONFIG")
    if env:
        return Path(env)
    local = Path("config/kcrush-bot.toml")
    if local.is_file():
        return local
    return packaged_file("kcrush-bot.toml")


def load(config: str | None = None, *, db: str | None = None) -> Settings:
    """Read the configuration file and the environment into validated settings."""
    path = find_config(config)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return from_dict(data, base_dir=path.parent, db=db, config_path=str(path))


def from_dict(
    data: dict[str, Any],
    *,
    base_dir: Path | None = None,
    db: str | None = None,
    config_path: str | None = None,
    environ: typing.Mapping[str, str] | None = None,
) -> Settings:
    env = os.environ if environ is None else environ
    base_dir = base_dir or Path.cwd()
    sections = {
        "bot": BotSettings,
        "ingest": IngestSettings,
        "telegram": TelegramSettings,
        "discord": DiscordSettings,
        "delivery": DeliverySettings,
        "digest": DigestSettings,
        "http": HttpSettings,
        "push": PushSettings,
    }
    for key in data:
        if key == "token":
            raise ConfigError(f"token: {_token_refusal(key)}")
        if key not in sections and key != "sources":
            raise ConfigError(
                f"{key}: unknown section (known: {', '.join([*sections, 'sources'])})"
            )
    built = {name: _section(cls, data.get(name, {}), name) for name, cls in sections.items()}
    bot: BotSettings = built["bot"]
    # Strictly HH:MM here (what chats may write, "9h00", is not what a config file holds).
    if parse_clock_time(bot.digest_time) != bot.digest_time:
        raise ConfigError(f"bot.digest_time: {bot.digest_time!r} is not HH:MM")
    if parse_timezone(bot.timezone) is None:
        raise ConfigError(f"bot.timezone: {bot.timezone!r} is not a time zone")
    telegram: TelegramSettings = built["telegram"]
    discord: DiscordSettings = built["discord"]
    check_url("telegram.base_url", telegram.base_url, ("http", "https"))
    check_url("discord.api_base", discord.api_base, ("http", "https"))
    check_url("discord.gateway_url", discord.gateway_url, ("ws", "wss"))
    if telegram.mode not in ("polling", "webhook"):
        raise ConfigError(f"telegram.mode: {telegram.mode!r} is not polling or webhook")
    if telegram.mode == "webhook":
        check_url("telegram.webhook_url", telegram.webhook_url, ("https", "http"))
    for channel, url in discord.webhooks.items():
        check_url(f"discord.webhooks.{channel}", url, ("http", "https"))
    try:
        parse_listen(built["http"].listen)
    except ValueError as exc:
        raise ConfigError(f"http.listen: {exc}") from None
    delivery: DeliverySettings = built["delivery"]
    if delivery.on_unpublish not in ON_UNPUBLISH:
        raise ConfigError(
            f"delivery.on_unpublish: {delivery.on_unpublish!r} is not one of "
            f"{', '.join(ON_UNPUBLISH)}"
        )
    push: PushSettings = built["push"]
    if push.public_url:
        check_url("push.public_url", push.public_url, ("https", "http"))
    ingest: IngestSettings = built["ingest"]
    if ingest.max_bytes < 1024:
        raise ConfigError("ingest.max_bytes: must be at least 1024")

    database = db or env.get("KCRUSH_DB") or bot.database
    # A postgresql:// URL names a server's database, not a file: it is kept as given.
    if (
        database != ":memory:"
        and not is_postgres_url(database)
        and not Path(os.path.expanduser(database)).is_absolute()
    ):
        database = (
            str(Path.cwd() / database) if db or env.get("KCRUSH_DB") else str(base_dir / database)
        )
    bot = dataclasses.replace(bot, database=database)

    categories_path = Path(os.path.expanduser(bot.categories_file))
    if not categories_path.is_absolute():
        categories_path = base_dir / categories_path
    if not categories_path.is_file():
        categories_path = packaged_file("categories.toml")

    return Settings(
        bot=bot,
        ingest=ingest,
        sources=_load_sources(data.get("sources", []), base_dir, ingest),
        telegram=dataclasses.replace(
            telegram, token=Secret(env.get("KCRUSH_TELEGRAM_TOKEN", "").strip())
        ),
        discord=dataclasses.replace(
            discord, token=Secret(env.get("KCRUSH_DISCORD_TOKEN", "").strip())
        ),
        delivery=built["delivery"],
        digest=built["digest"],
        http=built["http"],
        push=dataclasses.replace(
            push,
            public_url=push.public_url.rstrip("/"),
            secret=Secret(env.get("KCRUSH_PUSH_SECRET", "").strip()),
        ),
        categories=load_categories(categories_path),
        config_path=config_path,
    )
