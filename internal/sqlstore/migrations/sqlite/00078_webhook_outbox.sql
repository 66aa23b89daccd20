-- +goose Up
-- Durable webhook deliveries (issue 16): a delivery is a row here from
-- the moment it is queued until it is sent or given up. A server claims
-- due rows with a lease (lease_holder, lease_until); a row whose lease
-- lapsed (its server stopped) is claimed again by any server. Attempts
-- counts the POSTs made; due_at is when the next may be made (backoff).
-- id is the delivery's X-Apogee-Delivery, the same on every attempt.
CREATE TABLE webhook_outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    webhook_id   TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    project_id   TEXT NOT NULL,
    event        TEXT NOT NULL,
    body         TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    due_at       TEXT NOT NULL,
    lease_holder TEXT NOT NULL DEFAULT '',
    lease_until  TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (due_at);

-- +goose Down
DROP TABLE webhook_outbox;
