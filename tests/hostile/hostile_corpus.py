"""The hostile corpus, generated in code: feeds, WordPress answers, titles and command lines that
try to break the bot, and a loopback server that serves them (huge ones streamed as generated).

Every feed case says what must happen: ``REFUSED`` (one clear error, nothing stored), ``STORED``
(the items are stored, clean) or ``EITHER`` (a clear error or clean items, never half of both).
"""

from __future__ import annotations

import codecs
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html import escape

from aiohttp import web

REFUSED = "refused"
STORED = "stored"
EITHER = "either"

SITE = "https://www.kcrush.com"
HANGUL_TITLE = "KCRUSH Interview with KNK (크나큰)"
RLO, PDF, LRI, PDI = "\u202e", "\u202c", "\u2066", "\u2069"
ZWJ, ZWSP = "\u200d", "\u200b"
FAMILY = "👨\u200d👩\u200d👧"  # an emoji sequence held together by zero-width joiners
ZALGO = "Z" + "\u0336\u0337\u0338\u0489" * 30 + "algo"

# Characters no stored title or teaser may contain (what cleaning removes; see sources/clean).
FORBIDDEN_IN_TEXT = frozenset(
    [chr(c) for c in range(0x00, 0x09)]
    + [chr(c) for c in (0x0B, 0x0C)]
    + [chr(c) for c in range(0x0E, 0x20)]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
    + ["\ufeff", "\ufffe", "\uffff"]
)

# Links that must never be stored anywhere: none of them is an https link to the magazine.
EVIL_LINKS = (
    "javascript:alert(1)",
    " JaVaScRiPt:alert(document.cookie)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\u00a0javascript:alert(1)",
    "&#106;avascript:alert(1)",  # an entity: the XML parser decodes it to javascript:
    "vbscript:msgbox(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "//evil.example/kcrush-interview/",
    "https://evil.example/kcrush-interview/",
    "https://www.kcrush.com.evil.example/x/",
    "https://www.kcrush.com@evil.example/x/",
    "https://www.kcrush.com:8443/x/",
    "https://www.kcrush.com/staging2025v2/x/",
    "https://[::1/x/",
)


@dataclass(frozen=True)
class FeedItem:
    """One RSS item; the values are pasted in as they are (escape them yourself if needed)."""

    title: str
    link: str
    description: str = "<![CDATA[<p>A plain teaser.</p>]]>"
    guid: str | None = None
    extra: str = ""

    def xml(self) -> str:
        guid = f'<guid isPermaLink="false">{self.guid}</guid>' if self.guid else ""
        return (
            f"<item><title>{self.title}</title><link>{self.link}</link>{guid}"
            f"<description>{self.description}</description>{self.extra}</item>"
        )


def item(n: int, **overrides: str) -> FeedItem:
    values = {"title": f"Hostile corpus post {n}", "link": f"{SITE}/hostile-corpus-post-{n}/"}
    values.update(overrides)
    return FeedItem(**values)  # type: ignore[arg-type]


def rss_text(items: list[FeedItem], *, declaration: str | None = "UTF-8", doctype: str = "") -> str:
    head = f'<?xml version="1.0" encoding="{declaration}"?>' if declaration else ""
    return (
        f'{head}{doctype}<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">'
        "<channel><title>KCrush America Magazine</title><link>https://www.kcrush.com</link>"
        "<description>hostile</description>" + "".join(i.xml() for i in items) + "</channel></rss>"
    )


def rss(items: list[FeedItem], **options: str | None) -> bytes:
    return rss_text(items, **options).encode("utf-8")  # type: ignore[arg-type]


def wp_post(n: int, title: str, link: str, excerpt: str = "<p>An excerpt.</p>") -> dict:
    return {
        "id": n,
        "date_gmt": "2024-05-01T10:00:00",
        "modified_gmt": "2024-05-01T10:00:00",
        "guid": {"rendered": f"{SITE}/?p={n}"},
        "link": link,
        "title": {"rendered": title},
        "excerpt": {"rendered": excerpt},
        "categories": [],
        "tags": [],
    }


@dataclass(frozen=True)
class HostileFeed:
    name: str
    kind: str  # the source kind it is configured as
    body: bytes
    expect: str
    error_words: str = ""  # a refusal's one line must contain these
    content_type: str = "application/rss+xml; charset=UTF-8"
    status: int = 200
    titles: tuple[str, ...] = ()  # when stored: exactly these titles (in any order)


def _bomb(encoding: str, codec: str, bom: bytes = b"") -> bytes:
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "' + f"&{chr(97 + i)};" * 10 + '">' for i in range(8)
    )
    text = rss_text(
        [item(1, title="&i;")], declaration=encoding, doctype=f"<!DOCTYPE rss [{entities}]>"
    )
    return bom + text.encode(codec)


def _xxe(encoding: str, codec: str, bom: bytes = b"") -> bytes:
    doctype = '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    text = rss_text([item(1, title="&xxe;")], declaration=encoding, doctype=doctype)
    return bom + text.encode(codec)


def _truncated() -> bytes:
    whole = rss([item(n) for n in range(1, 6)])
    cut = whole.index(b"<item>", whole.index(b"hostile-corpus-post-3")) + 20
    return whole[:cut]


def hangul_feed(declaration: str | None) -> str:
    return rss_text(
        [item(1, title=escape(HANGUL_TITLE), description="KNK (Hangul: 크나큰) 서울의 밴드.")],
        declaration=declaration,
    )


def feed_cases(dtd_url: str) -> list[HostileFeed]:
    """The hostile feeds. ``dtd_url`` is a URL on the test server that must never be fetched."""
    hangul = hangul_feed
    cases = [
        # -- broken XML at every level -------------------------------------------------------
        HostileFeed(
            "prolog-unclosed",
            "feed",
            rss([item(1)]).replace(b'"UTF-8"?>', b'"UTF-8"'),
            REFUSED,
            "malformed XML",
        ),
        HostileFeed("garbage-before-prolog", "feed", b"\x00\x01junk" + rss([item(1)]), REFUSED),
        HostileFeed(
            "channel-unclosed",
            "feed",
            rss([item(1), item(2)]).replace(b"</channel>", b""),
            REFUSED,
            "malformed XML",
        ),
        HostileFeed(
            "item-mismatched-tags",
            "feed",
            rss([item(1), item(2, title="Broken</link>")]),
            REFUSED,
            "malformed XML",
        ),
        HostileFeed(
            "cdata-unterminated",
            "feed",
            rss([item(1), item(2, description="<![CDATA[<p>never closed</p>")]),
            REFUSED,
            "malformed XML",
        ),
        HostileFeed("truncated-mid-item", "feed", _truncated(), REFUSED, "malformed XML"),
        HostileFeed(
            "root-is-not-a-feed",
            "feed",
            b'<?xml version="1.0"?><catalog><book/></catalog>',
            REFUSED,
            "not an RSS",
        ),
        # -- encodings -------------------------------------------------------------------------
        HostileFeed(
            "euc-kr-declared-utf-8", "feed", hangul("UTF-8").encode("euc-kr"), REFUSED, "encoding"
        ),
        HostileFeed(
            "shift-jis-declared-utf-8",
            "feed",
            rss([item(1, title="ニュース：東方神起のインタビュー")]).decode().encode("shift_jis"),
            REFUSED,
            "encoding",
        ),
        HostileFeed(
            "latin-1-declared-utf-8",
            "feed",
            rss([item(1, title="Beyoncé’s café interview")]).decode().encode("cp1252"),
            STORED,
            titles=("Beyoncé’s café interview",),
        ),
        HostileFeed(
            "utf-16-without-declaration-or-bom",
            "feed",
            hangul(None).encode("utf-16-le"),
            EITHER,
            titles=(HANGUL_TITLE,),
        ),
        HostileFeed(
            "utf-16-bom-without-declaration",
            "feed",
            codecs.BOM_UTF16_LE + hangul(None).encode("utf-16-le"),
            EITHER,
            titles=(HANGUL_TITLE,),
        ),
        HostileFeed(
            "utf-16-bom-declared-utf-16",
            "feed",
            codecs.BOM_UTF16_BE + hangul("UTF-16").encode("utf-16-be"),
            STORED,
            titles=(HANGUL_TITLE,),
        ),
        HostileFeed(
            "utf-16-bom-declared-utf-8",
            "feed",
            codecs.BOM_UTF16_LE + hangul("UTF-8").encode("utf-16-le"),
            EITHER,
            titles=(HANGUL_TITLE,),
        ),
        HostileFeed(
            "utf-8-bom-declared-utf-8",
            "feed",
            codecs.BOM_UTF8 + hangul("UTF-8").encode("utf-8"),
            STORED,
            titles=(HANGUL_TITLE,),
        ),
        HostileFeed(
            "utf-8-bom-declared-latin-1",
            "feed",
            codecs.BOM_UTF8 + hangul("ISO-8859-1").encode("utf-8"),
            EITHER,
            titles=(HANGUL_TITLE,),
        ),
        HostileFeed(
            "utf-8-declared-euc-kr-but-utf-8",
            "feed",
            hangul("EUC-KR").encode("utf-8"),
            EITHER,
            titles=(HANGUL_TITLE,),
        ),
        # -- entities ----------------------------------------------------------------------------
        HostileFeed("entity-bomb", "feed", _bomb("UTF-8", "utf-8"), REFUSED, "entities"),
        HostileFeed(
            "entity-bomb-utf-16",
            "feed",
            _bomb("UTF-16", "utf-16-le", codecs.BOM_UTF16_LE),
            REFUSED,
            "entities",
        ),
        HostileFeed(
            "entity-bomb-utf-32",
            "feed",
            _bomb("UTF-32", "utf-32-le", codecs.BOM_UTF32_LE),
            REFUSED,
            "entities",
        ),
        HostileFeed(
            "entity-bomb-utf-32-be-no-bom",
            "feed",
            _bomb("UTF-32BE", "utf-32-be"),
            REFUSED,
        ),
        HostileFeed("external-entity", "feed", _xxe("UTF-8", "utf-8"), REFUSED, "entities"),
        HostileFeed(
            "external-entity-utf-32",
            "feed",
            _xxe("UTF-32", "utf-32-le", codecs.BOM_UTF32_LE),
            REFUSED,
            "entities",
        ),
        HostileFeed(
            "external-dtd",
            "feed",
            rss([item(1)], doctype=f'<!DOCTYPE rss SYSTEM "{dtd_url}">'),
            EITHER,
            titles=("Hostile corpus post 1",),
        ),
        HostileFeed(
            "external-parameter-entity",
            "feed",
            rss([item(1)], doctype=f'<!DOCTYPE rss [<!ENTITY % p SYSTEM "{dtd_url}"> %p;]>'),
            REFUSED,
            "entities",
        ),
        # -- the wrong kind of document ----------------------------------------------------------
        HostileFeed(
            "json-error-body-as-feed",
            "feed",
            json.dumps({"code": "rest_no_route", "message": "No route", "data": {}}).encode(),
            REFUSED,
            "got JSON",
            content_type="application/json",
        ),
        HostileFeed(
            "json-error-404-as-feed",
            "feed",
            json.dumps({"code": "rest_no_route", "message": "No route"}).encode(),
            REFUSED,
            "HTTP 404",
            content_type="application/json",
            status=404,
        ),
        HostileFeed(
            "html-as-wordpress-json",
            "wordpress",
            b"<!DOCTYPE html><html><body><h1>Just a moment...</h1></body></html>",
            REFUSED,
            "JSON",
            content_type="text/html",
        ),
        HostileFeed(
            "wordpress-error-with-200",
            "wordpress",
            json.dumps({"code": "rest_forbidden", "message": "Sorry"}).encode(),
            REFUSED,
            "rest_forbidden",
            content_type="application/json",
        ),
        HostileFeed(
            "wordpress-json-not-a-list",
            "wordpress",
            b'{"posts": "elsewhere"}',
            REFUSED,
            "JSON list",
            content_type="application/json",
        ),
        HostileFeed(
            "wordpress-lone-surrogates",
            "wordpress",
            json.dumps(
                [wp_post(1, "Lone \ud800 surrogate \udfff title", f"{SITE}/surr/")]
            ).encode(),
            STORED,
            content_type="application/json",
            titles=("Lone surrogate title",),
        ),
    ]
    return cases + hostile_title_feeds()


HOSTILE_TITLE = (
    "\x00NUL\x01\x07 bell \x1b[31mred\x1b[0m "
    + RLO
    + "txt.exe"
    + PDF
    + LRI
    + "isolate"
    + PDI
    + " "
    + FAMILY
    + " \ufeffBOM \x85next \x9bcsi"
)


def hostile_title_feeds() -> list[HostileFeed]:
    """Titles and links that are valid XML/JSON but hostile: they must be stored clean."""
    long_title = ("KNK " * 2500).strip()  # 9,999 characters
    xml_safe = HOSTILE_TITLE.translate({c: None for c in range(0x20) if c not in (9, 10, 13)})
    xml_safe = xml_safe.replace("\ufeff", "").replace("\x85", "").replace("\x9b", "")
    evil_feed_items = [
        item(10 + n, link=escape(link) if not link.startswith("&#") else link)
        for n, link in enumerate(EVIL_LINKS)
    ]
    wp_hostile = [
        wp_post(1, HOSTILE_TITLE, f"{SITE}/wp-hostile-1/", excerpt=f"<p>{HOSTILE_TITLE}</p>"),
        wp_post(2, long_title, f"{SITE}/wp-hostile-2/"),
        *(
            wp_post(10 + n, f"Evil link {n}", link)
            for n, link in enumerate((*EVIL_LINKS, "\x00javascript:alert(1)"))
        ),
        wp_post(40, "Relative link", "/wp-relative-link/"),
    ]
    return [
        HostileFeed(
            "title-10000-characters",
            "feed",
            rss([item(1, title=long_title, description=escape(long_title))]),
            STORED,
        ),
        HostileFeed(
            "nul-character-reference",
            "feed",
            rss([item(1, title="NUL &#0; here"), item(2)]),
            EITHER,
        ),
        HostileFeed(
            "raw-control-characters",
            "feed",
            rss([item(1, title="bell \x07 escape \x1b[31m")]),
            EITHER,
        ),
        HostileFeed(
            "c1-controls-and-bidi-overrides",
            "feed",
            rss([item(1, title=escape(xml_safe), description=escape(xml_safe))]),
            STORED,
        ),
        HostileFeed(
            "zero-width-and-zalgo",
            "feed",
            rss([item(1, title=f"K{ZWSP}N{ZWJ}K {FAMILY} {ZALGO}")]),
            STORED,
        ),
        HostileFeed(
            "markup-in-titles",
            "feed",
            rss(
                [
                    item(1, title=escape('<b>bold</b> <a href="javascript:alert(1)">x</a> &lt;')),
                    item(2, title="<![CDATA[<script>alert(1)</script>Script title]]>"),
                    item(
                        3, title=escape("@everyone @here <@&123> <#456> **bold** [x](javascript:y)")
                    ),
                ]
            ),
            STORED,
        ),
        HostileFeed(
            "javascript-and-foreign-links", "feed", rss([item(1), *evil_feed_items]), STORED
        ),
        HostileFeed(
            "javascript-images",
            "feed",
            rss(
                [
                    item(
                        1,
                        description=escape('<p>x</p><img src="javascript:alert(1)">'),
                        extra='<media:content url="javascript:alert(2)" medium="image"/>'
                        '<enclosure url="data:image/png;base64,AAAA" type="image/png"/>',
                    )
                ]
            ),
            STORED,
        ),
        HostileFeed(
            "relative-links",
            "feed",
            rss(
                [
                    item(1, link="/relative-post/"),
                    item(2, link="relative-no-slash"),
                    item(3, link="../../../etc/passwd"),
                    item(4, link="?p=99"),
                ]
            ),
            STORED,
        ),
        HostileFeed(
            "duplicate-guids-different-links",
            "feed",
            rss(
                [
                    item(1, guid=f"{SITE}/?p=7", link=f"{SITE}/first-link/"),
                    item(2, guid=f"{SITE}/?p=7", link=f"{SITE}/second-link/"),
                    item(3, guid="tag:same", link=f"{SITE}/third-link/"),
                    item(4, guid="tag:same", link="javascript:alert(1)"),
                ]
            ),
            STORED,
        ),
        HostileFeed(
            "wordpress-hostile-titles-and-links",
            "wordpress",
            json.dumps(wp_hostile).encode(),
            STORED,
            content_type="application/json",
        ),
        HostileFeed(
            "listing-hostile",
            "listing",
            (
                "<html><body>"
                + "".join(
                    f'<article><h2><a href="{escape(link)}">{escape(title)}</a></h2>'
                    f"<p>{escape(title)}</p></article>"
                    for title, link in [
                        (HOSTILE_TITLE, f"{SITE}/listing-hostile-1/"),
                        ("Evil", "javascript:alert(1)"),
                        ("Relative", "/listing-relative/"),
                        ("Long " * 3000, f"{SITE}/listing-long/"),
                    ]
                )
                + "</body></html>"
            ).encode(),
            STORED,
            content_type="text/html; charset=utf-8",
        ),
    ]


# -- generated huge documents -------------------------------------------------------------------


def many_items(count: int) -> Iterator[bytes]:
    """A feed of ``count`` small items, generated piece by piece (never held whole)."""
    yield rss_text([]).split("</channel>")[0].encode()
    batch = []
    for n in range(count):
        batch.append(f"<item><title>T{n}</title><link>{SITE}/p{n}/</link></item>")
        if len(batch) == 1000:
            yield "".join(batch).encode()
            batch = []
    yield ("".join(batch) + "</channel></rss>").encode()


def endless_document(total: int) -> Iterator[bytes]:
    """``total`` bytes of an RSS document that never closes."""
    head = rss_text([]).split("</channel>")[0].encode()
    yield head
    chunk = (item(1).xml() * 400).encode()
    sent = len(head)
    while sent < total:
        yield chunk
        sent += len(chunk)


# -- the server ---------------------------------------------------------------------------------


@dataclass
class Served:
    body: bytes = b""
    content_type: str = "application/rss+xml"
    status: int = 200
    stream: Callable[[], Iterator[bytes]] | None = None


@dataclass
class HostileServer:
    """Serves the corpus on 127.0.0.1; counts requests per path and streamed bytes."""

    base: str = ""
    routes: dict[str, Served] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    streamed: Counter[str] = field(default_factory=Counter)

    def serve(self, path: str, body: bytes = b"", **options: object) -> str:
        self.routes[path] = Served(body, **options)  # type: ignore[arg-type]
        return self.base + path

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] += 1
        route = self.routes.get(request.path)
        if route is None:
            return web.Response(status=404, text="<html><body>not found</body></html>")
        if route.stream is None:
            return web.Response(
                status=route.status, body=route.body, headers={"Content-Type": route.content_type}
            )
        response = web.StreamResponse(status=route.status)
        response.content_type = route.content_type
        await response.prepare(request)
        try:
            for chunk in route.stream():
                await response.write(chunk)
                self.streamed[request.path] += len(chunk)
        except (ConnectionResetError, ConnectionError):
            pass
        return response


@asynccontextmanager
async def hostile_server() -> AsyncIterator[HostileServer]:
    server = HostileServer()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        yield server
    finally:
        await runner.cleanup()
