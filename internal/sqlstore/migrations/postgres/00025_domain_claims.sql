-- +goose Up
-- Custom domain claims (issue 10, item 6): an unverified domain is a claim
-- of one project and blocks no one; several projects may claim a name,
-- each with its own token, and the first to verify wins: at most one
-- verified row per name.
ALTER TABLE domains DROP CONSTRAINT domains_pkey;
ALTER TABLE domains ADD PRIMARY KEY (name, project_id);
CREATE UNIQUE INDEX domains_verified_name ON domains (name) WHERE verified_at IS NOT NULL;

-- +goose Down
-- Keeps the verified claim of each name, else the oldest.
DROP INDEX domains_verified_name;
DELETE FROM domains d WHERE EXISTS (SELECT 1 FROM domains o WHERE o.name = d.name AND o.project_id <> d.project_id
    AND ((o.verified_at IS NOT NULL AND d.verified_at IS NULL)
      OR ((o.verified_at IS NULL) = (d.verified_at IS NULL) AND (o.created_at < d.created_at
          OR o.created_at = d.created_at AND o.project_id < d.project_id))));
ALTER TABLE domains DROP CONSTRAINT domains_pkey;
ALTER TABLE domains ADD PRIMARY KEY (name);
