-- WebSub: one subscription per feed source whose document names a hub (as SQLite's 005).
CREATE TABLE websub (
    source           text COLLATE "C" PRIMARY KEY,
    hub              text NOT NULL,
    topic            text NOT NULL,
    secret           text NOT NULL,
    state            text NOT NULL,                 -- requested, verified, denied, failed, unsubscribing
    lease_seconds    integer NOT NULL,
    requested_at     timestamptz NOT NULL,
    verified_at      timestamptz,
    expires_at       timestamptz,
    last_error       text,
    deliveries       integer NOT NULL DEFAULT 0,
    last_delivery_at timestamptz
);
