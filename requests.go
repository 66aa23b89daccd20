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

// TrafficRollup sums one deployment's requests over a minute or an hour,
// as one writer (an access log of one server) counted them; a period's
// rows of several writers add up. Visitors and Latency are sketches
// (package traffic reads and merges them), so that rows merge into any
// range without the raw records.
type TrafficRollup struct {
	ProjectID    string
	DeploymentID string
	Start        time.Time     // the period's start, UTC
	Period       time.Duration // a minute or an hour
	Writer       string        // the access log that counted it
	Requests     int64
	Bytes        int64
	CacheHits    int64
	Status       [5]int64 // requests by class: 1xx … 5xx
	Visitors     []byte   // a HyperLogLog sketch of the visitor hashes
	Latency      []byte   // a DDSketch of the durations in microseconds
}

// TrafficTop is one key among the most frequent of a kind in one
// deployment's hour or day, as one writer counted it.
type TrafficTop struct {
	Key   string
	Count int64
}

// Kinds of the top tables of an hour.
const (
	TopPath     = "path"
	TopReferrer = "referrer"
	TopNotFound = "404"
	TopCountry  = "country"
	TopDevice   = "device"
)

// TrafficTops is one writer's top table of one kind of one deployment's
// hour or day.
type TrafficTops struct {
	ProjectID    string
	DeploymentID string
	Start        time.Time
	Period       time.Duration // an hour or a day
	Writer       string
	Kind         string // a Top* value
	Keys         []TrafficTop
}

// RollupQuery selects rollups or top tables of a project: those whose
// period starts in [Since, Until).
type RollupQuery struct {
	Since, Until time.Time
	Period       time.Duration // a minute or an hour
	DeploymentID string        // "": every deployment
}

// RequestStore keeps the edge's request records and the rollups the
// traffic analytics read. Safe for concurrent use.
type RequestStore interface {
	// AppendRequests stores records in one transaction; their ID is
	// ignored. Records of a project that does not exist are stored too
	// (the edge may log a request of a project deleted meanwhile) and go
	// with pruning.
	AppendRequests(ctx context.Context, rs []Request) error
	// Requests returns the project's records q selects, oldest first.
	Requests(ctx context.Context, projectID string, q RequestQuery) ([]Request, error)
	// PruneRequests deletes every record older than before and returns
	// how many.
	PruneRequests(ctx context.Context, before time.Time) (int64, error)
	// PruneProjectRequests deletes the project's records older than
	// before (zero: none for their age) and, past maxRows (< 0: no
	// bound), the oldest; it returns how many.
	PruneProjectRequests(ctx context.Context, projectID string, before time.Time, maxRows int64) (int64, error)

	// SaveTraffic stores rollups and top tables in one transaction: a
	// rollup replaces the one of the same project, deployment, period,
	// start and writer; a top table replaces that writer's table of the
	// same kind for the same deployment and period.
	SaveTraffic(ctx context.Context, rollups []TrafficRollup, tops []TrafficTops) error
	// Rollups returns the project's rollups q selects, by start.
	Rollups(ctx context.Context, projectID string, q RollupQuery) ([]TrafficRollup, error)
	// TopCounts sums the project's top tables of kind over the hours or
	// days q selects and returns the n largest, largest first, ties by
	// key.
	TopCounts(ctx context.Context, projectID string, q RollupQuery, kind string, n int) ([]Count, error)
	// PruneTraffic deletes the rollups and top tables of period that
	// start before before, and returns how many rows.
	PruneTraffic(ctx context.Context, period time.Duration, before time.Time) (int64, error)
}

// How long the traffic records are kept: the request log (raw records)
// and the minute rollups for a week, the hour and day rollups and top
// tables for 90 days (the analytics read at most 31 days back).
const (
	DefaultRequestRetention = 7 * 24 * time.Hour
	MinuteRollupRetention   = 7 * 24 * time.Hour
	HourRollupRetention     = 90 * 24 * time.Hour
)

// TrafficService answers a project's traffic analytics and request log
// to its owner (or an admin); another user's project is ENOTFOUND.
type TrafficService interface {
	// Traffic sums the project's requests in q's range. Since after
	// Until, a bucket other than a minute, an hour or a day, or a range of
	// more than 31 days is EINVALID.
	Traffic(ctx context.Context, project string, q TrafficQuery) (*Traffic, error)
	// Requests returns the project's request records q selects, oldest
	// first (the newest q.Limit; at most 5,000).
	Requests(ctx context.Context, project string, q RequestQuery) ([]Request, error)
}

// ParseStatusClass reads a status class: "5xx" or "5" is 5.
func ParseStatusClass(s string) (int, error) {
	c := s
	if len(c) == 3 && (c[1:] == "xx" || c[1:] == "XX") {
		c = c[:1]
	}
	if len(c) == 1 && '1' <= c[0] && c[0] <= '5' {
		return int(c[0] - '0'), nil
	}
	return 0, Errorf(EINVALID, "status %q: a class, 1xx to 5xx", s)
}
