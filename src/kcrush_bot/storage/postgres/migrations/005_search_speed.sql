-- Search that reads only what it ranks and shows (storage/postgres/search.py).
--
-- A word search ranks a query's 1,000 newest matches. Finding them was the slow part: the
-- planner either read every match from the table (a word in a third of the archive: 30,000
-- rows) or walked the newest posts until enough matched, and for words that go together
-- ("oh my girl") its estimates were off a hundredfold, so it read every match of those too.
-- 100,000 posts: 17 ms typical, 250 ms for the slowest queries.
--
-- 1. Each post's search vector also holds the blocks of ids it belongs to, as lexemes: "#f390"
--    for the block of 256 (ids 99,840 to 100,095) and "#c24" for the block of 4,096. The parser
--    never makes a word of "#", so no text finds them; a query can say "and in one of these
--    blocks", and the GIN index then intersects the two itself: only matches in those blocks are
--    read from the table.
-- 2. And the first two syllables of each Hangul word, as "~서울" (for 서울의, 서울에서, …). A
--    Hangul term is a prefix ('서울':*), which GIN answers by collecting every row of every word
--    it begins (30 ms for two common stems); kcrush_match_query asks for the stem instead, one
--    entry of the index.
-- Neither has a position, so ranking, which keeps weights A, B and C only (ts_filter), and
-- snippets see the vector as it was.
CREATE FUNCTION kcrush_search_vector(title text, teaser text, tags text, id bigint)
    RETURNS tsvector
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path FROM CURRENT  -- where 'kcrush' is, whoever inserts (a restore sets none)
AS $$
    SELECT words
           || array_to_tsvector(ARRAY(
                  SELECT DISTINCT '~' || left(lexeme, 2) FROM unnest(words)
                   WHERE lexeme ~ '^[가-힣]{2}'))
           || array_to_tsvector(ARRAY['#f' || (id / 256)::text, '#c' || (id / 4096)::text])
      FROM (SELECT setweight(to_tsvector('kcrush', title), 'A')
                   || setweight(to_tsvector('kcrush', teaser), 'B')
                   || setweight(to_tsvector('kcrush', tags), 'C') AS words) AS parsed
$$;
-- The query the index is asked: a two-syllable Hangul prefix as its stem.
CREATE FUNCTION kcrush_match_query(query tsquery) RETURNS tsquery
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT regexp_replace(query::text, '''([가-힣]{2})'':\*', '''~\1''', 'g')::tsquery
$$;
ALTER TABLE posts DROP COLUMN search_vector;
ALTER TABLE posts ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    CASE WHEN withdrawn_at IS NULL THEN kcrush_search_vector(title, teaser, tags, id) END
) STORED;
-- A GIN index's pending list (fastupdate) is read in full by every search of the index until
-- it is merged into the index, at 4 MB of unsorted entries by default or by a vacuum. Every word
-- search reads this index (up to three times), so new posts go straight into it; the indexes
-- only the fallbacks read keep a pending list, at 256 kB, which batches a bulk load's entries
-- (db copy, a backfill: three times as fast as with none) and stays quick to read.
CREATE INDEX posts_search ON posts USING gin (search_vector) WITH (fastupdate = off);
ALTER INDEX posts_search_text SET (gin_pending_list_limit = 256);
SELECT gin_clean_pending_list('posts_search_text');

-- "In one of the blocks ``first_block`` to ``last_block``" of a size ('f' 256, 'c' 4,096 ids).
CREATE FUNCTION kcrush_id_blocks(size text, first_block bigint, last_block bigint)
    RETURNS tsquery
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT string_agg(quote_literal('#' || size || block), ' | ')::tsquery
      FROM generate_series(first_block, last_block) AS block
$$;

-- A query's ``wanted`` newest matches, each with its rank, in at most three rounds, each planned
-- with its own values (EXECUTE): the small blocks holding the newest ``wanted`` ids and one more;
-- if they hold fewer matches, as many large blocks below as that density says hold the rest,
-- and half as many again (at most 16, 65,536 ids); if still fewer, every older match, as a rare
-- word's few are read from the index alone. Few blocks per round: the index checks each
-- candidate against the whole query, and 256 blocks made that 80 ms.
CREATE FUNCTION kcrush_newest_matches(query tsquery, weights real[], wanted integer)
    RETURNS TABLE (id bigint, score real)
    LANGUAGE plpgsql STABLE
AS $function$
DECLARE
    newest_first constant text :=
        'SELECT p.id, ts_rank_cd($2, ts_filter(p.search_vector, ''{a,b,c}''), $3, 2) '
        'FROM posts p WHERE p.search_vector @@ $1 ORDER BY p.id DESC LIMIT $4';
    older_first constant text :=
        'SELECT p.id, ts_rank_cd($2, ts_filter(p.search_vector, ''{a,b,c}''), $3, 2) '
        'FROM posts p WHERE p.search_vector @@ $1 AND p.id < $5 ORDER BY p.id DESC LIMIT $4';
    matching constant tsquery := kcrush_match_query(query);
    newest bigint;
    below bigint;  -- the rounds so far have covered every id from here up
    first_block bigint;
    last_block bigint;
    found bigint;
    more bigint;
BEGIN
    SELECT max(p.id) INTO newest FROM posts p;
    IF newest IS NULL OR wanted <= 0 THEN
        RETURN;
    END IF;
    last_block := newest / 256;
    first_block := greatest(last_block - wanted / 256 - 1, 0);
    RETURN QUERY EXECUTE newest_first
        USING matching && kcrush_id_blocks('f', first_block, last_block), weights, query, wanted;
    GET DIAGNOSTICS found = ROW_COUNT;
    below := first_block * 256;
    IF found >= wanted OR below = 0 THEN
        RETURN;
    END IF;
    more := ceil(1.5 * (wanted - found) * (newest - below + 1) / greatest(found, 1) / 4096);
    last_block := (below - 1) / 4096;
    first_block := greatest(last_block - least(more, 16) + 1, 0);
    RETURN QUERY EXECUTE older_first
        USING matching && kcrush_id_blocks('c', first_block, last_block), weights, query,
              wanted - found, below;
    GET DIAGNOSTICS more = ROW_COUNT;
    found := found + more;
    below := first_block * 4096;
    IF found >= wanted OR below = 0 THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE older_first USING matching, weights, query, wanted - found, below;
END
$function$;

-- 3. Short queries (one or two characters) look for titles containing them ("xo" finds "EXO").
--    Trigrams cannot serve a needle shorter than three characters, so a rare needle read every
--    title (a second at 100,000 posts). Each title's one- and two-character pieces, in lower
--    case, are indexed instead: a title containing the needle has every piece of it. The index
--    is not partial: the planner reads an expression's statistics only from a whole index, and
--    without them it guessed every needle in 0.5 % of titles. Computing a title's pieces costs
--    some 40 µs, which COST tells the planner: walking the newest titles and computing each
--    one's pieces is for needles in many titles only.
CREATE FUNCTION kcrush_grams(t text, n integer) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT ARRAY(SELECT substr(lower(t), i, n) FROM generate_series(1, char_length(t) - n + 1) AS i)
$$;
CREATE FUNCTION kcrush_title_grams(title text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE COST 1000
AS $$
    SELECT string_to_array(lower(title), NULL)
           || ARRAY(SELECT substr(lower(title), i, 2)
                      FROM generate_series(1, char_length(title) - 1) AS i)
$$;
CREATE INDEX posts_title_grams ON posts USING gin (kcrush_title_grams(title))
    WITH (gin_pending_list_limit = 256);
