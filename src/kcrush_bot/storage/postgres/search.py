"""Search on PostgreSQL, behaving as the SQLite store's FTS5 search does.

The same cascade of attempts, each tried only when the one before found nothing: every word
whole (stemmed), every word as a prefix (a word still being typed), any of the words. Ranking
is ``ts_rank_cd`` over the stored ``search_vector``, the title weighted ten times the teaser,
among the 2,000 most recently stored matches (as bm25 is on SQLite); snippets come from
``ts_headline`` with the same highlight marks.

Hangul: the default parser keeps a run of Hangul as one word (``서울의``), as FTS5's unicode61
does, and Hangul terms are always prefix-matched, so ``서울`` finds ``서울의`` through the
word index, in any database locale. What a word index cannot find is Hangul inside a word
(``콘서트`` in ``서울콘서트``): when the word attempts find nothing for a query with Hangul,
a substring match over title and teaser runs, served by a trigram (pg_trgm) index.

A query under three characters that no word matches falls back to titles containing it.

User input never becomes SQL: it is a bound parameter everywhere. Only runs of letters and
digits of it survive into a ``tsquery``, each quoted, so no input reaches the tsquery parser as
an operator (``!``, ``&``, ``|``, ``<->``, ``:*``, parentheses, quotes, backslashes, NUL).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from kcrush_bot.core.models import HIGHLIGHT_END, HIGHLIGHT_START, SearchHit
from kcrush_bot.storage.postgres.records import (
    NEWEST_FIRST,
    POST_COLUMNS,
    Queries,
    post_from_record,
)

# ts_rank's weights for D, C, B, A: the title (A) counts ten times the teaser (B) and twice the
# tags (C), as on SQLite. A withdrawn post has no search_vector: search never finds it.
TITLE_WEIGHT = 1.0
TEASER_WEIGHT = 0.1
TAGS_WEIGHT = 0.5
RANK_WEIGHTS = [0.0, TAGS_WEIGHT, TEASER_WEIGHT, TITLE_WEIGHT]
# Ranking scores every match it considers; a common word matches most of the archive, so only
# this many of a query's most recently stored matches are ranked.
RANK_WINDOW = 2000
COUNT_CAP = 1000
MAX_QUERY_TERMS = 12
MAX_QUERY_CHARS = 256
SNIPPET_WORDS = 16
FALLBACK_SNIPPET_CHARS = 160

_TERM = re.compile(r"\w+", re.UNICODE)
_AGGLUTINATIVE = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u4e00-\u9fff\uac00-\ud7af]")
# Double quotes make the marks one option value each, whatever characters they are.
_HEADLINE_OPTIONS = (
    f'StartSel="{HIGHLIGHT_START}", StopSel="{HIGHLIGHT_END}", '
    f"MaxWords={SNIPPET_WORDS}, MinWords=6, ShortWord=1, HighlightAll=false"
)


def query_terms(query: str) -> list[str]:
    """The words of a user's query: runs of letters and digits, nothing else."""
    return _TERM.findall(query[:MAX_QUERY_CHARS])[:MAX_QUERY_TERMS]


def is_agglutinative(term: str) -> bool:
    """Hangul, kana or CJK: particles and endings attach to the word without a space."""
    return bool(_AGGLUTINATIVE.search(term))


def tsquery_text(terms: Sequence[str], *, prefix: bool = False, any_term: bool = False) -> str:
    """A ``to_tsquery`` input in which every term is a quoted lexeme.

    The terms are runs of ``\\w`` only, so none holds a quote or an operator. Hangul terms are
    always prefixes (a word with its particle); others only when ``prefix``.
    """
    parts = []
    for term in terms:
        wide = prefix or is_agglutinative(term)
        parts.append(f"'{term}':*" if wide and len(term) >= 2 else f"'{term}'")
    return (" | " if any_term else " & ").join(parts)


def like_pattern(needle: str) -> str:
    """``%needle%`` with LIKE's wildcards in the needle escaped (the default escape is ``\\``)."""
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def ellipsised(snippet: str, source: str) -> str:
    """An ellipsis where the snippet starts or ends inside its source text, as FTS5 marks it."""
    plain = snippet.replace(HIGHLIGHT_START, "").replace(HIGHLIGHT_END, "").strip()
    if not plain:
        return snippet
    text = source.strip()
    if not text.startswith(plain):
        snippet = "…" + snippet.lstrip()
    if not text.endswith(plain):
        snippet = snippet.rstrip() + "…"
    return snippet


def highlighted(text: str, needles: Sequence[str], width: int = FALLBACK_SNIPPET_CHARS) -> str:
    """A window of ``text`` around the first needle found, every needle in it marked."""
    folded = text.casefold()
    found = [(folded.find(n.casefold()), n) for n in needles if n]
    found = [(at, n) for at, n in found if at >= 0]
    if not found or len(folded) != len(text):  # casefold changed lengths: positions are off
        return text[:width]
    first = min(at for at, _ in found)
    start = max(0, first - width // 3)
    window = text[start : start + width]
    spans = []
    lowered = window.casefold()
    for needle in {n.casefold() for n in needles if n}:
        at = lowered.find(needle)
        while at >= 0:
            spans.append((at, at + len(needle)))
            at = lowered.find(needle, at + len(needle))
    merged: list[tuple[int, int]] = []
    for begin, end in sorted(spans):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((begin, end))
    out, last = [], 0
    for begin, end in merged:
        out += [window[last:begin], HIGHLIGHT_START, window[begin:end], HIGHLIGHT_END]
        last = end
    out.append(window[last:])
    return ellipsised("".join(out), text)


async def search(
    db: Queries, query: str, *, limit: int = 10, offset: int = 0
) -> tuple[list[SearchHit], int]:
    """Ranked results and how many there are (counted up to 1,000)."""
    terms = query_terms(query)
    if not terms or limit <= 0:
        return [], 0
    offset = max(0, offset)
    short = sum(len(t) for t in terms) < 3
    attempts = [tsquery_text(terms)]
    if not short:  # a one- or two-letter prefix matches half the vocabulary
        attempts.append(tsquery_text(terms, prefix=True))
    if len(terms) > 1:
        attempts.append(tsquery_text(terms, any_term=True))
    hits: list[SearchHit] = []
    total = 0
    for text in dict.fromkeys(attempts):  # drop repeats, keep order
        hits, total = await _word_search(db, text, limit, offset)
        if total:
            return hits, total
    if short:
        return await _substring_search(db, terms, limit, offset, titles_only=True)
    if any(is_agglutinative(t) for t in terms):
        return await _substring_search(db, terms, limit, offset, titles_only=False)
    return hits, total


async def _word_search(
    db: Queries, text: str, limit: int, offset: int
) -> tuple[list[SearchHit], int]:
    # Rank ids alone first, then read posts and build headlines for the page only:
    # ts_headline re-parses its text and is the slowest part by far. ts_rank_cd divided by
    # the document's length (normalisation 2) is the ranking that picks the same top result as
    # SQLite's bm25 for every query of the sample archive's test; plain ts_rank, which ignores
    # length, disagreed on a few.
    # 'kcrush' is the text search configuration of the schema (migrations/001_initial.sql).
    # to_tsquery is written out where it is used rather than computed once in a CTE: it is
    # immutable, so the planner folds it into a constant and can use the column's statistics.
    # A common word then walks the primary key backwards and stops after RANK_WINDOW matches;
    # behind a CTE the planner guessed 100 matches and fetched every one (15,000 of 20,000
    # posts for "album tour") before keeping the newest.
    rows = await db.fetch(
        f"""
        WITH recent AS (
            SELECT p.id, p.search_vector FROM posts p
             WHERE p.search_vector @@ to_tsquery('kcrush', $1)
             ORDER BY p.id DESC LIMIT $6
        ),
        ranked AS (
            SELECT r.id, ts_rank_cd($2::float4[], r.search_vector, to_tsquery('kcrush', $1), 2)
                   AS score
              FROM recent r
             ORDER BY score DESC, r.id DESC LIMIT $3 OFFSET $4
        )
        SELECT {POST_COLUMNS}, ranked.score,
               CASE WHEN to_tsvector('kcrush', p.teaser) @@ to_tsquery('kcrush', $1)
                    THEN ts_headline('kcrush', p.teaser, to_tsquery('kcrush', $1), $5)
                    ELSE ts_headline('kcrush', p.title, to_tsquery('kcrush', $1), $5)
               END AS snippet,
               to_tsvector('kcrush', p.teaser) @@ to_tsquery('kcrush', $1) AS from_teaser
          FROM ranked JOIN posts p ON p.id = ranked.id
         ORDER BY ranked.score DESC, p.id DESC
        """,
        text,
        RANK_WEIGHTS,
        limit,
        offset,
        _HEADLINE_OPTIONS,
        RANK_WINDOW,
    )
    hits = []
    for row in rows:
        source = row["teaser"] if row["from_teaser"] else row["title"]
        snippet = ellipsised(row["snippet"] or "", source)
        hits.append(SearchHit(post_from_record(row), snippet, float(row["score"])))
    if offset == 0 and len(hits) < limit:
        return hits, len(hits)
    count = await db.fetchval(
        "SELECT count(*) FROM (SELECT 1 FROM posts p "
        "WHERE p.search_vector @@ to_tsquery('kcrush', $1) LIMIT $2) AS m",
        text,
        COUNT_CAP,
    )
    return hits, int(count)


async def _substring_search(
    db: Queries, terms: Sequence[str], limit: int, offset: int, *, titles_only: bool
) -> tuple[list[SearchHit], int]:
    """Posts containing every term anywhere (titles only for a short query), newest first.

    Counting every match would scan the table, so the total is only known to reach the next
    page: one row more than the page is read, and its presence says whether there is more.
    """
    if titles_only:
        needles = [" ".join(terms)]
        where = "p.title ILIKE $1"
    else:
        needles = list(dict.fromkeys(terms))
        # One condition per term, each the indexed expression, so the trigram index serves all.
        where = " AND ".join(
            f"(p.title || ' ' || p.teaser) ILIKE ${n}" for n in range(1, len(needles) + 1)
        )
    n = len(needles)
    rows = await db.fetch(
        f"SELECT {POST_COLUMNS} FROM posts p WHERE {where} AND p.withdrawn_at IS NULL "
        f"ORDER BY {NEWEST_FIRST} LIMIT ${n + 1} OFFSET ${n + 2}",
        *[like_pattern(needle) for needle in needles],
        limit + 1,
        offset,
    )
    hits = []
    for row in rows[:limit]:
        if titles_only:
            snippet = row["teaser"][:FALLBACK_SNIPPET_CHARS]
        else:
            snippet = highlighted(row["teaser"], needles)
            if HIGHLIGHT_START not in snippet:
                snippet = highlighted(row["title"], needles)
        hits.append(SearchHit(post_from_record(row), snippet, 0.0))
    return hits, offset + len(rows)
