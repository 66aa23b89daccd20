-- +goose Up
-- The build queue: queued deployments are jobs; a worker that claims one
-- records its name and keeps a heartbeat.
ALTER TABLE deployments ADD COLUMN build_worker TEXT NOT NULL DEFAULT '';
-- What a queued build is asked for: skip the dependency cache; the ZIP of
-- the source tree (a blob hash) when it was uploaded rather than cloned.
ALTER TABLE deployments ADD COLUMN build_no_cache BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE deployments ADD COLUMN source_blob TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN build_heartbeat_at TIMESTAMPTZ;
CREATE INDEX deployments_queued ON deployments (created_at, id) WHERE status = 'queued';
CREATE INDEX deployments_building ON deployments (build_heartbeat_at) WHERE status = 'building';

-- +goose Down
DROP INDEX deployments_building;
DROP INDEX deployments_queued;
ALTER TABLE deployments DROP COLUMN build_heartbeat_at;
ALTER TABLE deployments DROP COLUMN source_blob;
ALTER TABLE deployments DROP COLUMN build_no_cache;
ALTER TABLE deployments DROP COLUMN build_worker;
