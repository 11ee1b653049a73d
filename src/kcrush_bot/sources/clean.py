"""Cleaning what sources say into the plain text the store keeps.

HTML becomes text (selectolax), entities are decoded (twice, since WordPress double-encodes
titles like ``&amp;#8217;``), mojibake such as ``Donâ€™t`` is repaired with ftfy, control and
bidi-override characters go, whitespace is folded, the site's boilerplate lines ("Read More",
"The post … appeared first on …", captions) are dropped, and a teaser is cut at a word
boundary with an ellipsis.

Speed matters here (every feed item passes through, see ``bench/bench_ingest.py``): plain text
skips the HTML parser and ftfy only runs when a cheap pattern says the text looks like mojibake.
"""

from __future__ import annotations

import html
import re

import ftfy
from selectolax.lexbor import LexborHTMLParser

from kcrush_bot.core.text import ELLIPSIS, shorten

# Characters that have no business in a title or teaser: C0/C1 controls (NUL included), lone
# surrogates (JSON can smuggle them in; SQLite cannot encode them), non-characters, the BOM,
# and bidi embeddings/overrides, which let a hostile title reverse the text around it.
# Tab and newline are folded as whitespace instead.
_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufeff\ufffe\uffff\u202a-\u202e\u2066-\u2069]"
)
# UTF-8 read as cp1252/latin-1 leaves a lead byte (Â..ô) followed by a continuation byte's
# cp1252 look-alike. Real text almost never has that pair, so ftfy only runs when it appears.
_MOJIBAKE_HINT = re.compile(
    "[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6"
    "\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]"
)
_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_WHITESPACE = re.compile(r"\s+")
# Block ends become line breaks before parsing, so paragraphs stay apart in the text while
# inline markup (<em>Don</em>’t) does not split words.
_BLOCK_BREAK = re.compile(
    r"<br\b[^>]*>|</(?:p|div|li|h[1-6]|blockquote|figure|tr|table|ul|ol|section|article|header"
    r"|footer|pre|dd|dt)\s*>",
    re.IGNORECASE,
)
_DROP_TAGS = [
    "script",
    "style",
    "noscript",
    "template",
    "iframe",
    "object",
    "embed",
    "svg",
    "math",
    "figcaption",  # image captions read as stray lines in a teaser
    "head",
    "title",
]
# Elements WordPress themes add around the text: "Read More" buttons, screen-reader copies of
# the title ("Continue reading <span class=screen-reader-text>Title</span>"), caption text.
_DROP_SELECTORS = ".more-link, .read-more, .screen-reader-text, .wp-caption-text, .sharedaddy"
_READ_MORE_LINE = re.compile(
    r"^(?:\[?\s*(?:read more|read the rest of this entry|continue reading|keep reading|"
    r"read full (?:article|story|post))\s*\]?\s*[»→›>…\.]*)$",
    re.IGNORECASE,
)
_READ_MORE_TAIL = re.compile(
    r"\s*(?:read more|continue reading)\s*[»→›>]*\s*$",
    re.IGNORECASE,
)
_APPEARED_FIRST = re.compile(r"\bThe post\b.{0,600}?\bappeared first on\b.{0,200}$", re.IGNORECASE)
_SHORTCODE = re.compile(r"\[/?(?:caption|gallery|embed|video|audio|playlist)\b[^\]]{0,500}\]")
# WordPress ends an excerpt with "[…]" or "[&hellip;]"; the seeds end them with "...".
_EXCERPT_MORE = re.compile(r"\s*(?:\[\s*(?:…|\.\.\.|&hellip;)\s*\]|\.{3,}|…)\s*$")


def fix_text(text: str) -> str:
    """Entities decoded, mojibake repaired, controls removed; whitespace left as it is."""
    if not text:
        return ""
    if "&" in text and _ENTITY.search(text):
        text = html.unescape(text)
    if not text.isascii():
        # ftfy before control removal: mojibake of Hangul contains C1 bytes (U+0081) that
        # ftfy needs to restore the original characters.
        if _MOJIBAKE_HINT.search(text):
            text = ftfy.fix_encoding(text)
        text = _CONTROL.sub("", text)
    elif _CONTROL.search(text):
        text = _CONTROL.sub("", text)
    return text


def fold(text: str) -> str:
    """All runs of whitespace (newlines included) become one space."""
    return _WHITESPACE.sub(" ", text).strip()


def _is_boilerplate(line: str) -> bool:
    return bool(_READ_MORE_LINE.match(line) or _APPEARED_FIRST.match(line))


def html_to_lines(fragment: str) -> list[str]:
    """The text lines of an HTML fragment: one per paragraph or line break, cleaned, with
    boilerplate lines dropped. Plain text (no ``<``) is split on newlines the same way."""
    if not fragment:
        return []
    if "<" in fragment:
        if "[" in fragment:
            fragment = _SHORTCODE.sub("", fragment)
        tree = LexborHTMLParser(_BLOCK_BREAK.sub(lambda m: m.group(0) + "\n", fragment))
        tree.strip_tags(_DROP_TAGS)
        if "class=" in fragment:
            for node in tree.css(_DROP_SELECTORS):
                node.decompose()
        root = tree.body
        text = root.text(deep=True, separator="", strip=False) if root is not None else ""
    else:
        text = _SHORTCODE.sub("", fragment) if "[" in fragment else fragment
    text = fix_text(text)
    lines = []
    for raw in text.splitlines():
        line = fold(raw)
        if not line or _is_boilerplate(line):
            continue
        if _READ_MORE_TAIL.search(line):
            line = _READ_MORE_TAIL.sub("", line)
            if not line:
                continue
        lines.append(line)
    # "The post … appeared first on …" sometimes shares a line with the text before it.
    if lines and "appeared first on" in lines[-1]:
        tail = _APPEARED_FIRST.sub("", lines[-1]).strip()
        if tail:
            lines[-1] = tail
        else:
            lines.pop()
    return lines


def clean_title(raw: str | None) -> str:
    """A title as one line of plain text: markup stripped, entities decoded, repaired."""
    if not raw:
        return ""
    text = " ".join(html_to_lines(raw)) if "<" in raw else fix_text(raw)
    # Twice-encoded titles (&amp;#8217;) are common in WordPress feeds.
    if "&" in text and _ENTITY.search(text):
        text = html.unescape(text)
    return fold(text)[:500]


def clean_text(raw: str | None) -> str:
    """Plain text from HTML or text, as one folded line without boilerplate."""
    if not raw:
        return ""
    return " ".join(html_to_lines(raw))


def make_teaser(raw: str | None, limit: int) -> str:
    """The teaser a card shows: cleaned text, at most ``limit`` characters, cut at a word
    boundary with "…". An excerpt's own ending ("...", "[…]") becomes "…"."""
    text = clean_text(raw)
    if not text:
        return ""
    if text.endswith(("]", ".", "…")):
        trimmed, count = _EXCERPT_MORE.subn("", text)
        if count and trimmed:
            text = trimmed.rstrip(" ,;:.-–—") + ELLIPSIS
    return shorten(text, limit)
