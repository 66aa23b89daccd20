package apogee

import (
	"context"
	"time"
)

// GitRepo is the shared record of a project's repository pushed with
// `git push` to the platform, so that any node can take a push and any
// builder can build it (issue 16). The repository's objects are git
// bundles in the blob store: applying Bundles in order to an empty
// repository gives every object Refs names. A node keeps a local copy as
// a cache and brings it up to date from this record.
type GitRepo struct {
	ProjectID string
	// Version counts the pushes that changed the repository (0: none
	// stored yet).
	Version int64
	// Refs are the repository's refs after the last push, "<sha> <ref>"
	// per line, sorted by ref.
	Refs string
	// Bundles are the blob hashes of the bundles, oldest first.
	Bundles []string
	// LeaseHolder holds the repository until LeaseUntil: the node taking
	// a push. Pushes to one repository are serialized across nodes.
	LeaseHolder string
	LeaseUntil  time.Time
	UpdatedAt   time.Time
}

// GitRepoStore keeps the shared records of pushed repositories. Safe for
// concurrent use across processes; honours ctx.
type GitRepoStore interface {
	// GitRepo returns project id's repository record; ErrNotFound if
	// nothing was ever pushed through the shared store.
	GitRepo(ctx context.Context, projectID string) (*GitRepo, error)
	// LeaseGitRepo gives holder the repository's lease until until,
	// making the record (version 0) if there is none, when the lease is
	// free, lapsed (its until is not after now) or holder's already, and
	// returns the record. ECONFLICT while another holder's lease runs;
	// ErrNotFound if the project does not exist.
	LeaseGitRepo(ctx context.Context, projectID, holder string, until, now time.Time) (*GitRepo, error)
	// SaveGitRepo stores r as version r.Version, which must be one past
	// the stored version, while holder still holds the lease (lapsed or
	// not: nobody took it over). ECONFLICT otherwise: the push that made
	// r must not be acknowledged.
	SaveGitRepo(ctx context.Context, r *GitRepo, holder string) error
	// ReleaseGitRepo ends holder's lease; a lease held by another is left
	// alone.
	ReleaseGitRepo(ctx context.Context, projectID, holder string) error
}
