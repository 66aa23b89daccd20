-- +goose Up
-- A team's display name (issue 19), as Vercel's teams have one beside
-- their slug: free text shown on its pages; "" shows the name (the slug,
-- the CLI's and the URLs' handle, teams.name).
ALTER TABLE teams ADD COLUMN display_name TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE teams DROP COLUMN display_name;
