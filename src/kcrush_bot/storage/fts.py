"""FTS5 query building: a user's words made safe and shaped into a MATCH expression.

Only the posts repository's SQLite search uses this; FTS5's syntax is what it guards against.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MAX_QUERY_TERMS = 12
MAX_QUERY_CHARS = 256
_TERM = re.compile(r"\w+", re.UNICODE)
_AGGLUTINATIVE = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u4e00-\u9fff\uac00-\ud7af]")


def fts_terms(query: str) -> list[str]:
    """The words of a user's query, with every FTS5 operator and quote character dropped.

    Only runs of letters and digits survive, so ``"foo``, ``AND OR``, ``NEAR(``, ``-x``, ``*``
    and NUL cannot reach the FTS5 parser as syntax.
    """
    return _TERM.findall(query[:MAX_QUERY_CHARS])[:MAX_QUERY_TERMS]


def fts_match(terms: Sequence[str], *, prefix: bool = False, any_term: bool = False) -> str:
    """An FTS5 MATCH expression in which every term is a quoted string.

    Hangul (and other CJK) terms are always prefix-matched, so a word matches with particles
    attached (서울 finds 서울의). Other terms match whole (stemmed) words unless ``prefix``:
    a long prefix query has to merge every matching term's full list, which is slow for
    common words, so it is the fallback, not the first try.
    """
    parts = []
    for term in terms:
        wide = prefix or bool(_AGGLUTINATIVE.search(term))
        parts.append(f'"{term}"*' if wide and len(term) >= 2 else f'"{term}"')
    return (" OR " if any_term else " ").join(parts)


# A title longer than the pieces of migration 007 cover yields this word as well.
LONG_TITLE = "longtitle"


def title_gram_match(needle: str) -> str | None:
    """A MATCH expression over ``posts_title_grams`` (migration 007) that every title containing
    ``needle`` matches; None when the needle has no letter or digit for the index to hold.

    The index holds each title's two-character pieces as words: one character is a prefix of
    a piece, two are a piece, and a needle with a space ("a b") needs each of its pieces. The
    tokenizer folds the needle's pieces as it folded the titles'. A title may match without
    containing the needle (case folded, "a_" read as "a"): the caller checks with LIKE.
    """
    if not any(c.isalnum() for c in needle):
        return None
    if len(needle) == 1:
        return f'"{needle}"*'
    pieces = [needle[i : i + 2] for i in range(len(needle) - 1)]
    wanted = " AND ".join(f'"{p}"' for p in dict.fromkeys(pieces) if any(c.isalnum() for c in p))
    return f'({wanted}) OR "{LONG_TITLE}"'
