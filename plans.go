package apogee

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// EQUOTA is the error code of a request refused because a limit of the
// user's plan is reached (HTTP 402 Payment Required: a larger plan is
// what unblocks it). The error's Data is a QuotaData.
const EQUOTA = "quota_exceeded"

// Unlimited is the value of a plan limit that has no bound. Limits are
// plain integers in JSON: -1 is unlimited, 0 allows none, n allows n.
// (null is not used, so a PATCH can tell "leave as is" (absent) from
// "unlimited" (-1).)
const Unlimited int64 = -1

// DefaultPlanID is the id of the plan the first migration seeds as the
// default ("free"). An admin may make another plan the default.
const DefaultPlanID = "free"

// PlanLimits are what a plan allows one user (the owner of the projects).
// Each is Unlimited (-1) or a bound >= 0.
type PlanLimits struct {
	// Projects the user may own.
	Projects int64 `json:"projects"`
	// ConcurrentBuilds the user's projects may have building at once;
	// more stay queued until one ends.
	ConcurrentBuilds int64 `json:"concurrent_builds"`
	// BuildMinutes per calendar month (UTC), counted from each build's
	// start to its end (or now, while it runs).
	BuildMinutes int64 `json:"build_minutes"`
	// StorageBytes is the size of the distinct files in all the user's
	// deployments' manifests (each content hash counted once).
	StorageBytes int64 `json:"storage_bytes"`
	// CustomDomains across all the user's projects, verified or not.
	CustomDomains int64 `json:"custom_domains"`

	// What each instance of the user's apps may use (-1: no bound of the
	// plan's; 0: the default, DefaultApp*): memory in MiB (swap included;
	// past it the kernel kills the instance), CPU time per wall second
	// (1.5 = one and a half cores), processes and threads.
	AppMemoryMB int64   `json:"app_memory_mb"`
	AppCPUs     float64 `json:"app_cpus"`
	AppPids     int64   `json:"app_pids"`
	// AppInstances is how many instances one app may run at once (0: the
	// user may run no apps).
	AppInstances int64 `json:"app_instances"`
	// ReleasesKept is how many of an app's newest releases are kept for
	// rollback, the serving one included (0: the default, 10).
	ReleasesKept int64 `json:"releases_kept"`
	// RuntimeLogBytes and RuntimeLogDays bound each app's runtime log
	// (apogee.RuntimeLogSize of its lines; whole days): the oldest lines
	// go first, whichever bound they pass.
	RuntimeLogBytes int64 `json:"runtime_log_bytes"`
	RuntimeLogDays  int64 `json:"runtime_log_days"`

	// DNSZones is how many DNS zones the user may delegate to the
	// platform, and DNSRecords how many records each may hold (the
	// platform's own bounds, MaxZonesPerUser and MaxZoneRecords, stay
	// above any plan's).
	DNSZones   int64 `json:"dns_zones"`
	DNSRecords int64 `json:"dns_records"`

	// RequestLogDays and RequestLogRows bound each project's request log
	// (the edge's raw records; whole days): the oldest records go first,
	// whichever bound they pass. The analytics' rollups are not bound by
	// them.
	RequestLogDays int64 `json:"request_log_days"`
	RequestLogRows int64 `json:"request_log_rows"`

	// AuditLogDays is how many whole days of its audit log an owner (a
	// person or a team) keeps: every change to their projects, teams and
	// tokens (issue 19).
	AuditLogDays int64 `json:"audit_log_days"`
}

// DefaultAuditLogDays is the free plan's audit log retention, which
// migration 00071 gives every plan that existed before.
const DefaultAuditLogDays = 90

// The free plan's request log limits, which migration 00067 gives every
// plan that existed before: a week, and a million records.
const (
	DefaultRequestLogDays = 7
	DefaultRequestLogRows = 1_000_000
)

// The free plan's DNS limits, which migration 00052 gives every plan that
// existed before: 3 zones of 100 records.
const (
	DefaultDNSZones   = 3
	DefaultDNSRecords = 100
)

// The free plan's app limits, which migration 00021 gives every plan
// that existed before: an instance the size of Heroku's Standard-1X and
// Render's Starter (512 MiB, one CPU, Heroku's 256 processes), up to 3
// instances an app, the last DefaultReleasesKept (10) releases, and a
// week or 100 MiB of runtime log.
const (
	DefaultAppMemoryMB  = 512
	DefaultAppCPUs      = 1
	DefaultAppPids      = 256
	DefaultAppInstances = 3
)

// Plan is a set of limits users are put on. Exactly one plan is the
// default: users with no plan of their own are on it.
type Plan struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Default   bool       `json:"default"`
	Limits    PlanLimits `json:"limits"`
	CreatedAt time.Time  `json:"created_at"`
	// Users is how many people are on the plan by choice (not counting
	// those on it by default), Teams how many teams; filled in by
	// ListPlans and PlanByID.
	Users int `json:"users"`
	Teams int `json:"teams"`
}

// Validate checks a plan's name and limits and returns an EINVALID error
// that says which is wrong.
func (p *Plan) Validate() error {
	p.Name = strings.TrimSpace(p.Name)
	if p.Name == "" || len(p.Name) > 50 {
		return Errorf(EINVALID, "a plan needs a name of 1 to 50 characters")
	}
	for _, l := range p.Limits.list() {
		if *l.v < Unlimited {
			return Errorf(EINVALID, "limit %q is %d; use -1 for unlimited or a number >= 0", l.name, *l.v)
		}
	}
	if c := p.Limits.AppCPUs; c != float64(Unlimited) && c != 0 && !(c >= 0.01 && c <= 1024) {
		return Errorf(EINVALID, "limit %q is %g; use -1 for unlimited, 0 for the default or a number of CPUs from 0.01 to 1024", LimitAppCPUs, c)
	}
	return nil
}

type namedLimit struct {
	name string
	v    *int64
}

func (l *PlanLimits) list() []namedLimit {
	return []namedLimit{
		{"projects", &l.Projects},
		{"concurrent_builds", &l.ConcurrentBuilds},
		{"build_minutes", &l.BuildMinutes},
		{"storage_bytes", &l.StorageBytes},
		{"custom_domains", &l.CustomDomains},
		{LimitAppMemoryMB, &l.AppMemoryMB},
		{LimitAppPids, &l.AppPids},
		{LimitAppInstances, &l.AppInstances},
		{LimitReleasesKept, &l.ReleasesKept},
		{LimitRuntimeLogBytes, &l.RuntimeLogBytes},
		{LimitRuntimeLogDays, &l.RuntimeLogDays},
		{LimitDNSZones, &l.DNSZones},
		{LimitDNSRecords, &l.DNSRecords},
		{LimitRequestLogDays, &l.RequestLogDays},
		{LimitRequestLogRows, &l.RequestLogRows},
		{LimitAuditLogDays, &l.AuditLogDays},
	}
}

// Allows reports whether a limit lets used grow to used+adding.
func Allows(limit, used, adding int64) bool {
	return limit == Unlimited || used+adding <= limit
}

// Usage is what one user uses of their plan's limits.
type Usage struct {
	Projects      int64 `json:"projects"`
	BuildsRunning int64 `json:"builds_running"`
	BuildsQueued  int64 `json:"builds_queued"`
	// BuildSeconds this calendar month (UTC): builds that started this
	// month, from start to end or to now while they run.
	BuildSeconds int64 `json:"build_seconds"`
	// StorageBytes is every byte the user causes to be stored, the sum
	// of Storage's parts.
	StorageBytes  int64      `json:"storage_bytes"`
	Storage       StorageUse `json:"storage"`
	CustomDomains int64      `json:"custom_domains"`
}

// StorageUse says what a user's storage is made of. A blob counts once
// per user however many deployments hold it.
type StorageUse struct {
	// Files: the distinct files of the deployments of the user's projects
	// (uploaded folders and build outputs, apps' trees).
	Files int64 `json:"files_bytes"`
	// Variants: their precompressed (gzip, brotli) copies.
	Variants int64 `json:"variants_bytes"`
	// Uploads: uploaded ZIPs of source, built or not, until the server
	// cleans them up (--upload-ttl after they arrive, unless a build
	// waits for one).
	Uploads int64 `json:"uploads_bytes"`
	// Caches: the projects' dependency caches on the builders' disk.
	Caches int64 `json:"caches_bytes"`
	// Logs: the text of the deployments' build logs.
	Logs int64 `json:"logs_bytes"`
}

// Total is the sum of the parts.
func (s StorageUse) Total() int64 { return s.Files + s.Variants + s.Uploads + s.Caches + s.Logs }

// BuildMinutes is BuildSeconds rounded up to whole minutes, the unit of
// PlanLimits.BuildMinutes.
func (u *Usage) BuildMinutes() int64 { return (u.BuildSeconds + 59) / 60 }

// MonthStart returns the start of t's calendar month in UTC: build
// minutes count from there.
func MonthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// PlanStore keeps plans and which plan each user is on. Errors follow
// the Store conventions.
type PlanStore interface {
	// CreatePlan inserts p (ID and CreatedAt filled in when empty);
	// ECONFLICT if the name is taken. If p.Default, it becomes the
	// default plan in the same transaction.
	CreatePlan(ctx context.Context, p *Plan) error
	// UpdatePlan writes p's name, limits and, when p.Default is true,
	// makes it the default (un-defaulting the previous one). Clearing
	// Default of the default plan is EINVALID: make another plan the
	// default instead. ErrNotFound, ECONFLICT (name taken) as usual.
	UpdatePlan(ctx context.Context, p *Plan) error
	// DeletePlan removes a plan; ECONFLICT if it is the default or any
	// user is on it.
	DeletePlan(ctx context.Context, id string) error
	// ListPlans returns every plan by name, with Users counted.
	ListPlans(ctx context.Context) ([]*Plan, error)
	PlanByID(ctx context.Context, id string) (*Plan, error)
	DefaultPlan(ctx context.Context) (*Plan, error)
	// UserPlan returns the plan the user is on: their own, or the
	// default. ErrNotFound if there is no such user.
	UserPlan(ctx context.Context, userID string) (*Plan, error)
	// SetUserPlan puts the user on the plan ("" = back to the default);
	// ErrNotFound if the user or the plan does not exist.
	SetUserPlan(ctx context.Context, userID, planID string) error
	// SetUserDisabled disables the user at at, or enables them (nil).
	SetUserDisabled(ctx context.Context, userID string, at *time.Time) error
	// SetUserAdmin grants or removes the admin flag.
	SetUserAdmin(ctx context.Context, userID string, admin bool) error
}

// UsageStore measures what users use of their plans.
type UsageStore interface {
	// Usage returns the user's usage, counting build time of builds that
	// started at or after since (the month's start) up to now.
	Usage(ctx context.Context, userID string, since, now time.Time) (*Usage, error)
	// NewBytes returns the total size of those files whose hash no
	// manifest of the user's deployments holds yet, each hash counted
	// once: what a deployment of files would add to the user's storage.
	NewBytes(ctx context.Context, userID string, files []File) (int64, error)
	// SetCacheBytes records the size of a project's dependency cache on
	// the builders' disk; ErrNotFound for an unknown project.
	SetCacheBytes(ctx context.Context, projectID string, n int64) error
}

// Quota limit names, as PlanLimits' JSON fields and in EQUOTA data.
const (
	LimitProjects         = "projects"
	LimitConcurrentBuilds = "concurrent_builds"
	LimitBuildMinutes     = "build_minutes"
	LimitStorageBytes     = "storage_bytes"
	LimitCustomDomains    = "custom_domains"
	LimitAppMemoryMB      = "app_memory_mb"
	LimitAppCPUs          = "app_cpus"
	LimitAppPids          = "app_pids"
	LimitAppInstances     = "app_instances"
	LimitReleasesKept     = "releases_kept"
	LimitRuntimeLogBytes  = "runtime_log_bytes"
	LimitRuntimeLogDays   = "runtime_log_days"
	LimitDNSZones         = "dns_zones"
	LimitDNSRecords       = "dns_records"
	LimitRequestLogDays   = "request_log_days"
	LimitRequestLogRows   = "request_log_rows"
	LimitAuditLogDays     = "audit_log_days"
)

// QuotaData is the Data of an EQUOTA error: which limit, what the plan
// allows and what the user has.
type QuotaData struct {
	Plan    string `json:"plan"`
	Limit   string `json:"limit"`
	Allowed int64  `json:"allowed"`
	Used    int64  `json:"used"`
}

// QuotaError returns the EQUOTA error for limit of plan: "your plan
// "free" allows 3 projects and you have 3; delete one or ask an admin
// for a larger plan". what describes the allowance ("3 projects"), have
// the use ("you have 3"), todo the remedy.
func QuotaError(plan *Plan, limit string, allowed, used int64, what, have, todo string) *Error {
	return &Error{
		Code:    EQUOTA,
		Message: fmt.Sprintf("your plan %q allows %s and %s; %s", plan.Name, what, have, todo),
		Data:    QuotaData{Plan: plan.Name, Limit: limit, Allowed: allowed, Used: used},
	}
}

// FormatBytes writes n bytes for people: "512 B", "1.5 MiB", "1 GiB".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	s := fmt.Sprintf("%.1f", float64(n)/float64(div))
	s = strings.TrimSuffix(s, ".0")
	return s + " " + string("KMGTP"[exp]) + "iB"
}

// PlanView is a user's plan with their usage, as GET /api/v1/usage and
// the admin's user list show it.
type PlanView struct {
	Plan  *Plan  `json:"plan"`
	Usage *Usage `json:"usage"`
	// Month is the start of the calendar month build minutes count from.
	Month time.Time `json:"month"`
}

// UserView is a user with their plan and usage, as GET /api/v1/user and
// the admin API show them.
type UserView struct {
	*User
	Plan     *Plan  `json:"plan"`
	Usage    *Usage `json:"usage"`
	Disabled bool   `json:"disabled"`
}

// UpdateUserRequest is PATCH /api/v1/admin/users/{id}: absent fields
// stay as they are. Plan "" puts the user back on the default plan.
type UpdateUserRequest struct {
	Plan     *string `json:"plan,omitempty"` // a plan id or name
	Disabled *bool   `json:"disabled,omitempty"`
	Admin    *bool   `json:"admin,omitempty"`
}

// PlanRequest creates (POST) or changes (PATCH) a plan. On PATCH absent
// fields stay as they are; on POST absent limits are the default plan's.
type PlanRequest struct {
	Name             *string `json:"name,omitempty"`
	Default          *bool   `json:"default,omitempty"`
	Projects         *int64  `json:"projects,omitempty"`
	ConcurrentBuilds *int64  `json:"concurrent_builds,omitempty"`
	BuildMinutes     *int64  `json:"build_minutes,omitempty"`
	StorageBytes     *int64  `json:"storage_bytes,omitempty"`
	CustomDomains    *int64  `json:"custom_domains,omitempty"`

	AppMemoryMB     *int64   `json:"app_memory_mb,omitempty"`
	AppCPUs         *float64 `json:"app_cpus,omitempty"`
	AppPids         *int64   `json:"app_pids,omitempty"`
	AppInstances    *int64   `json:"app_instances,omitempty"`
	ReleasesKept    *int64   `json:"releases_kept,omitempty"`
	RuntimeLogBytes *int64   `json:"runtime_log_bytes,omitempty"`
	RuntimeLogDays  *int64   `json:"runtime_log_days,omitempty"`

	DNSZones   *int64 `json:"dns_zones,omitempty"`
	DNSRecords *int64 `json:"dns_records,omitempty"`

	RequestLogDays *int64 `json:"request_log_days,omitempty"`
	RequestLogRows *int64 `json:"request_log_rows,omitempty"`

	AuditLogDays *int64 `json:"audit_log_days,omitempty"`
}

// Apply copies the fields present in r onto p.
func (r *PlanRequest) Apply(p *Plan) {
	set := func(dst *int64, v *int64) {
		if v != nil {
			*dst = *v
		}
	}
	if r.Name != nil {
		p.Name = *r.Name
	}
	if r.Default != nil {
		p.Default = *r.Default
	}
	set(&p.Limits.Projects, r.Projects)
	set(&p.Limits.ConcurrentBuilds, r.ConcurrentBuilds)
	set(&p.Limits.BuildMinutes, r.BuildMinutes)
	set(&p.Limits.StorageBytes, r.StorageBytes)
	set(&p.Limits.CustomDomains, r.CustomDomains)
	set(&p.Limits.AppMemoryMB, r.AppMemoryMB)
	if r.AppCPUs != nil {
		p.Limits.AppCPUs = *r.AppCPUs
	}
	set(&p.Limits.AppPids, r.AppPids)
	set(&p.Limits.AppInstances, r.AppInstances)
	set(&p.Limits.ReleasesKept, r.ReleasesKept)
	set(&p.Limits.RuntimeLogBytes, r.RuntimeLogBytes)
	set(&p.Limits.RuntimeLogDays, r.RuntimeLogDays)
	set(&p.Limits.DNSZones, r.DNSZones)
	set(&p.Limits.DNSRecords, r.DNSRecords)
	set(&p.Limits.RequestLogDays, r.RequestLogDays)
	set(&p.Limits.RequestLogRows, r.RequestLogRows)
	set(&p.Limits.AuditLogDays, r.AuditLogDays)
}

// AppLimits are what a plan allows each app of its users, in the units a
// runtime takes. Zero is "no bound of the plan's" for the per-instance
// limits: the runtime's own default or none (see Apps).
type AppLimits struct {
	// Plan names the plan, for the errors that cite it.
	Plan *Plan
	// MemoryBytes, CPUs and Pids bound each instance; 0 where the plan
	// sets none.
	MemoryBytes int64
	CPUs        float64
	Pids        int64
	// MaxInstances is how many instances one app may run (Unlimited:
	// any; 0: none).
	MaxInstances int64
	// ReleasesKept is how many of an app's newest releases to keep
	// (Unlimited: all).
	ReleasesKept int64
	// RuntimeLogAge and RuntimeLogBytes bound its runtime log (< 0: no
	// bound).
	RuntimeLogAge   time.Duration
	RuntimeLogBytes int64
}

// Apps returns what plan p allows each app of its users, the defaults
// (DefaultApp*) where a per-instance limit or ReleasesKept is 0.
func (p *Plan) Apps() AppLimits {
	l := p.Limits
	or := func(v, def int64) int64 {
		if v == 0 {
			return def
		}
		return v
	}
	a := AppLimits{Plan: p, MaxInstances: l.AppInstances, ReleasesKept: or(l.ReleasesKept, DefaultReleasesKept),
		RuntimeLogAge: -1, RuntimeLogBytes: l.RuntimeLogBytes, CPUs: l.AppCPUs}
	if m := or(l.AppMemoryMB, DefaultAppMemoryMB); m != Unlimited {
		a.MemoryBytes = m << 20
	}
	if n := or(l.AppPids, DefaultAppPids); n != Unlimited {
		a.Pids = n
	}
	if a.CPUs == 0 {
		a.CPUs = DefaultAppCPUs
	} else if a.CPUs < 0 {
		a.CPUs = 0
	}
	if l.RuntimeLogDays != Unlimited {
		a.RuntimeLogAge = time.Duration(l.RuntimeLogDays) * 24 * time.Hour
	}
	return a
}

// CheckInstances returns the EQUOTA error for an app asking to run n
// instances past the plan, or nil.
func (a AppLimits) CheckInstances(n int) error {
	if a.MaxInstances == Unlimited || int64(n) <= a.MaxInstances {
		return nil
	}
	if a.MaxInstances == 0 {
		return QuotaError(a.Plan, LimitAppInstances, 0, int64(n), "no apps", fmt.Sprintf("this one asks for %d instances", n), "ask an admin for a plan with apps")
	}
	return QuotaError(a.Plan, LimitAppInstances, a.MaxInstances, int64(n),
		fmt.Sprintf("%d instances of an app", a.MaxInstances), fmt.Sprintf("this asks for %d", n), "scale to fewer or ask an admin for a larger plan")
}
