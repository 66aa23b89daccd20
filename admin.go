package apogee

import (
	"context"
	"time"
)

// AdminStore answers the admin view's questions about the whole
// platform. Errors follow the Store conventions.
type AdminStore interface {
	// SystemFigures counts users, projects, deployments and builds now
	// running and queued, sums the bytes of the blobs that records hold
	// (StoredBytes), and counts deployments created per UTC day from
	// since on (days with none are left out; DeploymentsPerDay is in day
	// order).
	SystemFigures(ctx context.Context, since time.Time) (*SystemFigures, error)
	// ProjectSummaries returns every project by name with its owner's
	// email and its newest deployment (nil if it has none).
	ProjectSummaries(ctx context.Context) ([]*ProjectSummary, error)
	// RecentDeployments returns the newest deployments of every project,
	// newest first, at most limit of them (limit <= 0: all).
	RecentDeployments(ctx context.Context, limit int) ([]*Deployment, error)
}

// SystemFigures are counts over the whole platform, as the store knows
// them (the edge's traffic is counted by each process: see EdgeTraffic).
type SystemFigures struct {
	Users         int `json:"users"`
	Projects      int `json:"projects"`
	Deployments   int `json:"deployments"`
	BuildsRunning int `json:"builds_running"`
	BuildsQueued  int `json:"builds_queued"`
	// StoredBytes is the size of every distinct blob that a manifest, a
	// compressed variant or an uploaded ZIP refers to: what the blob store
	// holds for the platform's records, each blob once.
	StoredBytes       int64      `json:"stored_bytes"`
	DeploymentsPerDay []DayCount `json:"deployments_per_day"`
}

// DayCount is a number of events on one UTC day ("2026-03-01").
type DayCount struct {
	Day   string `json:"day"`
	Count int    `json:"count"`
}

// DayLayout is the form of DayCount.Day.
const DayLayout = "2006-01-02"

// ProjectSummary is a project as the admin view lists it.
type ProjectSummary struct {
	Project    *Project
	OwnerEmail string
	Last       *Deployment // the newest deployment, nil if none
}

// EdgeTraffic is what the edge of the answering process has served since
// it started: every request, whatever its status, and the response body
// bytes it wrote.
type EdgeTraffic struct {
	Requests uint64 `json:"requests"`
	Bytes    uint64 `json:"bytes"`
	// AccessDropped is how many request records the edge dropped, its
	// access buffer being full (apogee_access_dropped_total): requests the
	// analytics and the request log do not show.
	AccessDropped uint64 `json:"access_dropped"`
}

// PlatformTraffic is every project's traffic over the admin figures'
// last TrafficFigureWindow, from the request records.
type PlatformTraffic struct {
	Since    time.Time `json:"since"`
	Until    time.Time `json:"until"`
	Requests int64     `json:"requests"`
	// Visitors sums each project's unique visitors: a person who visits
	// two projects counts in each (the visitor hash includes the project).
	Visitors int64 `json:"visitors"`
	Bytes    int64 `json:"bytes"`
	Errors   int64 `json:"errors"` // 5xx
	// Series is by hour, oldest first, every hour of the window filled in.
	Series []TrafficPoint `json:"series"`
	// TopProjects are the projects with the most requests (Key is the
	// project's name), at most TopProjects of them.
	TopProjects []Count `json:"top_projects"`
}

// TrafficFigureWindow is the window of the admin figures' traffic, and
// TopProjects how many projects it ranks.
const (
	TrafficFigureWindow = 24 * time.Hour
	TopProjects         = 10
)

// AdminFigures is the answer of GET /api/v1/admin/figures.
type AdminFigures struct {
	SystemFigures
	// Days is the window DeploymentsPerDay covers, one entry per UTC day
	// with zero days filled in, oldest first.
	Days int `json:"days"`
	// Edge is nil when this process has no edge to ask.
	Edge *EdgeTraffic `json:"edge"`
	// Traffic is the platform's traffic of the last TrafficFigureWindow.
	Traffic *PlatformTraffic `json:"traffic"`
	At      time.Time        `json:"at"`
}

// AdminProjectView is a project as GET /api/v1/admin/projects lists it.
type AdminProjectView struct {
	*ProjectView
	OwnerEmail     string          `json:"owner_email"`
	LastDeployment *DeploymentView `json:"last_deployment"`
}
