-- +goose Up
-- PostgreSQL partitions the request log by day here; SQLite keeps one
-- table, pruned in batches of rows.
SELECT 1;

-- +goose Down
SELECT 1;
