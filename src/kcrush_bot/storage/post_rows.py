"""A post's reads in SQLite's words: the columns every read selects, newest first, and a
category with its descendants. Shared by the posts repository's modules; the row is made back
into a ``Post`` by ``storage.rows.post_of``, as PostgreSQL's (``postgres/records.py``) is."""

from __future__ import annotations

from kcrush_bot.core.models import SAMPLE_SOURCE

POST_COLUMNS = (
    "p.id, p.url, p.guid, p.title, p.teaser, p.image_url, p.published_at, p.modified_at, "
    "p.tags, p.wp_id, (SELECT group_concat(slug, ' ') FROM post_categories pc WHERE pc.post_id = p.id) AS cats"
)
# Real posts before the bundled sample's (see ``SAMPLE_SOURCE``), then newest first.
NEWEST_FIRST = (
    f"(p.source IS '{SAMPLE_SOURCE}') ASC, coalesce(p.published_at, p.first_seen_at) DESC, "
    "p.id DESC"
)
CATEGORY_TREE = (
    "WITH RECURSIVE tree(slug) AS ("
    " SELECT ? UNION SELECT c.slug FROM categories c JOIN tree ON c.parent = tree.slug)"
)
