-- WebSub: one subscription per feed source whose document names a hub. The secret is the
-- subscription's hub.secret (deliveries are signed with it), kept so that a restart still
-- recognises them. state: requested (asked, awaiting the hub's verification), verified,
-- denied (the hub refused), failed (the hub could not be asked), unsubscribing.
CREATE TABLE websub (
    source           TEXT PRIMARY KEY,
    hub              TEXT NOT NULL,
    topic            TEXT NOT NULL,
    secret           TEXT NOT NULL,
    state            TEXT NOT NULL,
    lease_seconds    INTEGER NOT NULL,
    requested_at     TEXT NOT NULL,
    verified_at      TEXT,
    expires_at       TEXT,
    last_error       TEXT,
    deliveries       INTEGER NOT NULL DEFAULT 0,
    last_delivery_at TEXT
);
