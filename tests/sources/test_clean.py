"""Cleaning: HTML to text, entities, mojibake, boilerplate, control characters, teasers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kcrush_bot.sources.clean import clean_text, clean_title, make_teaser


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Don&#8217;t Stop", "Don’t Stop"),
        ("Donâ€™t Stop", "Don’t Stop"),
        ("KNK (Hangul: í\x81¬ë\x82\x98í\x81°)", "KNK (Hangul: 크나큰)"),
        ("Fit &amp; Hill", "Fit & Hill"),
        ("Twice &amp;#8217;encoded", "Twice ’encoded"),
        ("<em>Bold</em> move", "Bold move"),
        ("Line\nbreak\tand  spaces", "Line break and spaces"),
        ("NUL\x00 and \x1b[31mescape\x07", "NUL and [31mescape"),
        ("\u202eevil\u202c override", "evil override"),
        ("[BREAKING] A & B #1 = win", "[BREAKING] A & B #1 = win"),
        ("Baccalauréat 크나큰 🎤", "Baccalauréat 크나큰 🎤"),
        ("I <3 K-pop", "I <3 K-pop"),
    ],
)
def test_titles_are_one_clean_line(raw: str, expected: str) -> None:
    assert clean_title(raw) == expected


def test_html_becomes_text_without_boilerplate() -> None:
    html = (
        "<p><img src='x.jpg' alt='Yo garam 1'></p><script>alert(1)</script><style>p{}</style>"
        "<p>We&#8217;re <strong>bringing</strong> you<br/>an interview&#8230; "
        "<a class='more-link' href='/x/'>Read More</a></p>"
        "<figure><img src='y.jpg'><figcaption>Photo: KCrush</figcaption></figure>"
        "<p>Read More</p><p>Continue reading <span class='screen-reader-text'>Title</span></p>"
        "<p>The post <a href='/x/'>Title</a> appeared first on "
        "<a href='/'>KCrush America Magazine</a>.</p>"
    )
    assert clean_text(html) == "We’re bringing you an interview…"


def test_seed_style_read_more_suffix_is_dropped() -> None:
    teaser = "The members officially... Read More"
    assert make_teaser(teaser, 300) == "The members officially…"


def test_wordpress_excerpt_more_becomes_an_ellipsis() -> None:
    assert make_teaser("<p>may provide us [&hellip;]</p>", 300) == "may provide us…"


@given(
    st.text(alphabet=st.sampled_from("ab 크나큰 Don’t\n&<>."), max_size=600), st.integers(20, 400)
)
def test_teasers_fit_and_end_at_a_word_boundary(text: str, limit: int) -> None:
    teaser = make_teaser(text, limit)
    assert len(teaser) <= limit
    assert "\n" not in teaser and "  " not in teaser


def test_a_long_teaser_is_cut_at_a_word_boundary_with_an_ellipsis() -> None:
    words = "Dreamcatcher is a Korean girl group signed under Happy Face Entertainment " * 10
    teaser = make_teaser(words, 100)
    assert len(teaser) <= 100 and teaser.endswith("…")
    assert words.startswith(teaser[:-1])
    assert words[len(teaser) - 1] == " "  # the cut fell between words
