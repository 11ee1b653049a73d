"""Telling documents apart by their first bytes, and refusing the dangerous ones before parsing.

Sources lie about content types (WordPress serves feeds as ``text/html`` behind some caches), so
the body decides: JSON, an XML feed, an HTML page or plain text. ``refuse_entity_declarations``
runs before any XML parser sees a document: ``feedparser`` hands XML to ``xml.sax``, and a DTD
that declares entities is how a billion-laughs bomb expands a few kilobytes into gigabytes.
"""

from __future__ import annotations

import codecs
import re

from kcrush_bot.core.errors import SourceError

_HEAD_BYTES = 4096
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_UTF32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)


def _decode_head(data: bytes) -> str:
    head = data[:_HEAD_BYTES]
    if head.startswith(_UTF32_BOMS):
        return head.decode("utf-32", errors="replace")
    if head.startswith(_UTF16_BOMS):
        return head.decode("utf-16", errors="replace")
    if head[:4] in (b"<\x00?\x00", b"<\x00r\x00"):
        return head.decode("utf-16-le", errors="replace")
    if head[:4] in (b"\x00<\x00?", b"\x00<\x00r"):
        return head.decode("utf-16-be", errors="replace")
    return head.decode("utf-8", errors="replace").lstrip("\ufeff")


def head_text(data: bytes) -> str:
    """The start of a document, lowercased, with leading whitespace and comments removed."""
    return _COMMENT.sub("", _decode_head(data)).lstrip().lower()


def sniff_kind(data: bytes) -> str:
    """``json``, ``feed`` (RSS/Atom/RDF), ``html`` or ``text``."""
    head = head_text(data)
    if head.startswith(("{", "[")):
        return "json"
    if "<rss" in head or "<feed" in head or "<rdf:rdf" in head:
        return "feed"
    if head.startswith(("<!doctype html", "<html")) or "<html" in head or "<body" in head:
        return "html"
    if head.startswith("<?xml") or head.startswith("<"):
        return "feed"  # some other XML: let the feed parser give its verdict
    return "text"


_NEEDLES = {
    encoding: ("<!DOCTYPE".encode(encoding), "<!ENTITY".encode(encoding))
    # Every encoding feedparser decodes before handing the text to expat: UTF-32 included,
    # or a bomb written in UTF-32 would slip past this check and expand inside the parser.
    for encoding in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
}


def refuse_entity_declarations(data: bytes) -> None:
    """Raise ``SourceError`` for a document whose DOCTYPE declares entities.

    XML is case-sensitive, so ``<!DOCTYPE`` and ``<!ENTITY`` are the only spellings a parser
    honours; UTF-16 and UTF-32 spellings are checked too. A feed has no reason to declare entities, so
    refusing costs nothing; the one false alarm would be a post quoting both in a CDATA
    section, and that feed gets a clear error rather than a silent risk.
    """
    for doctype, entity in _NEEDLES.values():
        start = data.find(doctype)
        if start != -1 and data.find(entity, start) != -1:
            raise SourceError(
                "refused: the document declares XML entities in its DOCTYPE "
                "(an entity-expansion bomb risk); not parsed"
            )
