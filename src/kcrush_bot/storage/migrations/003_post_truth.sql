-- WordPress as the truth about a post: where a source's next poll starts, which reading of a
-- post is the site's own record, and the post's tags searchable beside its title and teaser.

-- The source kind's own note of where its next poll starts (the WordPress kind: the newest
-- modification and publication times taken), JSON the kind reads.
ALTER TABLE sources ADD COLUMN cursor TEXT;

-- 1 when the stored version came from the WordPress REST API: its fields are WordPress's own
-- (featured image, teaser from the excerpt, categories, tags), and a feed's or a listing's
-- reading of the same post no longer changes it.
ALTER TABLE posts ADD COLUMN from_api INTEGER NOT NULL DEFAULT 0;

-- The post's tags as one text (one per line), for full-text search; post_tags stays the list.
ALTER TABLE posts ADD COLUMN tags TEXT NOT NULL DEFAULT '';
UPDATE posts SET tags = coalesce(
    (SELECT group_concat(tag, char(10)) FROM (SELECT tag FROM post_tags t
      WHERE t.post_id = posts.id ORDER BY tag)), '');

DROP TRIGGER posts_fts_insert;
DROP TRIGGER posts_fts_delete;
DROP TRIGGER posts_fts_update;
DROP TABLE posts_fts;
CREATE VIRTUAL TABLE posts_fts USING fts5(
    title, teaser, tags,
    content='posts', content_rowid='id',
    tokenize="porter unicode61 remove_diacritics 2",
    prefix='2 3 4'
);
CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN
    INSERT INTO posts_fts (rowid, title, teaser, tags)
    VALUES (new.id, new.title, new.teaser, new.tags);
END;
CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, title, teaser, tags)
    VALUES ('delete', old.id, old.title, old.teaser, old.tags);
END;
CREATE TRIGGER posts_fts_update AFTER UPDATE OF title, teaser, tags ON posts BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, title, teaser, tags)
    VALUES ('delete', old.id, old.title, old.teaser, old.tags);
    INSERT INTO posts_fts (rowid, title, teaser, tags) VALUES (new.id, new.title, new.teaser, new.tags);
END;
INSERT INTO posts_fts (posts_fts) VALUES ('rebuild');
