"""Normalising what sources say: canonical post URLs, guids, WordPress-style slugs, categories.

One post has one URL in the store. The magazine's links arrive as ``http://kcrush.com/x``,
``https://www.kcrush.com/x/amp/?utm_source=twitter#comments`` and so on; all of them become
``https://www.kcrush.com/x/``. Links that must never be published (the publicly indexed
``/staging2025v2/`` mirror, other hosts, ``javascript:``) normalise to ``None`` and the caller
skips the item.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit

from kcrush_bot.core.models import Category

DEFAULT_SITE_HOST = "www.kcrush.com"

# Query parameters that only say where a click came from; dropping them makes one post one URL.
_TRACKING_EXACT = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "ref",
        "ref_src",
        "ref_url",
        "s_cid",
        "cmpid",
        "amp",  # the AMP plugin's ?amp / ?amp=1 form
        "noamp",
        "replytocom",  # WordPress comment-reply links point at the same post
        "share",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "oly_", "vero_")
_DROP_SCHEMES = ("javascript:", "mailto:", "data:", "tel:", "about:", "vbscript:")
# The staging mirror's segment: /staging2025v2/, /staging/, /staging_old/. A hyphen is not
# allowed, so a real post slug such as /staging-a-comeback/ is not mistaken for the mirror.
_STAGING = re.compile(r"^staging[a-z0-9_]*$", re.IGNORECASE)
_SEGMENT_SAFE = "!$&'()*+,;=:@-._~"
_URL_WHITESPACE = re.compile(r"[\t\n\r\x00]")


def _bare_host(site_host: str) -> tuple[str, int | None]:
    """The site's host without ``www.``, and the port it names (``127.0.0.1:8080``), if any."""
    host, _, port = site_host.lower().partition(":")
    host = host.rstrip(".")
    return (host[4:] if host.startswith("www.") else host), (int(port) if port.isdigit() else None)


def canonical_url(
    url: str | None, site_host: str = DEFAULT_SITE_HOST, *, base: str | None = None
) -> str | None:
    """The one URL the store keeps for a magazine link, or ``None`` when it must be skipped.

    ``base`` resolves relative links (``/x/``, ``//kcrush.com/x``) first. The result is always
    ``https://<site_host>/…/`` with a trailing slash, no ``/amp``, no tracking parameters
    (remaining parameters sorted) and no fragment; idempotent. ``None`` for: empty input,
    non-http(s) schemes, other hosts, odd ports, and the ``/staging…/`` mirror.
    """
    if not url or not isinstance(url, str):
        return None
    # Browsers drop tabs and newlines inside URLs; do the same so a wrapped link still works.
    text = _URL_WHITESPACE.sub("", url.strip())
    if not text or text.lower().startswith(_DROP_SCHEMES):
        return None
    try:
        if base:
            text = urljoin(base, text)
        parts = urlsplit(text)
        host = (parts.hostname or "").rstrip(".")
        port = parts.port
    except ValueError:  # a malformed IPv6 literal or port: not a link we can use
        return None
    if parts.scheme.lower() not in ("http", "https"):
        return None
    bare, site_port = _bare_host(site_host)
    if host not in (bare, "www." + bare):
        return None
    # A site served on a port of its own (a test WordPress on loopback) names it in site_host.
    if port not in ((None, 80, 443) if site_port is None else (site_port,)):
        return None

    segments: list[str] = []
    for raw in parts.path.split("/"):
        segment = unquote(raw)
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(quote(segment, safe=_SEGMENT_SAFE))
    # Any segment, not only the first: /amp/staging2025v2/… is the mirror too.
    if any(_STAGING.match(unquote(segment)) for segment in segments):
        return None
    while segments and segments[-1].lower() == "amp":  # the AMP plugin's /post/amp/ copy
        segments.pop()
    path = "/" + "".join(s + "/" for s in segments)

    query = ""
    if parts.query:
        kept = [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k
            and k.lower() not in _TRACKING_EXACT
            and not k.lower().startswith(_TRACKING_PREFIXES)
        ]
        if kept:
            query = "?" + urlencode(sorted(kept), quote_via=quote)
    return f"https://{site_host.lower()}{path}{query}"


def canonical_guid(guid: str | None, site_host: str = DEFAULT_SITE_HOST) -> str | None:
    """A guid to dedupe on. WordPress guids are ``http://www.kcrush.com/?p=123``: the same
    post's guid arrives over http in the feed and https in the REST API, so site links are
    normalised like post URLs; anything else (``tag:…``, a foreign URL) is kept as it is."""
    if not guid:
        return None
    text = guid.strip()[:500]
    if not text:
        return None
    return canonical_url(text, site_host) or text


def wordpress_slug(title: str) -> str:
    """The slug WordPress would give a post with this title (``sanitize_title_with_dashes``):
    accents removed, lowercase, quotes and punctuation dropped, dashes and spaces to ``-``.
    Letters outside ASCII (Hangul) are kept; the URL layer percent-encodes them."""
    text = re.sub(r"<[^>]*>", "", title)
    text = text.replace("&", "").replace(".", "-").replace("\u00d7", "x")
    text = re.sub(r"[\u00a0\u2013\u2014/]", lambda m: "" if m.group() == "/" else "-", text)
    # remove_accents(): decompose and drop the combining marks, but only for Latin letters.
    text = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )
    text = unicodedata.normalize("NFC", text).lower()
    text = re.sub(r"[^\w\s-]", "", text)
    text = text.replace("_", "")
    text = re.sub(r"\s+", "-", text.strip())
    text = re.sub(r"-+", "-", text)
    return text.strip("-")


def _term_key(term: str) -> str:
    return " ".join(term.replace("_", " ").lower().split())


class CategoryMap:
    """The configured taxonomy as a lookup, in two strengths.

    ``slug_for`` is for names a person wrote (a source's ``categories``, a fan's alias): a slug,
    name or alias, case-insensitive. ``site_category`` is for terms a site wrote, a feed's
    ``<category>`` or a listing's class name: WordPress writes categories and tags into the same
    element, so only a category's slug, its name or one of its ``site_names`` (what WordPress
    writes for it) counts, never an alias: a tag "interview" or "Video" is a tag, not
    ``interviews`` or ``video-interviews``.
    """

    def __init__(self, categories: Iterable[Category]) -> None:
        self._by_key: dict[str, str] = {}
        self._by_site_key: dict[str, str] = {}
        cats = list(categories)
        for cat in cats:
            for key in (cat.slug, cat.name, *cat.site_names):
                self._by_site_key.setdefault(_term_key(key), cat.slug)
                self._by_site_key.setdefault(wordpress_slug(key), cat.slug)
        for cat in cats:
            for key in (cat.slug, cat.name, *cat.site_names, *cat.aliases):
                self._by_key.setdefault(_term_key(key), cat.slug)
                self._by_key.setdefault(wordpress_slug(key), cat.slug)

    @staticmethod
    def _lookup(table: dict[str, str], term: str) -> str | None:
        key = _term_key(term)
        if not key:
            return None
        found = table.get(key)
        if found is None:
            found = table.get(wordpress_slug(key))
        if found is None and "/" in key:  # "interviews/k-pop-interviews": the child decides
            found = table.get(_term_key(key.rsplit("/", 1)[1]))
        return found

    def slug_for(self, term: str) -> str | None:
        """The category a person meant: slug, name or alias."""
        return self._lookup(self._by_key, term)

    def site_category(self, term: str) -> str | None:
        """The category a site's term names: a slug or a name only (see the class)."""
        return self._lookup(self._by_site_key, term)

    def split(self, terms: Iterable[str]) -> tuple[list[str], list[str]]:
        """(category slugs, tags) from a feed item's terms, each deduplicated in order: a term is
        a category only when ``site_category`` knows it; everything else is a tag."""
        cats: list[str] = []
        tags: list[str] = []
        seen_tags: set[str] = set()
        for term in terms:
            slug = self.site_category(term)
            if slug is not None:
                if slug not in cats:
                    cats.append(slug)
            else:
                tag = " ".join(term.split())[:100]
                if tag and tag.lower() not in seen_tags:
                    seen_tags.add(tag.lower())
                    tags.append(tag)
        return cats, tags

    def slugs_from_url(self, url: str) -> list[str]:
        """Categories a listing or feed URL names: ``/category/interviews/feed/`` → interviews,
        ``/category/interviews/k-pop-interviews/page/2/`` → k-pop-interviews."""
        try:
            path = urlsplit(url).path
        except ValueError:
            return []
        segments = [unquote(s) for s in path.split("/") if s]
        if "category" not in segments:
            return []
        rest = segments[segments.index("category") + 1 :]
        names = []
        for segment in rest:
            if segment in ("feed", "page", "amp"):
                break
            names.append(segment)
        if not names:
            return []
        slug = self.slug_for(names[-1])
        return [slug if slug is not None else wordpress_slug(names[-1])]
