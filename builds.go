package apogee

import (
	"context"
	"time"
)

// BuildStore is the durable build queue. A deployment with status queued
// is a job; a worker claims it (building), keeps a heartbeat while it
// builds, and ends it ready, error or canceled. Claims are atomic across
// processes sharing a database. Errors follow the Store conventions.
type BuildStore interface {
	// QueueBuild inserts d with status queued and no files (d.Source,
	// Branch and Commit say what to build).
	QueueBuild(ctx context.Context, d *Deployment) error
	// QueueUploaded turns uploading deployment id, a source folder
	// (SourceFolder), into a queued build; its manifest stays as the
	// source to build until FinishBuild replaces it with the output.
	// ECONFLICT if it is not uploading.
	QueueUploaded(ctx context.Context, id string) (*Deployment, error)
	// ClaimBuild marks the oldest queued deployment building for worker
	// at at and returns it; ErrNotFound when none is queued.
	ClaimBuild(ctx context.Context, worker string, at time.Time) (*Deployment, error)
	// BuildHeartbeat records that worker still builds id; ECONFLICT if
	// the deployment is no longer building or is another worker's.
	BuildHeartbeat(ctx context.Context, id, worker string, at time.Time) error
	// SetBuildCommit records the commit a queued or building deployment
	// builds (its SHA, subject, author and link). ECONFLICT if the
	// deployment has ended; ErrNotFound if there is none.
	SetBuildCommit(ctx context.Context, id string, c CommitInfo) error
	// SetBuildInfo records what a queued or building deployment builds
	// with (its framework preset and Node.js release). ECONFLICT if the
	// deployment has ended; ErrNotFound if there is none.
	SetBuildInfo(ctx context.Context, id string, b BuildInfo) error
	// FinishBuild stores the output manifest of a building deployment
	// (in place of the source manifest of a SourceFolder build), makes it
	// ready and, if promote, production, in one transaction that
	// moves the route version. ECONFLICT if the deployment is not
	// building.
	FinishBuild(ctx context.Context, id string, files []File, at time.Time, promote bool) (*Deployment, error)
	// EndBuild ends a queued or building deployment with status
	// StatusError or StatusCanceled and reason. ECONFLICT if it has
	// ended already.
	EndBuild(ctx context.Context, id string, status Status, reason string, at time.Time) (*Deployment, error)
	// SkipBuild ends a queued or building deployment as skipped: status
	// canceled, Skipped set, reason in Error. ECONFLICT if it has ended.
	// (QueueBuild of a deployment with Skipped set records it ended so.)
	SkipBuild(ctx context.Context, id, reason string, at time.Time) (*Deployment, error)
	// FailStaleBuilds ends as error, with reason, the building deployments
	// whose heartbeat is older than before or whose worker's name starts
	// with workerPrefix+"/" (a previous run of this node), and returns
	// them. An empty workerPrefix matches no worker.
	FailStaleBuilds(ctx context.Context, before time.Time, workerPrefix, reason string) ([]*Deployment, error)
	// RequeueStaleBuilds queues again the building deployments
	// FailStaleBuilds would end, of those taken over fewer than
	// maxTakeovers times so far, for another builder to start from
	// scratch; it counts the takeover and returns them.
	RequeueStaleBuilds(ctx context.Context, before time.Time, workerPrefix string, maxTakeovers int) ([]*Deployment, error)
}

// CommitInfo is what a deployment records of the commit it built.
type CommitInfo struct {
	SHA     string
	Message string // the subject line
	Author  string // the author's name
	URL     string // the commit on the repository's host; "" if unknown
	// Changed are the paths the push changed since the deployment's
	// DiffBase, when ChangedKnown (a build's fetch compared the two).
	Changed      []string
	ChangedKnown bool
}

// BuildInfo is what a deployment records of how it was built.
type BuildInfo struct {
	Framework   string // the preset's identifier ("vite", "nextjs", "static", …)
	NodeVersion string // the Node.js release, e.g. "22.12.0"; "" for the server's own
}
