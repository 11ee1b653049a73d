-- A post's whole life after it is published: withdrawn and restored, edited, and the messages
-- already sent for it kept in step.

-- When the post stopped being public (draft, private, a password, trash, deleted); NULL while
-- it is public. A withdrawn post is left out of latest, search, categories and digests.
ALTER TABLE posts ADD COLUMN withdrawn_at TEXT;
-- WordPress's own id of the post (the REST API's id, a feed guid's ?p=<id>): what the
-- reconcile asks WordPress about, and how a push notice names the post.
ALTER TABLE posts ADD COLUMN wp_id INTEGER;
-- Set when something about the post must reach the messages sent for it (a visible edit, a
-- withdrawal, a return); the publisher turns it into outbox rows and clears it.
ALTER TABLE posts ADD COLUMN touched_at TEXT;
CREATE INDEX posts_wp_id ON posts (wp_id) WHERE wp_id IS NOT NULL;
CREATE INDEX posts_touched ON posts (touched_at) WHERE touched_at IS NOT NULL;
UPDATE posts SET wp_id = CAST(substr(guid, instr(guid, '?p=') + 3) AS INTEGER)
 WHERE guid LIKE '%/?p=%' AND substr(guid, instr(guid, '?p=') + 3) GLOB '[0-9]*'
   AND substr(guid, instr(guid, '?p=') + 3) NOT GLOB '*[^0-9]*';

-- What a sent post message shows now: NULL the card (as in ``payload``, which an edit
-- replaces), 'deleted' once deleted on the platform, 'tombstone' once edited to say the post
-- was withdrawn.
ALTER TABLE outbox ADD COLUMN shown TEXT;

-- Search knows only public posts: a withdrawn post leaves the index and a restored one
-- comes back, by the same triggers that follow edits.
DROP TRIGGER posts_fts_insert;
DROP TRIGGER posts_fts_delete;
DROP TRIGGER posts_fts_update;
CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts WHEN new.withdrawn_at IS NULL BEGIN
    INSERT INTO posts_fts (rowid, title, teaser, tags)
    VALUES (new.id, new.title, new.teaser, new.tags);
END;
CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts WHEN old.withdrawn_at IS NULL BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, title, teaser, tags)
    VALUES ('delete', old.id, old.title, old.teaser, old.tags);
END;
CREATE TRIGGER posts_fts_update AFTER UPDATE OF title, teaser, tags, withdrawn_at ON posts BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, title, teaser, tags)
    SELECT 'delete', old.id, old.title, old.teaser, old.tags WHERE old.withdrawn_at IS NULL;
    INSERT INTO posts_fts (rowid, title, teaser, tags)
    SELECT new.id, new.title, new.teaser, new.tags WHERE new.withdrawn_at IS NULL;
END;
