-- +goose Up
-- Teams (issue 19). A team is an account, as a person is: a users row of
-- kind 'team' (no password, an email of the form "team:<id>" that no
-- person can have), so that everything that belongs to an owner (projects,
-- the plan, usage, held blobs, zones) belongs to a team the same way.
-- teams holds what only a team has: its name (the CLI's and the URLs'
-- handle); team_members who may act for it and how; team_invites the links
-- that make someone a member, of which only the SHA-256 of the token is
-- kept.
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'user' CHECK (kind IN ('user', 'team'));

CREATE TABLE teams (
    id         TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);

CREATE TABLE team_members (
    team_id    TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'member', 'viewer')),
    created_at TEXT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

CREATE TABLE team_invites (
    id          TEXT PRIMARY KEY,
    team_id     TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    email       TEXT NOT NULL DEFAULT '',
    role        TEXT NOT NULL CHECK (role IN ('owner', 'member', 'viewer')),
    token_hash  BLOB NOT NULL UNIQUE,
    invited_by  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    accepted_at TEXT,
    accepted_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX team_invites_team ON team_invites (team_id, created_at);

-- +goose Down
DROP TABLE team_invites;
DROP TABLE team_members;
DROP TABLE teams;
DELETE FROM users WHERE kind = 'team';
ALTER TABLE users DROP COLUMN kind;
