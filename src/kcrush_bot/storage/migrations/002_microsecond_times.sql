-- One stored form for every time: fixed-width UTC with microseconds, as the outbox already
-- wrote its due times. Rows written with whole seconds ("2024-05-01T12:00:00+00:00", 25
-- characters) gain ".000000" so that text order stays time order across old and new rows.
UPDATE posts SET published_at = substr(published_at, 1, 19) || '.000000' || substr(published_at, 20)
 WHERE length(published_at) = 25 AND substr(published_at, 20, 1) = '+';
UPDATE posts SET modified_at = substr(modified_at, 1, 19) || '.000000' || substr(modified_at, 20)
 WHERE length(modified_at) = 25 AND substr(modified_at, 20, 1) = '+';
UPDATE posts SET first_seen_at = substr(first_seen_at, 1, 19) || '.000000' || substr(first_seen_at, 20)
 WHERE length(first_seen_at) = 25 AND substr(first_seen_at, 20, 1) = '+';
UPDATE posts SET updated_at = substr(updated_at, 1, 19) || '.000000' || substr(updated_at, 20)
 WHERE length(updated_at) = 25 AND substr(updated_at, 20, 1) = '+';
UPDATE posts SET enqueued_at = substr(enqueued_at, 1, 19) || '.000000' || substr(enqueued_at, 20)
 WHERE length(enqueued_at) = 25 AND substr(enqueued_at, 20, 1) = '+';

UPDATE sources SET first_seen_at = substr(first_seen_at, 1, 19) || '.000000' || substr(first_seen_at, 20)
 WHERE length(first_seen_at) = 25 AND substr(first_seen_at, 20, 1) = '+';
UPDATE sources SET last_polled_at = substr(last_polled_at, 1, 19) || '.000000' || substr(last_polled_at, 20)
 WHERE length(last_polled_at) = 25 AND substr(last_polled_at, 20, 1) = '+';
UPDATE sources SET last_ok_at = substr(last_ok_at, 1, 19) || '.000000' || substr(last_ok_at, 20)
 WHERE length(last_ok_at) = 25 AND substr(last_ok_at, 20, 1) = '+';
UPDATE sources SET next_poll_at = substr(next_poll_at, 1, 19) || '.000000' || substr(next_poll_at, 20)
 WHERE length(next_poll_at) = 25 AND substr(next_poll_at, 20, 1) = '+';

UPDATE chats SET created_at = substr(created_at, 1, 19) || '.000000' || substr(created_at, 20)
 WHERE length(created_at) = 25 AND substr(created_at, 20, 1) = '+';
UPDATE chats SET updated_at = substr(updated_at, 1, 19) || '.000000' || substr(updated_at, 20)
 WHERE length(updated_at) = 25 AND substr(updated_at, 20, 1) = '+';

UPDATE subscriptions SET created_at = substr(created_at, 1, 19) || '.000000' || substr(created_at, 20)
 WHERE length(created_at) = 25 AND substr(created_at, 20, 1) = '+';
UPDATE subscriptions SET updated_at = substr(updated_at, 1, 19) || '.000000' || substr(updated_at, 20)
 WHERE length(updated_at) = 25 AND substr(updated_at, 20, 1) = '+';

UPDATE digests SET last_sent_at = substr(last_sent_at, 1, 19) || '.000000' || substr(last_sent_at, 20)
 WHERE length(last_sent_at) = 25 AND substr(last_sent_at, 20, 1) = '+';
UPDATE digests SET created_at = substr(created_at, 1, 19) || '.000000' || substr(created_at, 20)
 WHERE length(created_at) = 25 AND substr(created_at, 20, 1) = '+';
UPDATE digests SET updated_at = substr(updated_at, 1, 19) || '.000000' || substr(updated_at, 20)
 WHERE length(updated_at) = 25 AND substr(updated_at, 20, 1) = '+';

UPDATE announcements SET created_at = substr(created_at, 1, 19) || '.000000' || substr(created_at, 20)
 WHERE length(created_at) = 25 AND substr(created_at, 20, 1) = '+';
UPDATE announcements SET confirmed_at = substr(confirmed_at, 1, 19) || '.000000' || substr(confirmed_at, 20)
 WHERE length(confirmed_at) = 25 AND substr(confirmed_at, 20, 1) = '+';
UPDATE announcements SET scheduled_for = substr(scheduled_for, 1, 19) || '.000000' || substr(scheduled_for, 20)
 WHERE length(scheduled_for) = 25 AND substr(scheduled_for, 20, 1) = '+';
UPDATE announcements SET enqueued_at = substr(enqueued_at, 1, 19) || '.000000' || substr(enqueued_at, 20)
 WHERE length(enqueued_at) = 25 AND substr(enqueued_at, 20, 1) = '+';

UPDATE outbox SET due_at = substr(due_at, 1, 19) || '.000000' || substr(due_at, 20)
 WHERE length(due_at) = 25 AND substr(due_at, 20, 1) = '+';
UPDATE outbox SET claimed_at = substr(claimed_at, 1, 19) || '.000000' || substr(claimed_at, 20)
 WHERE length(claimed_at) = 25 AND substr(claimed_at, 20, 1) = '+';
UPDATE outbox SET sent_at = substr(sent_at, 1, 19) || '.000000' || substr(sent_at, 20)
 WHERE length(sent_at) = 25 AND substr(sent_at, 20, 1) = '+';
UPDATE outbox SET created_at = substr(created_at, 1, 19) || '.000000' || substr(created_at, 20)
 WHERE length(created_at) = 25 AND substr(created_at, 20, 1) = '+';

UPDATE audit_log SET at = substr(at, 1, 19) || '.000000' || substr(at, 20)
 WHERE length(at) = 25 AND substr(at, 20, 1) = '+';
