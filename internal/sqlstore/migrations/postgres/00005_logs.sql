-- +goose Up
-- Build and runtime log lines, by deployment, numbered without gaps.
CREATE TABLE deployment_logs (
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    seq           BIGINT NOT NULL,
    at            TIMESTAMPTZ NOT NULL,
    stream        TEXT NOT NULL,
    text          TEXT NOT NULL,
    PRIMARY KEY (deployment_id, seq)
);

-- +goose Down
DROP TABLE deployment_logs;
