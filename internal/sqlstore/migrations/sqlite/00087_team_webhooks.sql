-- +goose Up
-- Webhooks of teams (issue 19): a webhook belongs to a project or to a
-- team (exactly one of project_id and team_id), as Vercel's team webhooks
-- are sent the notifications of every project the team owns. SQLite
-- cannot drop a NOT NULL: webhooks is made again, and webhook_outbox
-- with it (its rows would go with the old table's implicit DELETE, and
-- its foreign key must name the new one).
CREATE TABLE webhooks_new (
    id          TEXT PRIMARY KEY,
    project_id  TEXT REFERENCES projects (id) ON DELETE CASCADE,
    team_id     TEXT REFERENCES teams (id) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    events      TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    last_status TEXT NOT NULL DEFAULT '',
    last_at     TEXT,
    last_code   INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    CHECK ((project_id IS NULL) <> (team_id IS NULL))
);
INSERT INTO webhooks_new (id, project_id, url, secret, events, created_at, last_status, last_at, last_code, last_error)
    SELECT id, project_id, url, secret, events, created_at, last_status, last_at, last_code, last_error FROM webhooks;
CREATE TABLE webhook_outbox_new (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    webhook_id   TEXT NOT NULL REFERENCES webhooks_new (id) ON DELETE CASCADE,
    project_id   TEXT NOT NULL,
    event        TEXT NOT NULL,
    body         TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    due_at       TEXT NOT NULL,
    lease_holder TEXT NOT NULL DEFAULT '',
    lease_until  TEXT,
    created_at   TEXT NOT NULL
);
INSERT INTO webhook_outbox_new (seq, id, webhook_id, project_id, event, body, attempts, due_at, lease_holder, lease_until, created_at)
    SELECT seq, id, webhook_id, project_id, event, body, attempts, due_at, lease_holder, lease_until, created_at FROM webhook_outbox;
DROP TABLE webhook_outbox;
DROP TABLE webhooks;
ALTER TABLE webhooks_new RENAME TO webhooks;
ALTER TABLE webhook_outbox_new RENAME TO webhook_outbox;
CREATE INDEX webhooks_project ON webhooks (project_id, created_at);
CREATE INDEX webhooks_team ON webhooks (team_id, created_at);
CREATE INDEX webhook_outbox_due ON webhook_outbox (due_at);

-- +goose Down
-- Teams' webhooks (and their deliveries) are dropped.
DELETE FROM webhooks WHERE team_id IS NOT NULL;
CREATE TABLE webhooks_old (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    events      TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    last_status TEXT NOT NULL DEFAULT '',
    last_at     TEXT,
    last_code   INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT ''
);
INSERT INTO webhooks_old (id, project_id, url, secret, events, created_at, last_status, last_at, last_code, last_error)
    SELECT id, project_id, url, secret, events, created_at, last_status, last_at, last_code, last_error FROM webhooks;
CREATE TABLE webhook_outbox_old (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    webhook_id   TEXT NOT NULL REFERENCES webhooks_old (id) ON DELETE CASCADE,
    project_id   TEXT NOT NULL,
    event        TEXT NOT NULL,
    body         TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    due_at       TEXT NOT NULL,
    lease_holder TEXT NOT NULL DEFAULT '',
    lease_until  TEXT,
    created_at   TEXT NOT NULL
);
INSERT INTO webhook_outbox_old (seq, id, webhook_id, project_id, event, body, attempts, due_at, lease_holder, lease_until, created_at)
    SELECT seq, id, webhook_id, project_id, event, body, attempts, due_at, lease_holder, lease_until, created_at FROM webhook_outbox;
DROP TABLE webhook_outbox;
DROP TABLE webhooks;
ALTER TABLE webhooks_old RENAME TO webhooks;
ALTER TABLE webhook_outbox_old RENAME TO webhook_outbox;
CREATE INDEX webhooks_project ON webhooks (project_id, created_at);
CREATE INDEX webhook_outbox_due ON webhook_outbox (due_at);
