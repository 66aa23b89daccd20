-- +goose Up
-- Invitations to make an account (issue 5, --signup invite). Only the
-- SHA-256 of the link's random token is stored. A revoked invite is
-- deleted; a used one keeps used_at.
CREATE TABLE invites (
    id         TEXT PRIMARY KEY,
    email      TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    invited_by TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX invites_pending ON invites (expires_at) WHERE used_at IS NULL;

-- +goose Down
DROP TABLE invites;
