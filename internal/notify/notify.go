// Package notify turns deployment events on the bus into notifications
// for the people a project belongs to: live, to their open dashboard pages
// (Subscribe, served as Server-Sent Events by the dashboard), and as
// outgoing webhooks of the project (Sender: JSON with a Slack-compatible
// "text", signed with HMAC-SHA256, retried, never to private addresses
// unless the server allows them).
//
// The Notifier reads the bus in its own goroutine and never blocks it:
// live subscribers that fall behind lose notifications, and webhook
// deliveries wait in the outbox (the store, shared by every server) for
// the Sender's workers of any server.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/apogee-dev/apogee"
)

// Store is what the notifier reads: the project and deployment an event
// names.
type Store interface {
	ProjectByID(ctx context.Context, id string) (*apogee.Project, error)
	ProjectByName(ctx context.Context, name string) (*apogee.Project, error)
	DeploymentByID(ctx context.Context, id string) (*apogee.Deployment, error)
	// Members returns a team's members (none for an account that is no
	// team).
	Members(ctx context.Context, teamID string) ([]*apogee.Member, error)
	TeamByID(ctx context.Context, id string) (*apogee.Team, error)
}

// Notification is one thing a project's people are told. It is the body
// of a webhook delivery and the data of a live dashboard event.
type Notification struct {
	Type    string `json:"type"`
	Project string `json:"project,omitempty"`
	// Team is the name of the team that owns the project (or whose
	// webhook a ping tests); "" for a person's project.
	Team       string      `json:"team,omitempty"`
	Deployment *Deployment `json:"deployment,omitempty"`
	// Text says it in one line; it makes the body a valid Slack (and
	// Mattermost, Rocket.Chat) incoming-webhook message.
	Text string `json:"text"`
	// At is when it happened.
	At time.Time `json:"at"`
	// Instance, Reason and Count are an app's notifications' (app.crashed,
	// app.deploy_failed): which instance, why, and how many crashes since
	// the last app.crashed of the project.
	Instance string `json:"instance,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Count    int    `json:"count,omitempty"`

	projectID  string   // the project the webhooks of which get it
	teamID     string   // the team that owns it, whose webhooks get it too
	recipients []string // ids of the users who see it live
}

// Deployment is the deployment a notification is about.
type Deployment struct {
	ID           string        `json:"id"`
	URL          string        `json:"url"`
	DashboardURL string        `json:"dashboard_url,omitempty"`
	Status       apogee.Status `json:"status"`
	Target       string        `json:"target"`
	Production   bool          `json:"production"`
	Source       string        `json:"source,omitempty"`
	Branch       string        `json:"branch,omitempty"`
	Commit       string        `json:"commit,omitempty"`
	PullRequest  int           `json:"pull_request,omitempty"`
	Error        string        `json:"error,omitempty"`
	CreatedAt    time.Time     `json:"created_at"`
	ReadyAt      *time.Time    `json:"ready_at,omitempty"`
}

// Config is what a Notifier needs. Store and Bus are required.
type Config struct {
	Store Store
	Bus   apogee.EventBus
	// Webhooks delivers the projects' outgoing webhooks (nil: none).
	Webhooks *Sender
	// Reporters are told each notification once, by the server whose
	// event it was (as webhooks are sent), e.g. to set commit statuses.
	Reporters []Reporter
	// SiteURL returns the public URL of a host label.
	SiteURL func(label string) string
	// BaseURL returns the dashboard's URL without a trailing slash.
	BaseURL func() string
	Log     *slog.Logger
	Now     func() time.Time
}

// Reporter is told notifications; it must not block for long (it runs
// on the notifier's loop) and handles its own failures.
type Reporter interface {
	Report(ctx context.Context, note Notification)
}

// PullRequestChanged is the type of the notification that a pull
// request was opened, updated or closed (Reason: GitHub's action), about
// its newest deployment. Only Reporters are told it: it is news for the
// repository's host, not for people or outgoing webhooks.
const PullRequestChanged = apogee.EventPullRequest

// DeploymentQueued (a build was queued) and DeploymentSkipped (a
// monorepo's push did not touch the project, or its ignored build step
// said to skip; the reason in Deployment.Error) are told only to
// Reporters too: the repository's host shows them as a check's queued
// and skipped states, and people have nothing to act on.
const (
	DeploymentQueued  = "deployment.queued"
	DeploymentSkipped = "deployment.skipped"
)

// reporterOnly reports whether a notification of type typ is for
// Reporters alone.
func reporterOnly(typ string) bool {
	return typ == PullRequestChanged || typ == DeploymentQueued || typ == DeploymentSkipped
}

// ProjectID is the id of the notification's project.
func (n Notification) ProjectID() string { return n.projectID }

// Notifier turns bus events into notifications. Its Subscribe is safe for
// concurrent use.
type Notifier struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	subs   map[string]map[chan Notification]struct{} // by user id
	closed bool                                      // Run has ended
}

// liveBuffer is how many notifications a live subscriber may lag behind.
const liveBuffer = 64

// New returns a Notifier; Run starts it.
func New(cfg Config) (*Notifier, error) {
	if cfg.Store == nil || cfg.Bus == nil {
		return nil, errors.New("notify: Store and Bus are required")
	}
	if cfg.SiteURL == nil {
		cfg.SiteURL = func(label string) string { return "http://" + label + ".localhost/" }
	}
	if cfg.BaseURL == nil {
		cfg.BaseURL = func() string { return "http://localhost" }
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Notifier{cfg: cfg, log: cfg.Log, subs: make(map[string]map[chan Notification]struct{})}, nil
}

// Run reads the bus until ctx ends. When it returns, every live
// subscription is closed (so the dashboard's streams end and a server can
// shut down) and later ones are closed at once.
func (n *Notifier) Run(ctx context.Context) error {
	defer n.closeAll()
	events, err := n.cfg.Bus.Subscribe(ctx)
	if err != nil {
		return fmt.Errorf("notify: subscribe: %w", err)
	}
	for e := range events {
		note, ok, err := n.notification(ctx, e)
		if err != nil {
			if ctx.Err() == nil {
				n.log.Warn("notification lost", "type", e.Type, "deployment", e.DeploymentID, "err", err)
			}
			continue
		}
		if !ok {
			continue
		}
		if reporterOnly(note.Type) {
			if !e.Remote {
				for _, r := range n.cfg.Reporters {
					r.Report(ctx, note)
				}
			}
			continue
		}
		n.publish(note)
		// Every server sees every event; the one that published it sends
		// the webhooks, so each is sent once.
		if n.cfg.Webhooks != nil && !e.Remote {
			n.cfg.Webhooks.Dispatch(ctx, note)
		}
		if !e.Remote {
			for _, r := range n.cfg.Reporters {
				r.Report(ctx, note)
			}
		}
	}
	return nil
}

// notification returns what e tells people, if anything: a deployment
// that is ready, failed, was canceled or began building.
func (n *Notifier) notification(ctx context.Context, e apogee.Event) (Notification, bool, error) {
	var typ string
	switch e.Type {
	case apogee.EventDeploymentReady:
		typ = apogee.NotifyDeploymentReady
	case apogee.EventBuildStarted:
		typ = apogee.NotifyDeploymentBuilding
	case apogee.EventDeploymentFailed:
		typ = apogee.NotifyDeploymentError
	case apogee.EventBuildEnded, apogee.EventBuildCanceled:
		// A ready build was told by its deployment.ready; only failures
		// and cancellations are news here (decided by the stored status).
		// A build canceled by a person ends with build.canceled alone.
	case apogee.EventPullRequest:
		typ = PullRequestChanged
	case apogee.EventBuildQueued:
		typ = DeploymentQueued
	case apogee.EventAppCrashed:
		return n.appNotification(ctx, apogee.NotifyAppCrashed, e)
	case apogee.EventAppDeployFailed:
		return n.appNotification(ctx, apogee.NotifyAppDeployFailed, e)
	default:
		return Notification{}, false, nil
	}
	d, err := n.cfg.Store.DeploymentByID(ctx, e.DeploymentID)
	if err != nil {
		return Notification{}, false, fmt.Errorf("deployment %s: %w", e.DeploymentID, err)
	}
	if e.Type == apogee.EventBuildEnded || e.Type == apogee.EventBuildCanceled {
		switch d.Status {
		case apogee.StatusError:
			if e.Type == apogee.EventBuildCanceled {
				return Notification{}, false, nil
			}
			typ = apogee.NotifyDeploymentError
		case apogee.StatusCanceled:
			if d.Skipped {
				// A monorepo's push that did not touch the project, or its
				// ignored build step: nothing happened to tell people;
				// Reporters show it skipped.
				if e.Type != apogee.EventBuildEnded {
					return Notification{}, false, nil
				}
				typ = DeploymentSkipped
				break
			}
			typ = apogee.NotifyDeploymentCanceled
		default:
			return Notification{}, false, nil
		}
	}
	p, err := n.cfg.Store.ProjectByID(ctx, d.ProjectID)
	if err != nil {
		return Notification{}, false, fmt.Errorf("project of %s: %w", d.ID, err)
	}
	note := n.about(ctx, typ, p, d)
	if typ == PullRequestChanged {
		note.Reason = e.Reason
	}
	return note, true, nil
}

// appNotification returns the notification of an app's event: its
// project (by id, or by name from a runtime), the deployment of the
// release when it is the project's, and the event's instance and reason.
func (n *Notifier) appNotification(ctx context.Context, typ string, e apogee.Event) (Notification, bool, error) {
	var p *apogee.Project
	var err error
	if e.ProjectID != "" {
		p, err = n.cfg.Store.ProjectByID(ctx, e.ProjectID)
	} else {
		p, err = n.cfg.Store.ProjectByName(ctx, e.Project)
	}
	if err != nil {
		return Notification{}, false, fmt.Errorf("project of %s event: %w", e.Type, err)
	}
	var d *apogee.Deployment
	if e.DeploymentID != "" {
		if d, err = n.cfg.Store.DeploymentByID(ctx, e.DeploymentID); err != nil || d.ProjectID != p.ID {
			d = nil // a release that is no deployment of the project's: say nothing of it
		}
	}
	note := n.about(ctx, typ, p, d)
	note.Instance, note.Reason, note.Count = e.Instance, e.Reason, e.Count
	note.Text = text(note)
	return note, true, nil
}

// about returns the notification of type typ about deployment d of
// project p (d nil: about the project only, as a ping is).
func (n *Notifier) about(ctx context.Context, typ string, p *apogee.Project, d *apogee.Deployment) Notification {
	members, err := n.cfg.Store.Members(ctx, p.OwnerID)
	if err != nil {
		n.log.Warn("notification: members of the project's owner", "project", p.Name, "err", err)
	}
	note := Notification{Type: typ, Project: p.Name, At: n.cfg.Now().UTC(), projectID: p.ID, recipients: Recipients(p, members)}
	if len(members) > 0 {
		// A team's project: the team's webhooks are told too, whoever
		// owned it before (a moved project follows its owner now).
		note.teamID = p.OwnerID
		if t, err := n.cfg.Store.TeamByID(ctx, p.OwnerID); err == nil {
			note.Team = t.Name
		} else {
			n.log.Warn("notification: the project's team", "project", p.Name, "err", err)
		}
	}
	if d != nil {
		note.Deployment = &Deployment{
			ID: d.ID, URL: n.cfg.SiteURL(d.Host), DashboardURL: n.cfg.BaseURL() + "/deployments/" + d.ID,
			Status: d.Status, Target: d.Target, Production: d.Status == apogee.StatusReady && p.ProductionID == d.ID,
			Source: d.Source, Branch: d.Branch, Commit: d.Commit, PullRequest: d.PullRequest, Error: d.Error,
			CreatedAt: d.CreatedAt, ReadyAt: d.ReadyAt,
		}
	}
	note.Text = text(note)
	return note
}

// Recipients are the users who see a project's notifications live: its
// owner, or for a team's project (members given) every member of the team.
func Recipients(p *apogee.Project, members []*apogee.Member) []string {
	if len(members) == 0 {
		return []string{p.OwnerID}
	}
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.UserID
	}
	return ids
}

// text says a notification in one line.
func text(n Notification) string {
	d := n.Deployment
	switch n.Type {
	case apogee.NotifyAppCrashed:
		s := n.Project + ": instance " + n.Instance
		if d != nil {
			s += " of deployment " + d.ID
		}
		s += " crashed: " + n.Reason
		if n.Count > 1 {
			s += fmt.Sprintf(" (%d crashes since the last notice)", n.Count)
		}
		return s
	case apogee.NotifyAppDeployFailed:
		s := n.Project + ": "
		if d != nil {
			s += "deployment " + d.ID + " "
		} else {
			s += "a release "
		}
		return s + "could not go live: " + n.Reason + "; the release that served keeps serving"
	}
	if d == nil {
		if n.Project == "" {
			return fmt.Sprintf("team %s: test notification from Apogee; this team webhook works.", n.Team)
		}
		return fmt.Sprintf("%s: test notification from Apogee; this webhook works.", n.Project)
	}
	what := fmt.Sprintf("%s: deployment %s", n.Project, d.ID)
	if d.Branch != "" {
		what += " of " + d.Branch
		if d.Commit != "" {
			what += "@" + d.Commit[:min(7, len(d.Commit))]
		}
	}
	switch n.Type {
	case apogee.NotifyDeploymentReady:
		s := what + " is ready at " + d.URL
		if d.Production {
			s += " (production)"
		}
		return s
	case apogee.NotifyDeploymentError:
		if d.Error != "" {
			return what + " failed: " + d.Error
		}
		return what + " failed"
	case apogee.NotifyDeploymentCanceled:
		return what + " was canceled"
	case apogee.NotifyDeploymentBuilding:
		return what + " is building"
	}
	return what + ": " + n.Type
}

// Subscribe returns the notifications for user id from now until ctx
// ends, when the channel is closed. A subscriber that falls liveBuffer
// behind loses the notifications that do not fit (they are a courtesy:
// the pages show the truth when they load).
func (n *Notifier) Subscribe(ctx context.Context, userID string) <-chan Notification {
	ch := make(chan Notification, liveBuffer)
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		close(ch)
		return ch
	}
	if n.subs[userID] == nil {
		n.subs[userID] = make(map[chan Notification]struct{})
	}
	n.subs[userID][ch] = struct{}{}
	n.mu.Unlock()
	context.AfterFunc(ctx, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if _, ok := n.subs[userID][ch]; !ok {
			return // closed by closeAll
		}
		delete(n.subs[userID], ch)
		if len(n.subs[userID]) == 0 {
			delete(n.subs, userID)
		}
		close(ch)
	})
	return ch
}

// closeAll ends every live subscription, now and to come.
func (n *Notifier) closeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	for id, chans := range n.subs {
		for ch := range chans {
			close(ch)
		}
		delete(n.subs, id)
	}
}

// publish hands note to its recipients' live subscribers without waiting.
func (n *Notifier) publish(note Notification) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, id := range note.recipients {
		for ch := range n.subs[id] {
			select {
			case ch <- note:
			default:
				n.log.Warn("live notification dropped for a slow page", "user", id, "type", note.Type)
			}
		}
	}
}
