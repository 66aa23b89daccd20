-- +goose Up
-- What a build detected and ran with (issue 13): the framework preset's
-- identifier ("vite", "nextjs", "static", …) and the Node.js release,
-- as Vercel's deployments show them. Both '' for uploads of built files.
ALTER TABLE deployments ADD COLUMN framework TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN node_version TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE deployments DROP COLUMN node_version;
ALTER TABLE deployments DROP COLUMN framework;
