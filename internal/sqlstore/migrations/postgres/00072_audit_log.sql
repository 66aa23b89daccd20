-- +goose Up
-- The audit log (issue 19): every change, who made it, when and from
-- where. owner_id is the account (a person or a team) whose log it is, ''
-- for the platform's own (an admin's changes to users and plans). No
-- foreign keys: an entry outlives what it names, until its owner's plan's
-- retention (audit_log_days) drops it. actor and project keep the email
-- and the name they had then.
CREATE TABLE audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    owner_id    TEXT NOT NULL DEFAULT '',
    actor_id    TEXT NOT NULL DEFAULT '',
    actor       TEXT NOT NULL DEFAULT '',
    client_addr TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    target      TEXT NOT NULL DEFAULT '',
    project_id  TEXT NOT NULL DEFAULT '',
    project     TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_owner ON audit_log (owner_id, id);
CREATE INDEX audit_log_at ON audit_log (at);

-- +goose Down
DROP TABLE audit_log;
