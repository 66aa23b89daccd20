-- +goose Up
-- The blob garbage collector asks which hashes any manifest still holds.
CREATE INDEX deployment_files_by_hash ON deployment_files (sha256);

-- +goose Down
DROP INDEX deployment_files_by_hash;
