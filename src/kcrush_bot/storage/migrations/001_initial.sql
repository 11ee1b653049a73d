-- The post archive, its categories, sources' poll state, chats, subscriptions, the outbox,
-- digests, announcements and the audit log. Timestamps are ISO 8601 UTC text.

CREATE TABLE categories (
    slug        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    parent      TEXT REFERENCES categories(slug) ON DELETE SET NULL,
    aliases     TEXT NOT NULL DEFAULT '[]',        -- JSON list of names
    wp_id       INTEGER UNIQUE
);

CREATE TABLE posts (
    id            INTEGER PRIMARY KEY,
    url           TEXT NOT NULL UNIQUE,            -- canonical URL
    guid          TEXT UNIQUE,
    title         TEXT NOT NULL,
    teaser        TEXT NOT NULL DEFAULT '',
    image_url     TEXT,
    published_at  TEXT,
    modified_at   TEXT,
    source        TEXT,
    first_seen_at TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    -- 1 when subscribers should be told of this post; 0 when it was archived silently
    -- (a source's first sight, a backfill, the sample archive).
    pushable      INTEGER NOT NULL DEFAULT 0,
    enqueued_at   TEXT                              -- when the publisher fanned it out
);
CREATE INDEX posts_published ON posts (coalesce(published_at, first_seen_at) DESC, id DESC);
CREATE INDEX posts_to_publish ON posts (id) WHERE pushable = 1 AND enqueued_at IS NULL;

CREATE TABLE post_categories (
    post_id  INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    slug     TEXT NOT NULL REFERENCES categories(slug) ON DELETE CASCADE,
    PRIMARY KEY (post_id, slug)
) WITHOUT ROWID;
CREATE INDEX post_categories_slug ON post_categories (slug, post_id);

CREATE TABLE post_tags (
    post_id  INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    tag      TEXT NOT NULL,
    PRIMARY KEY (post_id, tag)
) WITHOUT ROWID;

-- Full-text index over title and teaser. unicode61 splits on spaces and punctuation (Hangul
-- runs stay one token, so "서울의" is a token); porter stems English words (interviews →
-- interview); prefix indexes make short prefixes such as "서울"* fast.
CREATE VIRTUAL TABLE posts_fts USING fts5(
    title, teaser,
    content='posts', content_rowid='id',
    tokenize="porter unicode61 remove_diacritics 2",
    prefix='2 3 4'
);
CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN
    INSERT INTO posts_fts (rowid, title, teaser) VALUES (new.id, new.title, new.teaser);
END;
CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, title, teaser)
    VALUES ('delete', old.id, old.title, old.teaser);
END;
CREATE TRIGGER posts_fts_update AFTER UPDATE OF title, teaser ON posts BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, title, teaser)
    VALUES ('delete', old.id, old.title, old.teaser);
    INSERT INTO posts_fts (rowid, title, teaser) VALUES (new.id, new.title, new.teaser);
END;

CREATE TABLE sources (
    name           TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    url            TEXT NOT NULL,
    etag           TEXT,
    last_modified  TEXT,
    first_seen_at  TEXT,                            -- NULL until the first successful poll
    last_polled_at TEXT,
    last_ok_at     TEXT,
    last_error     TEXT,
    failures       INTEGER NOT NULL DEFAULT 0,
    next_poll_at   TEXT
);

CREATE TABLE chats (
    key          TEXT PRIMARY KEY,                  -- "telegram:-100123", "telegram:-100123/7"
    platform     TEXT NOT NULL,
    chat_id      TEXT NOT NULL,
    thread_id    TEXT,
    title        TEXT,
    kind         TEXT,                              -- private, group, channel
    active       INTEGER NOT NULL DEFAULT 1,
    inactive_reason TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE TABLE subscriptions (
    id           INTEGER PRIMARY KEY,
    chat_key     TEXT NOT NULL REFERENCES chats(key) ON DELETE CASCADE ON UPDATE CASCADE,
    category     TEXT NOT NULL,
    mode         TEXT NOT NULL DEFAULT 'instant',   -- instant, daily, weekly
    keywords     TEXT NOT NULL DEFAULT '',          -- space-separated, all must match
    active       INTEGER NOT NULL DEFAULT 1,
    inactive_reason TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    UNIQUE (chat_key, category)
);
CREATE INDEX subscriptions_category ON subscriptions (category) WHERE active = 1;

CREATE TABLE digests (
    chat_key     TEXT PRIMARY KEY REFERENCES chats(key) ON DELETE CASCADE ON UPDATE CASCADE,
    frequency    TEXT NOT NULL,                     -- daily, weekly
    time         TEXT NOT NULL DEFAULT '09:00',
    timezone     TEXT NOT NULL DEFAULT 'Asia/Seoul',
    weekday      TEXT NOT NULL DEFAULT 'mon',
    last_sent_at TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE TABLE announcements (
    id            INTEGER PRIMARY KEY,
    text          TEXT NOT NULL,
    category      TEXT,
    author        TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'draft',    -- draft, confirmed, cancelled, sent
    created_at    TEXT NOT NULL,
    confirmed_at  TEXT,
    scheduled_for TEXT,
    enqueued_at   TEXT
);

-- The truth about what must reach which chat. One row per (item, chat): enqueueing twice is
-- a no-op. ``item`` is "post:ID", "announcement:ID" or "digest:CHAT:DATE".
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY,
    item          TEXT NOT NULL,
    chat_key      TEXT NOT NULL REFERENCES chats(key) ON DELETE CASCADE ON UPDATE CASCADE,
    payload       TEXT NOT NULL DEFAULT '{}',       -- JSON, what the worker needs to render
    sort_key      TEXT NOT NULL,                    -- publication order within the chat
    status        TEXT NOT NULL DEFAULT 'pending',  -- pending, sending, sent, failed, dropped
    attempts      INTEGER NOT NULL DEFAULT 0,
    due_at        TEXT NOT NULL,
    claimed_at    TEXT,
    sent_at       TEXT,
    message_id    TEXT,
    last_error    TEXT,
    created_at    TEXT NOT NULL,
    UNIQUE (item, chat_key)
);
CREATE INDEX outbox_due ON outbox (status, due_at);
CREATE INDEX outbox_chat_order ON outbox (chat_key, status, sort_key, id);

CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,                        -- "telegram:USER" or "operator"
    action    TEXT NOT NULL,
    chat_key  TEXT,
    detail    TEXT NOT NULL DEFAULT ''
);
