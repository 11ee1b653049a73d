"""Search on PostgreSQL, behaving as the SQLite store's FTS5 search does.

The same cascade of attempts, each tried only when the one before found nothing: every word
whole (stemmed), every word as a prefix (a word still being typed), any of the words. Ranking
is ``ts_rank_cd`` over the stored ``search_vector``, the title weighted ten times the teaser,
among the 1,000 most recently stored matches (as bm25 is on SQLite); snippets come from
``ts_headline`` with the same highlight marks.

Finding those newest matches is ``kcrush_newest_matches`` (migration 005): a few rounds, each
asking the GIN index for matches in a range of recent id blocks, so that only rows it ranks are
read from the table, however common the words. A search is one statement: the window, the
page of it, the page's posts and snippets.

Hangul: the default parser keeps a run of Hangul as one word (``서울의``), as FTS5's unicode61
does, and Hangul terms are always prefix-matched, so ``서울`` finds ``서울의`` through the
word index, in any database locale. What a word index cannot find is Hangul inside a word
(``콘서트`` in ``서울콘서트``): when the word attempts find nothing for a query with Hangul,
a substring match over title and teaser runs, served by a trigram (pg_trgm) index.

A query under three characters that no word matches falls back to titles containing it, found
through an index of titles' one- and two-character pieces (trigrams need three).

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
# Ranking scores every match it considers, each read from the table; a common word matches most
# of the archive, so only this many of a query's most recently stored matches are ranked: as
# many as a total counts, so every page a total promises is inside the ranking.
RANK_WINDOW = 1000
COUNT_CAP = RANK_WINDOW
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
    # The window of newest matches with their ranks (kcrush_newest_matches), the page of it,
    # then posts and headlines for the page only: ts_headline re-parses its text and is the
    # slowest part by far. ts_rank_cd divided by the document's length (normalisation 2) is the
    # ranking that picks the same top result as SQLite's bm25 for every query of the sample
    # archive's test; plain ts_rank, which ignores length, disagreed on a few. Whether the
    # teaser matches is asked of its part of the stored vector (weight B), not of a second
    # parse. 'kcrush' is the text search configuration of the schema (migrations/001_initial.sql);
    # to_tsquery is immutable, so the planner folds it into a constant.
    rows = await db.fetch(
        f"""
        WITH newest AS MATERIALIZED (
            SELECT m.id, m.score
              FROM kcrush_newest_matches(to_tsquery('kcrush', $1), $2::real[], $6) AS m
        ),
        page AS (
            SELECT n.id, n.score, (SELECT count(*) FROM newest) AS matches
              FROM newest n ORDER BY n.score DESC, n.id DESC LIMIT $3 OFFSET $4
        )
        SELECT {POST_COLUMNS}, page.score, page.matches, t.from_teaser,
               ts_headline('kcrush', CASE WHEN t.from_teaser THEN p.teaser ELSE p.title END,
                           to_tsquery('kcrush', $1), $5) AS snippet
          FROM page JOIN posts p ON p.id = page.id
         CROSS JOIN LATERAL (
               SELECT ts_filter(p.search_vector, '{{b}}') @@ to_tsquery('kcrush', $1)
                      AS from_teaser
         ) AS t
         ORDER BY page.score DESC, p.id DESC
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
    if rows:
        return hits, min(int(rows[0]["matches"]), COUNT_CAP)
    count = await db.fetchval(  # a page past the last: how far the matches go
        "SELECT count(*) FROM kcrush_newest_matches(to_tsquery('kcrush', $1), $2::real[], $3)",
        text,
        RANK_WEIGHTS,
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
    values: list[object]
    if titles_only:
        # A title containing the needle has every one- or two-character piece of it (migration
        # 005's index). The pieces are computed from the value, a constant the planner weighs
        # against the index's statistics, so a needle in many titles walks the newest ones
        # instead; strpos, cheaper than computing a title's pieces, is what that walk tests
        # first. (ILIKE would do as well, but its guessed selectivity misled the planner into
        # sorting 15,000 titles for "서".)
        needles = [" ".join(terms)]
        values = [needles[0]]
        where = (
            "kcrush_title_grams(p.title) @> kcrush_grams($1, least(char_length($1), 2)) "
            "AND strpos(lower(p.title), lower($1)) > 0"
        )
    else:
        needles = list(dict.fromkeys(terms))
        # One condition per term, each the indexed expression, so the trigram index serves all.
        values = [like_pattern(needle) for needle in needles]
        where = " AND ".join(
            f"(p.title || ' ' || p.teaser) ILIKE ${n}" for n in range(1, len(needles) + 1)
        )
    n = len(values)
    rows = await db.fetch(
        f"SELECT {POST_COLUMNS} FROM posts p WHERE {where} AND p.withdrawn_at IS NULL "
        f"ORDER BY {NEWEST_FIRST} LIMIT ${n + 1} OFFSET ${n + 2}",
        *values,
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
