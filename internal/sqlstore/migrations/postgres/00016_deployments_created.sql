-- +goose Up
-- The admin view reads deployments across projects by time: deployments
-- per day since a date, and the newest N of the whole platform.
CREATE INDEX deployments_created ON deployments (created_at, id);

-- +goose Down
DROP INDEX deployments_created;
