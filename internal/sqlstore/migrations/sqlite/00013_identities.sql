-- +goose Up
-- Outside accounts users sign in with (issue 5: GitHub). The tokens are
-- sealed by the server's secret box before they reach this table.
CREATE TABLE identities (
    provider           TEXT NOT NULL,
    provider_user_id   TEXT NOT NULL,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    login              TEXT NOT NULL,
    access_token       TEXT NOT NULL,
    refresh_token      TEXT NOT NULL DEFAULT '',
    access_expires_at  TEXT,
    refresh_expires_at TEXT,
    reconnect          TEXT NOT NULL DEFAULT '',
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    PRIMARY KEY (provider, provider_user_id),
    UNIQUE (user_id, provider)
);

-- +goose Down
DROP TABLE identities;
