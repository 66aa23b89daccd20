-- +goose Up
-- How long an owner's audit log is kept (issue 19): whole days; every plan
-- that exists gets the free plan's (apogee.DefaultAuditLogDays).
ALTER TABLE plans ADD COLUMN audit_log_days BIGINT NOT NULL DEFAULT 90;

-- +goose Down
ALTER TABLE plans DROP COLUMN audit_log_days;
