-- +goose Up
-- The Node.js an app's release was built with and runs on (issue 11,
-- issue 13 item 7): a version such as 22.12.0, '' for the server's own.
ALTER TABLE releases ADD COLUMN node_version TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE releases DROP COLUMN node_version;
