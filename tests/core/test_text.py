"""Cutting text to a limit and checking URLs: the one rule every caller uses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kcrush_bot.core.errors import ConfigError
from kcrush_bot.core.render.discord import defuse_mentions, escape_markdown
from kcrush_bot.core.text import ELLIPSIS, check_url, is_url, shorten, utf16_len
from kcrush_bot.platforms.discord import apply_endpoints
from kcrush_bot.settings import DiscordSettings


def test_text_that_fits_is_unchanged() -> None:
    assert shorten("Fan meeting on Friday", 21) == "Fan meeting on Friday"


def test_a_cut_falls_at_a_word_boundary_with_an_ellipsis() -> None:
    assert shorten("Fan meeting on Friday", 16) == "Fan meeting on" + ELLIPSIS
    # Trailing punctuation goes with the cut: "meeting," would read as a broken sentence.
    assert shorten("Fan meeting, on Friday", 14) == "Fan meeting" + ELLIPSIS


def test_one_long_word_is_cut_between_characters() -> None:
    assert shorten("Supercalifragilistic", 8) == "Superca" + ELLIPSIS


def test_the_measure_decides_what_fits() -> None:
    # Four emoji are eight UTF-16 units: by code points they fit in 4, by UTF-16 they do not.
    assert shorten("😀😀😀😀", 4) == "😀😀😀😀"
    cut = shorten("😀😀😀😀", 4, measure=utf16_len)
    assert utf16_len(cut) <= 4 and cut.endswith(ELLIPSIS)


def test_the_escaped_form_is_what_must_fit() -> None:
    def escape(text: str) -> str:
        return escape_markdown(text)

    text = "**bold** _and_ `code` everywhere"
    cut = shorten(text, 20, measure=utf16_len, escape=escape)
    assert utf16_len(cut) <= 20
    assert cut.endswith(ELLIPSIS) and "\\" in cut  # escaped after the cut, not before


@given(st.text(max_size=300), st.integers(min_value=0, max_value=120))
def test_a_cut_never_exceeds_its_limit(text: str, limit: int) -> None:
    for escape in (None, escape_markdown, defuse_mentions):
        cut = shorten(text, limit, measure=utf16_len, escape=escape)
        assert utf16_len(cut) <= limit


@pytest.mark.parametrize(
    ("text", "schemes", "expected"),
    [
        ("https://www.kcrush.com/feed/", ("http", "https"), True),
        ("HTTPS://www.kcrush.com/", ("http", "https"), True),
        ("wss://gateway.example/", ("ws", "wss"), True),
        ("ftp://www.kcrush.com/", ("http", "https"), False),
        ("https:///nohost", ("http", "https"), False),
        ("www.kcrush.com/feed/", ("http", "https"), False),
        ("http://[::1", ("http", "https"), False),  # urlsplit raises on this
    ],
)
def test_is_url(text: str, schemes: tuple[str, ...], expected: bool) -> None:
    assert is_url(text, schemes) is expected


def test_settings_and_the_discord_adapter_refuse_the_same_url_alike() -> None:
    from kcrush_bot import settings as settings_mod

    message = r"^discord\.api_base: 'ftp://discord\.example' is not a http/https URL$"
    with pytest.raises(ConfigError, match=message):
        settings_mod.from_dict({"discord": {"api_base": "ftp://discord.example"}}, environ={})
    with pytest.raises(ConfigError, match=message):
        apply_endpoints(DiscordSettings(api_base="ftp://discord.example"))
    with pytest.raises(ConfigError, match=r"^discord\.gateway_url: "):
        apply_endpoints(DiscordSettings(gateway_url="https://gateway.example"))
    assert check_url("k", "https://x.example/", ("https",)) == "https://x.example/"
