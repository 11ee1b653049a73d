-- WordPress as the truth about a post, and its life after delivery (SQLite's 003 and 004).

-- The source kind's own note of where its next poll starts, JSON the kind reads.
ALTER TABLE sources ADD COLUMN cursor text;

-- true when the stored version came from the WordPress REST API: a feed's or a listing's
-- reading of the same post no longer changes it.
ALTER TABLE posts ADD COLUMN from_api boolean NOT NULL DEFAULT false;
-- The post's tags as one text (one per line), searchable; post_tags stays the list.
ALTER TABLE posts ADD COLUMN tags text NOT NULL DEFAULT '';
UPDATE posts SET tags = coalesce(
    (SELECT string_agg(tag, E'\n' ORDER BY tag) FROM post_tags t WHERE t.post_id = posts.id), '');
-- When the post stopped being public; NULL while it is. Withdrawn posts are left out of
-- latest, search, categories and digests.
ALTER TABLE posts ADD COLUMN withdrawn_at timestamptz;
-- WordPress's own id of the post: what the reconcile asks about, how a notice names it.
ALTER TABLE posts ADD COLUMN wp_id bigint;
-- Set when something about the post must reach its sent messages; the publisher clears it.
ALTER TABLE posts ADD COLUMN touched_at timestamptz;
CREATE INDEX posts_wp_id ON posts (wp_id) WHERE wp_id IS NOT NULL;
CREATE INDEX posts_touched ON posts (touched_at) WHERE touched_at IS NOT NULL;
UPDATE posts SET wp_id = substring(guid FROM '/\?p=([0-9]{1,18})$')::bigint
 WHERE guid ~ '/\?p=[0-9]{1,18}$';

-- Search knows public posts only, and their tags (weight C) beside title (A) and teaser (B).
ALTER TABLE posts DROP COLUMN search_vector;
ALTER TABLE posts ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    CASE WHEN withdrawn_at IS NULL THEN
        setweight(to_tsvector('kcrush', title), 'A') || setweight(to_tsvector('kcrush', teaser), 'B')
        || setweight(to_tsvector('kcrush', tags), 'C')
    END
) STORED;
CREATE INDEX posts_search ON posts USING gin (search_vector);

-- What a sent post message shows now: NULL the card (as in payload, which an edit replaces),
-- 'deleted', 'tombstone' or 'gone'.
ALTER TABLE outbox ADD COLUMN shown text;
