-- +goose Up
-- Request log limits of plans (issue 15): whole days and records of each
-- project's request log. Every plan that exists gets the free plan's
-- (apogee.DefaultRequestLogDays, apogee.DefaultRequestLogRows).
ALTER TABLE plans ADD COLUMN request_log_days BIGINT NOT NULL DEFAULT 7;
ALTER TABLE plans ADD COLUMN request_log_rows BIGINT NOT NULL DEFAULT 1000000;

-- +goose Down
ALTER TABLE plans DROP COLUMN request_log_rows;
ALTER TABLE plans DROP COLUMN request_log_days;
