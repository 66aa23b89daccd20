-- +goose Up
-- Delegated DNS zones (issue 18): Apogee's authoritative DNS server
-- answers for them. A zone has one owner; project_id, when set, is the
-- project its apex and www serve. serial moves with every change of the
-- zone's records. A record's name is relative to its zone ('@' = apex).
CREATE TABLE dns_zones (
    name        TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id  TEXT REFERENCES projects (id) ON DELETE SET NULL,
    serial      BIGINT NOT NULL DEFAULT 1,
    verified_at TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX dns_zones_owner ON dns_zones (owner_id, name);
CREATE TABLE dns_records (
    id         TEXT PRIMARY KEY,
    zone       TEXT NOT NULL REFERENCES dns_zones (name) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    type       TEXT NOT NULL,
    value      TEXT NOT NULL,
    ttl        INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX dns_records_zone ON dns_records (zone, name, type, created_at);

-- +goose Down
DROP TABLE dns_records;
DROP TABLE dns_zones;
