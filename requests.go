package apogee

import (
	"context"
	"time"
)

// Request is one request the edge answered, as the traffic analytics and
// the request log keep it (issue 15). It holds no client address and no
// cookie: Visitor is a hash of a salt that changes every UTC day, the
// client's address, its User-Agent and the project, so a visitor is
// counted once a day and cannot be traced across days.
type Request struct {
	ID           int64         `json:"id"`   // set by the store, increasing
	Time         time.Time     `json:"time"` // kept to the millisecond
	ProjectID    string        `json:"project_id"`
	DeploymentID string        `json:"deployment_id"`
	Host         string        `json:"host"`
	Method       string        `json:"method"`
	Path         string        `json:"path"` // without the query string
	Status       int           `json:"status"`
	Bytes        int64         `json:"bytes"` // body bytes sent
	Duration     time.Duration `json:"duration_ns"`
	CacheHit     bool          `json:"cache_hit"`
	Referrer     string        `json:"referrer,omitempty"` // the referring page's host, not the edge's own
	Country      string        `json:"country,omitempty"`  // ISO code, with --geoip-db
	Device       string        `json:"device"`             // a Device* value
	Visitor      string        `json:"-"`                  // the daily hash; never leaves the server
}

// Device classes of a request's User-Agent.
const (
	DeviceDesktop = "desktop"
	DeviceMobile  = "mobile"
	DeviceTablet  = "tablet"
	DeviceBot     = "bot"
	DeviceOther   = "other"
)

// RequestQuery selects records of a project's request log.
type RequestQuery struct {
	Since, Until time.Time // zero: unbounded
	AfterID      int64     // only records with a larger ID (following)
	StatusClass  int       // 1–5 for 1xx–5xx; 0: any status
	Path         string    // exact path, or a prefix ending in "*"
	DeploymentID string    // "": every deployment
	Limit        int       // most recent Limit records (oldest first); ≤ 0: 1,000
}

// TrafficQuery selects what Traffic sums.
type TrafficQuery struct {
	Since, Until time.Time     // Until zero: now
	DeploymentID string        // "": every deployment
	Bucket       time.Duration // series step: a minute, an hour or a day
	Top          int           // rows of each table (≤ 0: 10)
}

// Traffic sums a project's requests over a range.
type Traffic struct {
	Since     time.Time        `json:"since"`
	Until     time.Time        `json:"until"`
	Requests  int64            `json:"requests"`
	Visitors  int64            `json:"visitors"`
	Bytes     int64            `json:"bytes"`
	Status    map[string]int64 `json:"status"` // "2xx" → count
	CacheHits int64            `json:"cache_hits"`
	P50       time.Duration    `json:"p50_ns"`
	P95       time.Duration    `json:"p95_ns"`
	P99       time.Duration    `json:"p99_ns"`
	Series    []TrafficPoint   `json:"series"`
	Paths     []Count          `json:"paths"`
	Referrers []Count          `json:"referrers"`
	NotFound  []Count          `json:"not_found"`
	Countries []Count          `json:"countries"`
	Devices   []Count          `json:"devices"`
}

// TrafficPoint is one step of Traffic.Series.
type TrafficPoint struct {
	Time     time.Time `json:"time"`
	Requests int64     `json:"requests"`
	Visitors int64     `json:"visitors"`
	Bytes    int64     `json:"bytes"`
	Errors   int64     `json:"errors"` // 5xx
}

// Count is one row of a top-K table.
type Count struct {
	Key   string `json:"key"`
	Count int64  `json:"count"`
}

// RequestStore keeps the edge's request records. Safe for concurrent use.
type RequestStore interface {
	// AppendRequests stores records in one transaction; their ID is
	// ignored. Records of a project that does not exist are stored too
	// (the edge may log a request of a project deleted meanwhile) and go
	// with pruning.
	AppendRequests(ctx context.Context, rs []Request) error
	// Requests returns the project's records q selects, oldest first.
	Requests(ctx context.Context, projectID string, q RequestQuery) ([]Request, error)
	// Traffic sums the project's records in q's range.
	Traffic(ctx context.Context, projectID string, q TrafficQuery) (Traffic, error)
	// PruneRequests deletes every record older than before and returns
	// how many.
	PruneRequests(ctx context.Context, before time.Time) (int64, error)
}

// DefaultRequestRetention is how long request records are kept.
const DefaultRequestRetention = 7 * 24 * time.Hour
