-- +goose Up
-- GitHub Deployments (issue 20): the id of the Deployment made on GitHub
-- for a production build, so that its later statuses go to it.
CREATE TABLE github_deployments (
    deployment_id TEXT PRIMARY KEY REFERENCES deployments (id) ON DELETE CASCADE,
    github_id     BIGINT NOT NULL
);

-- +goose Down
DROP TABLE github_deployments;
