"""``[http] listen``: host:port, "" for off; anything else is refused naming the key."""

from __future__ import annotations

import pytest

from kcrush_bot import settings as settings_mod
from kcrush_bot.core.errors import ConfigError
from kcrush_bot.settings import parse_listen


def test_the_default_listens_on_loopback_port_8787() -> None:
    settings = settings_mod.from_dict({}, environ={})
    assert parse_listen(settings.http.listen) == ("127.0.0.1", 8787)


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("", None),
        ("0.0.0.0:8787", ("0.0.0.0", 8787)),
        ("[::1]:9000", ("::1", 9000)),
        ("localhost:0", ("localhost", 0)),
    ],
)
def test_accepted_forms(text: str, address: tuple[str, int] | None) -> None:
    settings = settings_mod.from_dict({"http": {"listen": text}}, environ={})
    assert parse_listen(settings.http.listen) == address


@pytest.mark.parametrize("text", ["8787", "127.0.0.1", "127.0.0.1:http", ":8787", "h:70000"])
def test_refused_forms_name_the_key(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^http\.listen: "):
        settings_mod.from_dict({"http": {"listen": text}}, environ={})
