"""``[push]``: the secret only from the environment and never shown, ``public_url`` checked,
the WebSub lease a duration."""

from __future__ import annotations

import pytest

from kcrush_bot import settings as settings_mod
from kcrush_bot.core.errors import ConfigError


def test_the_secret_comes_from_the_environment_only_and_is_masked() -> None:
    loaded = settings_mod.from_dict({}, environ={"KCRUSH_PUSH_SECRET": " s3cret-value-here \n"})
    assert loaded.push.secret == "s3cret-value-here"
    assert "s3cret" not in repr(loaded)
    assert settings_mod.from_dict({}, environ={}).push.secret == ""
    with pytest.raises(ConfigError, match=r"^push\.secret: .*KCRUSH_PUSH_SECRET"):
        settings_mod.from_dict({"push": {"secret": "in the file"}}, environ={})


def test_public_url_and_lease() -> None:
    loaded = settings_mod.from_dict(
        {"push": {"public_url": "https://bot.example.com/", "websub_lease": "2d"}}, environ={}
    )
    assert loaded.push.public_url == "https://bot.example.com"
    assert loaded.push.websub_lease == 2 * 86400
    assert settings_mod.from_dict({}, environ={}).push.public_url == ""
    with pytest.raises(ConfigError, match=r"^push\.public_url: "):
        settings_mod.from_dict({"push": {"public_url": "bot.example.com"}}, environ={})
    with pytest.raises(ConfigError, match=r"^push\.websub_lease: "):
        settings_mod.from_dict({"push": {"websub_lease": "often"}}, environ={})
