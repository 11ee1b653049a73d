-- Each platform's send budget, shared by the replicas (kcrush_bot.shared_budget): the next free
-- send slot of the bot as a whole, and until when a 429 paused the platform. Replicas take
-- small chunks of slots from ``next_free`` and push it forward, so together they never send
-- faster than the limit. UNLOGGED: the row is rewritten several times a second and worth
-- nothing after a crash (a missing row starts afresh at now), so it costs no WAL or fsync.
CREATE UNLOGGED TABLE send_budgets (
    platform      text COLLATE "C" PRIMARY KEY,     -- "telegram", "discord"
    next_free     timestamptz NOT NULL,
    paused_until  timestamptz NOT NULL
);

-- The pauses that used to be lease rows named "pause:<platform>" now live in send_budgets.
DELETE FROM leases WHERE starts_with(name, 'pause:');
