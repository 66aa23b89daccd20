-- +goose Up
-- App limits of plans (issue 11): per instance memory (MiB), CPUs and
-- processes; instances per app; releases kept; runtime log retention.
-- Every plan that exists gets the free plan's (apogee.DefaultApp*,
-- apogee.DefaultRuntimeLog*).
ALTER TABLE plans ADD COLUMN app_memory_mb INTEGER NOT NULL DEFAULT 512;
ALTER TABLE plans ADD COLUMN app_cpus REAL NOT NULL DEFAULT 1;
ALTER TABLE plans ADD COLUMN app_pids INTEGER NOT NULL DEFAULT 256;
ALTER TABLE plans ADD COLUMN app_instances INTEGER NOT NULL DEFAULT 3;
ALTER TABLE plans ADD COLUMN releases_kept INTEGER NOT NULL DEFAULT 10;
ALTER TABLE plans ADD COLUMN runtime_log_bytes INTEGER NOT NULL DEFAULT 104857600;
ALTER TABLE plans ADD COLUMN runtime_log_days INTEGER NOT NULL DEFAULT 7;

-- +goose Down
ALTER TABLE plans DROP COLUMN runtime_log_days;
ALTER TABLE plans DROP COLUMN runtime_log_bytes;
ALTER TABLE plans DROP COLUMN releases_kept;
ALTER TABLE plans DROP COLUMN app_instances;
ALTER TABLE plans DROP COLUMN app_pids;
ALTER TABLE plans DROP COLUMN app_cpus;
ALTER TABLE plans DROP COLUMN app_memory_mb;
