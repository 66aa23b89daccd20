package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/apogee-dev/apogee"
)

// EdgeCounter reports what the edge of this process has served since it
// started (the server reads the edge's Prometheus counters). It must be
// safe for concurrent use.
type EdgeCounter interface {
	EdgeTraffic(ctx context.Context) (apogee.EdgeTraffic, error)
}

// FigureDays is how many days of deployments the admin figures count,
// today (UTC) included.
const FigureDays = 30

// adminOnly lets only admins through to h; anyone else signed in gets
// 403 (the route exists, and says whom it is for).
func adminOnly(h func(http.ResponseWriter, *http.Request, *apogee.User) error) func(http.ResponseWriter, *http.Request, *apogee.User) error {
	return func(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
		if !u.Admin {
			return apogee.Errorf(apogee.EFORBIDDEN, "only an admin of this server may use %s", r.URL.Path)
		}
		return h(w, r, u)
	}
}

// adminFigures answers GET /api/v1/admin/figures: the platform's counts,
// deployments per UTC day of the last FigureDays days (zero days filled
// in, oldest first) and, when the process has an edge, its traffic.
func (a *API) adminFigures(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	now := a.now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	since := today.AddDate(0, 0, -(FigureDays - 1))
	f, err := a.store.SystemFigures(r.Context(), since)
	if err != nil {
		return fmt.Errorf("api: admin figures: %w", err)
	}
	counts := make(map[string]int, len(f.DeploymentsPerDay))
	for _, d := range f.DeploymentsPerDay {
		counts[d.Day] = d.Count
	}
	days := make([]apogee.DayCount, FigureDays)
	for i := range days {
		day := since.AddDate(0, 0, i).Format(apogee.DayLayout)
		days[i] = apogee.DayCount{Day: day, Count: counts[day]}
	}
	f.DeploymentsPerDay = days
	out := apogee.AdminFigures{SystemFigures: *f, Days: FigureDays, At: now}
	if a.edge != nil {
		t, err := a.edge.EdgeTraffic(r.Context())
		if err != nil {
			return fmt.Errorf("api: admin figures: edge traffic: %w", err)
		}
		out.Edge = &t
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// adminProjects answers GET /api/v1/admin/projects: every project with
// its owner's email and newest deployment.
func (a *API) adminProjects(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	sums, err := a.store.ProjectSummaries(r.Context())
	if err != nil {
		return fmt.Errorf("api: admin projects: %w", err)
	}
	views := make([]*apogee.AdminProjectView, len(sums))
	for i, ps := range sums {
		views[i] = &apogee.AdminProjectView{ProjectView: a.projectView(ps.Project), OwnerEmail: ps.OwnerEmail}
		if ps.Last != nil {
			views[i].LastDeployment = a.view(ps.Last, ps.Project)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"projects": views})
	return nil
}

// adminDeployments answers GET /api/v1/admin/deployments?limit=N: the
// newest deployments of every project (default 100, at most 1000).
func (a *API) adminDeployments(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return apogee.Errorf(apogee.EINVALID, "limit %q must be a number from 1 to 1000", s)
		}
		limit = n
	}
	ds, err := a.store.RecentDeployments(r.Context(), limit)
	if err != nil {
		return fmt.Errorf("api: admin deployments: %w", err)
	}
	ps, err := a.store.ListProjects(r.Context(), "")
	if err != nil {
		return fmt.Errorf("api: admin deployments: %w", err)
	}
	byID := make(map[string]*apogee.Project, len(ps))
	for _, p := range ps {
		byID[p.ID] = p
	}
	views := make([]*apogee.DeploymentView, 0, len(ds))
	for _, d := range ds {
		// A project deleted between the two reads takes its deployments along.
		if p, ok := byID[d.ProjectID]; ok {
			views = append(views, a.view(d, p))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"deployments": views})
	return nil
}
