-- +goose Up
-- Webhooks of teams (issue 19): a webhook belongs to a project or to a
-- team (exactly one of project_id and team_id), as Vercel's team webhooks
-- are sent the notifications of every project the team owns.
ALTER TABLE webhooks ALTER COLUMN project_id DROP NOT NULL;
ALTER TABLE webhooks ADD COLUMN team_id TEXT REFERENCES teams (id) ON DELETE CASCADE;
ALTER TABLE webhooks ADD CONSTRAINT webhooks_one_owner CHECK ((project_id IS NULL) <> (team_id IS NULL));
CREATE INDEX webhooks_team ON webhooks (team_id, created_at);

-- +goose Down
-- Teams' webhooks (and their deliveries) are dropped.
DELETE FROM webhooks WHERE team_id IS NOT NULL;
DROP INDEX webhooks_team;
ALTER TABLE webhooks DROP CONSTRAINT webhooks_one_owner;
ALTER TABLE webhooks DROP COLUMN team_id;
ALTER TABLE webhooks ALTER COLUMN project_id SET NOT NULL;
