package apogee

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Runtime logs are what an app's instances write (stdout, stderr) and what
// the platform says about them (started, ready, crashed and why, lines
// dropped), one log per project across its releases and instances. Lines
// carry their instance (LogLine.Instance). The store numbers them
// (RuntimeLogStore.AppendRuntimeLogs), so Seq has no gaps at the moment it
// is written and orders the lines of every server that runs the project's
// instances; the oldest are pruned to the owner's plan (RuntimeLogDays,
// RuntimeLogBytes), so the log of a running app starts where the
// retention cut it.

// Retention defaults: a week or 100 MB per project, whichever comes
// first (Render keeps 7 days on its paid plans; Heroku's Logplex keeps
// only the last 1,500 lines).
const (
	DefaultRuntimeLogDays  = 7
	DefaultRuntimeLogBytes = 100 << 20
)

// RuntimeLogSize is what one line counts against a project's
// RuntimeLogBytes: its text and a newline. It is what the user reads
// back, so a limit of 100 MB means about 100 MB of output.
func RuntimeLogSize(l LogLine) int64 { return int64(len(l.Text)) + 1 }

// RuntimeLogQuery selects lines of a project's runtime log. Zero fields
// select everything.
type RuntimeLogQuery struct {
	// AfterSeq and BeforeSeq bound Seq, exclusive (0: unbounded): page
	// forward from the last line seen, or back from the first.
	AfterSeq  int64 `json:"after,omitempty"`
	BeforeSeq int64 `json:"before,omitempty"`
	// Since and Until bound the line's time: Since <= Time < Until.
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
	// Instance keeps the lines of one instance (and the platform's lines
	// about it).
	Instance string `json:"instance,omitempty"`
	// Search keeps lines whose text contains it, ignoring the case of
	// ASCII letters.
	Search string `json:"search,omitempty"`
	// Limit bounds the lines returned (<= 0: no bound in the store; the
	// service caps it at MaxRuntimeLogLines). With Tail the newest Limit
	// lines are returned, else the oldest; either way in Seq order.
	Limit int  `json:"limit,omitempty"`
	Tail  bool `json:"tail,omitempty"`
}

// MaxRuntimeLogLines is the most lines one read of a runtime log
// returns; DefaultRuntimeLogLines is what a read returns when it does not
// say.
const (
	MaxRuntimeLogLines     = 10_000
	DefaultRuntimeLogLines = 1_000
)

// Matches reports whether l passes q's instance, text and time filters
// (not the Seq bounds or the limit), as the store applies them: a
// follower filters live lines with it.
func (q *RuntimeLogQuery) Matches(l LogLine) bool {
	if q.Instance != "" && l.Instance != q.Instance {
		return false
	}
	if !q.Since.IsZero() && l.Time.Before(q.Since) {
		return false
	}
	if !q.Until.IsZero() && !l.Time.Before(q.Until) {
		return false
	}
	return q.Search == "" || containsFold(l.Text, q.Search)
}

// containsFold reports whether s contains sub, ignoring the case of ASCII
// letters only (what SQL's lower() does on both databases).
func containsFold(s, sub string) bool {
	n := len(sub)
	if n == 0 {
		return true
	}
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			a, b := s[i+j], sub[j]
			if 'A' <= a && a <= 'Z' {
				a += 'a' - 'A'
			}
			if 'A' <= b && b <= 'Z' {
				b += 'a' - 'A'
			}
			if a != b {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// RuntimeLogStats is the size of one project's runtime log.
type RuntimeLogStats struct {
	ProjectID string `json:"-"`
	OwnerID   string `json:"-"`
	// LastSeq is the Seq of the newest line ever written (0: none):
	// pruned lines keep their numbers.
	LastSeq int64 `json:"last_seq"`
	// Lines and Bytes (RuntimeLogSize) are what is stored now.
	Lines int64 `json:"lines"`
	Bytes int64 `json:"bytes"`
}

// RuntimeLogStore keeps the runtime logs of projects. Errors follow the
// Store conventions.
type RuntimeLogStore interface {
	// AppendRuntimeLogs numbers lines after the project's last (their Seq
	// is ignored) and stores them in one transaction. It returns the
	// lines as stored and the log's size after. Appends to one project
	// are serialized, so Seq order is commit order: once line n is
	// stored, every line before it is too. ENOTFOUND when the project
	// does not exist (any more).
	AppendRuntimeLogs(ctx context.Context, projectID string, lines []LogLine) ([]LogLine, RuntimeLogStats, error)
	// RuntimeLogs returns the project's lines that q selects, in Seq
	// order.
	RuntimeLogs(ctx context.Context, projectID string, q RuntimeLogQuery) ([]LogLine, error)
	// RuntimeLogStats returns the size of the project's log (zero when it
	// has none).
	RuntimeLogStats(ctx context.Context, projectID string) (RuntimeLogStats, error)
	// RuntimeLogProjects returns the size of every project's log that
	// holds lines, with the project's owner.
	RuntimeLogProjects(ctx context.Context) ([]RuntimeLogStats, error)
	// PruneRuntimeLogs deletes the project's lines older than before
	// (zero: none by age), then the oldest until what is left is at most
	// maxBytes (< 0: no bound by size). It returns how many lines and
	// bytes it deleted.
	PruneRuntimeLogs(ctx context.Context, projectID string, before time.Time, maxBytes int64) (lines, bytes int64, err error)
}

// RuntimeLogPage is a read of a project's runtime log.
type RuntimeLogPage struct {
	Lines []LogLine `json:"lines"`
	// LastSeq is the newest line's Seq when the read began: a follower
	// goes on after it, and a poller passes it as after.
	LastSeq int64 `json:"last_seq"`
	// More is set when the limit cut the answer: there are more lines
	// before the first (Tail) or after the last.
	More bool `json:"more"`
}

// RuntimeLogHubID is the id of a project's runtime log in the log hub
// (internal/logs), beside the build logs that go by deployment id: the
// "-" never occurs in an apogee.NewID.
func RuntimeLogHubID(projectID string) string { return "rt-" + projectID }

// RuntimeLogService reads the runtime logs of the user's projects: their
// owner's (or an admin's); anyone else is told the project does not
// exist.
type RuntimeLogService interface {
	// RuntimeLogs returns the lines q selects: with q.AfterSeq the
	// oldest q.Limit after it (paging forward), else the newest q.Limit
	// (before q.BeforeSeq, when set: paging back). q.Limit 0 is
	// DefaultRuntimeLogLines; more than MaxRuntimeLogLines is EINVALID,
	// as are Since after Until and a malformed instance id.
	RuntimeLogs(ctx context.Context, project string, q RuntimeLogQuery) (*RuntimeLogPage, error)
	// FollowRuntimeLogs checks who may follow what, calls fn once with
	// no lines (it has begun), then with the lines q selects as they are
	// written, after the stored ones: from q.AfterSeq when set, else from
	// q.Since when set, else the newest q.Limit (default
	// DefaultRuntimeLogFollowLines). It returns ctx's error when ctx
	// ends, fn's when fn fails, and nil once q.Until has passed.
	FollowRuntimeLogs(ctx context.Context, project string, q RuntimeLogQuery, fn func([]LogLine) error) error
}

// DefaultRuntimeLogFollowLines is how many of the newest lines a follower
// sees before the live ones, when it says nothing else (Heroku's
// `logs --tail` shows 100 too).
const DefaultRuntimeLogFollowLines = 100

// ParseLogTime reads a time bound of a log query: an RFC 3339 time
// ("2026-12-01T10:00:00Z"), or a duration before now ("90s", "15m",
// "1h30m", "2d"). "" is the zero time.
func ParseLogTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := parseDays(s)
	if err != nil || d < 0 {
		return time.Time{}, Errorf(EINVALID, "time %q: use a duration before now (90s, 15m, 1h, 2d) or an RFC 3339 time (2026-12-01T10:00:00Z)", s)
	}
	return now.Add(-d), nil
}

// parseDays is time.ParseDuration with days ("2d", "1d12h") too.
func parseDays(s string) (time.Duration, error) {
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n > 3650 {
			return 0, fmt.Errorf("days %q", s[:i])
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	return days + d, err
}
