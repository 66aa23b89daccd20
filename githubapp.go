package apogee

import (
	"context"
	"time"
)

// AppProject links a project to the installation of the platform's
// GitHub App that grants its repository: the app's webhooks build it and
// the installation's token clones it and sets its commit statuses.
type AppProject struct {
	ProjectID      string
	InstallationID int64
	Repo           string // owner/name, lower case
	CreatedAt      time.Time
}

// GitHubAppStore keeps which projects build through the GitHub App.
type GitHubAppStore interface {
	// LinkAppProject links (or links again) a project to an installation.
	// ENOTFOUND if the project does not exist.
	LinkAppProject(ctx context.Context, l AppProject) error
	// AppProject returns a project's link (ENOTFOUND: none).
	AppProject(ctx context.Context, projectID string) (*AppProject, error)
	// AppProjects returns the projects of installation built from repo
	// (lower case; "" for every repository of the installation).
	AppProjects(ctx context.Context, installationID int64, repo string) ([]AppProject, error)
	// UnlinkAppProjects removes the links of installation to repos (nil:
	// all its links; GitHub uninstalled the app) and returns how many.
	UnlinkAppProjects(ctx context.Context, installationID int64, repos []string) (int, error)
}
