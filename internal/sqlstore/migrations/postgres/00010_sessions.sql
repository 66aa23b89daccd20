-- +goose Up
-- Dashboard sessions (issue 5): only the SHA-256 of the cookie's random
-- 256-bit id is stored. Expired rows are deleted at sign-in.
CREATE TABLE sessions (
    hash         BYTEA PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- +goose Down
DROP TABLE sessions;
