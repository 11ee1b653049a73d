-- latest, a category's posts and the short-query fallback list real posts before the bundled
-- sample's, then newest first (post_rows.NEWEST_FIRST). An index in that very order lets them
-- stop after a page; without it every call sorted the whole archive.
CREATE INDEX posts_newest ON posts (
    (source IS 'sample'),
    coalesce(published_at, first_seen_at) DESC,
    id DESC
);
