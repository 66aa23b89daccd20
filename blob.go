package apogee

import (
	"context"
	"io"
	"time"
)

// Blobs is a content-addressed blob store: every blob is named by the
// lower-case hex SHA-256 of its bytes, so a blob, once stored, never
// changes. Implementations are safe for concurrent use and honour ctx.
type Blobs interface {
	// Missing returns, in input order, the hashes that are not stored.
	Missing(ctx context.Context, hashes []string) ([]string, error)
	// Put reads a blob from r and stores it under hash. It reads at most
	// max bytes (max <= 0: no limit) and returns ETOOLARGE past that, and
	// EINVALID if the bytes do not hash to hash. On any error nothing is
	// stored under hash. Storing a blob that exists already is a no-op.
	Put(ctx context.Context, hash string, r io.Reader, max int64) (int64, error)
	// Get returns a blob's bytes; ErrNotFound if it is not stored. It
	// reads the whole blob into memory: for large blobs, or part of one,
	// use Open.
	Get(ctx context.Context, hash string) ([]byte, error)
	// Size returns a blob's size in bytes; ErrNotFound if it is not
	// stored.
	Size(ctx context.Context, hash string) (int64, error)
	// Open returns a reader of length bytes of a blob from offset, which
	// must lie inside the blob (length < 0: up to its end; a length past
	// the end reads what there is); ErrNotFound if it is not stored.
	// Reads fail once ctx ends; the caller must close the reader.
	Open(ctx context.Context, hash string, offset, length int64) (io.ReadCloser, error)
	Close() error
}

// HeldBlob is a blob a user holds, with its size as received (-1: not
// known).
type HeldBlob struct {
	SHA256 string
	Size   int64
}

// BlobHoldStore records who holds which blob. A blob's hash is a
// capability: whoever could name a hash and get its bytes served would
// read another account's files, so a manifest may reference a blob
// without sending it only if the project's owner holds it. A user holds
// a blob once they uploaded its bytes (a file of a deployment, a ZIP) or
// a build of theirs produced them; holding outlives the deployments that
// use it. Errors follow the Store conventions.
type BlobHoldStore interface {
	// HoldBlobs records that userID holds blobs, as of at. Recording a
	// held blob again is a no-op, except that a known size replaces an
	// unknown one.
	HoldBlobs(ctx context.Context, userID string, blobs []HeldBlob, at time.Time) error
	// HeldBlobs returns those of hashes userID holds, with their sizes.
	HeldBlobs(ctx context.Context, userID string, hashes []string) (map[string]int64, error)
}

// Event types carried by the EventBus. Events say what changed and where
// (ids); they are never the truth: a subscriber that acts on one reads
// the record it names from the store, so a forged, stale or lost event
// costs at most a reload. The platform's services publish them after the
// change is committed.
const (
	EventDeploymentReady = "deployment.ready" // a deployment's own host serves it
	EventAliasChanged    = "alias.changed"    // a project's production host moved
	EventProjectDeleted  = "project.deleted"  // every host of a project is gone
	EventBuildQueued     = "build.queued"     // a build waits for a worker
	EventBuildStarted    = "build.started"    // a worker began building DeploymentID
	EventBuildCanceled   = "build.canceled"   // stop building DeploymentID
	EventBuildEnded      = "build.ended"      // a build ended: ready, error or canceled
	// EventDeploymentFailed: an upload ended in error at finalize (an
	// invalid config file); builds say so with EventBuildEnded.
	EventDeploymentFailed = "deployment.failed"
	// EventDomainChanged: custom domain Host of ProjectID was verified or
	// removed.
	EventDomainChanged = "domain.changed"
	// EventZoneChanged: DNS zone Host (apogee.Zone) or its records
	// changed; the DNS server reloads its zones.
	EventZoneChanged = "zone.changed"
	// EventAppCrashed: instance Instance of release DeploymentID of
	// project Project crashed, for Reason (Count crashes of the project's
	// instances since the last such event). The runtime that saw it
	// publishes it; nothing in the store records it.
	EventAppCrashed = "app.crashed"
	// EventAppDeployFailed: deployment DeploymentID of ProjectID could
	// not go live, for Reason: its instances did not become ready.
	EventAppDeployFailed = "app.deploy_failed"
	// EventPullRequest: a pull request of ProjectID was opened, updated
	// or closed (Reason: GitHub's action); DeploymentID is its newest
	// deployment, which names it. Reporters bring the pull request's comment up to
	// date.
	EventPullRequest = "pull_request.changed"
	// EventResync: events may have been missed (a slow subscriber lost
	// some, or a bus spanning processes lost its connection or messages);
	// catch up from the store. A bus hands it to its own subscribers only.
	EventResync = "events.resync"
)

// Event tells other roles, in this process or another, that something
// changed: a deployment, a project's routes, a build.
type Event struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id,omitempty"`
	Project      string `json:"project,omitempty"`
	DeploymentID string `json:"deployment_id,omitempty"`
	Host         string `json:"host,omitempty"`
	// Instance and Reason say which app instance an app event is about
	// and why (EventAppCrashed, EventAppDeployFailed); Count how many
	// times it happened since the last event of its kind.
	Instance string `json:"instance,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Count    int    `json:"count,omitempty"`
	// Remote is set by a bus that spans processes on events another
	// process published; work that must happen once per platform, not once
	// per process (outgoing webhooks), is done only where Remote is false.
	Remote bool `json:"-"`
}

// EventBus fans events out to every subscriber. Publish returns once the
// event is handed to the bus; delivery is at most once per subscriber, so
// subscribers must be able to rebuild their state from the store.
type EventBus interface {
	Publish(ctx context.Context, e Event) error
	// Subscribe delivers every event published after it returns, until ctx
	// ends; then the channel is closed.
	Subscribe(ctx context.Context) (<-chan Event, error)
	Close() error
}
