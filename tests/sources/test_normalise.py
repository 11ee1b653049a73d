"""One canonical URL per post; staging and foreign links skipped; slugs and taxonomy terms."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kcrush_bot.settings import load_categories, packaged_file
from kcrush_bot.sources.normalise import (
    CategoryMap,
    canonical_guid,
    canonical_url,
    wordpress_slug,
)

CANONICAL = "https://www.kcrush.com/kcrush-interview-with-knk/"


@pytest.mark.parametrize(
    ("given_url", "expected"),
    [
        (CANONICAL, CANONICAL),
        ("http://www.kcrush.com/kcrush-interview-with-knk/", CANONICAL),
        ("https://kcrush.com/kcrush-interview-with-knk", CANONICAL),
        ("HTTPS://WWW.KCRUSH.COM/kcrush-interview-with-knk/", CANONICAL),
        ("https://www.kcrush.com:443/kcrush-interview-with-knk/", CANONICAL),
        ("https://www.kcrush.com./kcrush-interview-with-knk/", CANONICAL),
        ("https://www.kcrush.com/kcrush-interview-with-knk/amp/", CANONICAL),
        ("https://www.kcrush.com/kcrush-interview-with-knk/?amp", CANONICAL),
        ("https://www.kcrush.com/kcrush-interview-with-knk/?amp=1", CANONICAL),
        ("https://www.kcrush.com/kcrush-interview-with-knk/#comments", CANONICAL),
        (
            "https://www.kcrush.com/kcrush-interview-with-knk/?utm_source=rss&utm_medium=rss"
            "&utm_campaign=x&fbclid=IwAR0&gclid=abc&mc_cid=1&ref=twitter",
            CANONICAL,
        ),
        ("  https://www.kcrush.com/kcrush-interview-\nwith-knk/  ", CANONICAL),
        ("https://www.kcrush.com//kcrush-interview-with-knk//", CANONICAL),
        ("https://www.kcrush.com/a/../kcrush-interview-with-knk/./", CANONICAL),
        ("https://www.kcrush.com/?p=1001&utm_source=x", "https://www.kcrush.com/?p=1001"),
        ("https://www.kcrush.com/?s=knk&p=2", "https://www.kcrush.com/?p=2&s=knk"),
        ("https://www.kcrush.com", "https://www.kcrush.com/"),
        ("https://www.kcrush.com/크나큰/", "https://www.kcrush.com/%ED%81%AC%EB%82%98%ED%81%B0/"),
        (
            "https://www.kcrush.com/%ed%81%ac%eb%82%98%ed%81%b0",
            "https://www.kcrush.com/%ED%81%AC%EB%82%98%ED%81%B0/",
        ),
        (
            "https://www.kcrush.com/staging-a-comeback/",
            "https://www.kcrush.com/staging-a-comeback/",
        ),
        # skipped
        ("https://www.kcrush.com/staging2025v2/kcrush-interview-with-knk/", None),
        ("https://kcrush.com/Staging2025v2/", None),
        ("https://www.kcrush.com/staging/x/", None),
        ("https://example.com/kcrush-interview-with-knk/", None),
        ("https://www.kcrush.com.evil.example/x/", None),
        ("https://evilkcrush.com/x/", None),
        ("https://www.kcrush.com:8443/x/", None),
        ("ftp://www.kcrush.com/x/", None),
        ("javascript:alert(1)", None),
        ("mailto:editor@kcrush.com", None),
        ("", None),
        ("   ", None),
        ("http://[::1", None),
    ],
)
def test_canonical_url(given_url: str, expected: str | None) -> None:
    assert canonical_url(given_url) == expected


def test_relative_links_resolve_against_the_document() -> None:
    base = "https://www.kcrush.com/category/interviews/page/2/"
    assert canonical_url("/kcrush-interview-with-knk/", base=base) == CANONICAL
    assert canonical_url("//kcrush.com/kcrush-interview-with-knk", base=base) == CANONICAL
    assert canonical_url("../../../../kcrush-interview-with-knk/", base=base) == CANONICAL
    assert canonical_url("/x/", base="https://other.example/") is None


def test_the_site_host_comes_from_settings() -> None:
    assert canonical_url("http://kcrush.test/x", "www.kcrush.test") == "https://www.kcrush.test/x/"
    assert canonical_url("https://www.kcrush.com/x/", "www.kcrush.test") is None


def test_a_site_on_a_port_of_its_own_names_it_in_the_site_host() -> None:
    site = "127.0.0.1:8088"
    assert (
        canonical_url("http://127.0.0.1:8088/2026/11/x", site)
        == "https://127.0.0.1:8088/2026/11/x/"
    )
    assert canonical_url("http://127.0.0.1:9999/x/", site) is None  # another port: another site
    assert canonical_url("http://127.0.0.1/x/", site) is None
    assert canonical_url("https://www.kcrush.com:8443/x/") is None  # no port named: 80/443 only


def test_guids_of_the_site_are_normalised_others_kept() -> None:
    assert canonical_guid("http://www.kcrush.com/?p=1001") == "https://www.kcrush.com/?p=1001"
    assert canonical_guid("tag:kcrush.com,2023:1001") == "tag:kcrush.com,2023:1001"
    assert canonical_guid("  ") is None


SHAPE = re.compile(r"^https://www\.kcrush\.com/(?:[^/?#\s]+/)*(?:\?[^#\s]*)?$")
hosts = st.sampled_from(
    ["www.kcrush.com", "kcrush.com", "WWW.KCRUSH.COM", "example.com", "kcrush.com.evil", ""]
)
segments = st.lists(
    st.one_of(
        st.sampled_from(["amp", "staging2025v2", "..", ".", "", "page", "크나큰", "%2F", "a b"]),
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8),
    ),
    max_size=5,
)
queries = st.lists(
    st.tuples(
        st.sampled_from(["utm_source", "fbclid", "p", "amp", "s", "gclid", "x"]),
        st.text(max_size=5),
    ),
    max_size=4,
)


@given(
    scheme=st.sampled_from(["http", "https", "HTTPS", "ftp", "javascript"]),
    host=hosts,
    path=segments,
    query=queries,
    fragment=st.text(max_size=5),
)
def test_canonical_urls_are_idempotent_and_always_the_one_shape(
    scheme: str, host: str, path: list[str], query: list[tuple[str, str]], fragment: str
) -> None:
    url = f"{scheme}://{host}/" + "/".join(path)
    if query:
        url += "?" + urlencode(query)
    if fragment:
        url += "#" + fragment
    result = canonical_url(url)
    if result is not None:
        assert SHAPE.match(result), result
        assert canonical_url(result) == result
        kept = [k for k, _ in parse_qsl(urlsplit(result).query, keep_blank_values=True)]
        assert not any(k.startswith("utm_") or k in ("fbclid", "gclid", "amp") for k in kept)
        assert "/staging2025v2/" not in result.lower()


@given(st.text(max_size=200))
def test_any_text_normalises_to_none_or_the_one_shape(text: str) -> None:
    result = canonical_url(text)
    if result is not None:
        assert SHAPE.match(result), result
        assert canonical_url(result) == result


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("KCRUSH Interview with “Paris is our Seoul”", "kcrush-interview-with-paris-is-our-seoul"),
        ("KCrush Interview With Rising Star – MAIL", "kcrush-interview-with-rising-star-mail"),
        (
            "What’s Happening at the 2023 Busan Festival",
            "whats-happening-at-the-2023-busan-festival",
        ),
        ("Interview with Teen Top in U.S. Dallas", "interview-with-teen-top-in-u-s-dallas"),
        ("[2023 F/W Seoul Fashion Week] ‘K-Fashion’", "2023-fw-seoul-fashion-week-k-fashion"),
        ("the Baccalauréat & more", "the-baccalaureat-more"),
        ("KNK (크나큰)", "knk-크나큰"),
    ],
)
def test_wordpress_slugs(title: str, slug: str) -> None:
    assert wordpress_slug(title) == slug


def test_site_terms_are_categories_only_by_slug_or_name_and_the_rest_are_tags() -> None:
    cmap = CategoryMap(load_categories(packaged_file("categories.toml")))
    cats, tags = cmap.split(
        [
            "Interviews",
            "K-POP",
            "K-Pop Interviews",
            "featured-interview",
            "K-Pop Articles",  # a site_name of kpop
            "BTS",
            "bts",
            "Video",  # a fan's alias of video-interviews, and a tag on the site
            "interview",  # a fan's alias of interviews, and a tag on the site
            "kpop interviews",
        ]
    )
    assert cats == ["interviews", "kpop", "k-pop-interviews", "featured-interview"]
    assert tags == ["BTS", "Video", "interview", "kpop interviews"]
    # What a person writes (a source's categories) may use the aliases.
    assert cmap.slug_for("Video") == "video-interviews"
    assert cmap.slug_for("interview") == "interviews"
    assert cmap.site_category("Video") is None
    assert cmap.slugs_from_url("https://www.kcrush.com/category/interviews/feed/") == ["interviews"]
    assert cmap.slugs_from_url(
        "https://www.kcrush.com/category/interviews/k-pop-interviews/page/2/"
    ) == ["k-pop-interviews"]
    assert cmap.slugs_from_url("https://www.kcrush.com/feed/") == []
