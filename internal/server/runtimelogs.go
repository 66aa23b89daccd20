package server

import (
	"context"
	"fmt"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/access"

	"github.com/apogee-dev/apogee/internal/appwatch"
	"github.com/apogee-dev/apogee/internal/runtimelog"
)

// setupRuntimeLogs makes the runtime log writer of this process's app
// instances, on the log hub that build logs go through (so a runtime log
// is followed through any server with --events nats:// or kafka://), and the pruner
// that keeps every project's runtime log within its owner's plan
// (runtime_log_days, runtime_log_bytes). The runtime that runs instances
// here reports to s.appWatch, which also tells crashes on the bus
// (app.crashed: the notifier's).
func (s *Server) setupRuntimeLogs(context.Context) error {
	log := s.log.With("component", "runtimelogs")
	s.logPruner = runtimelog.NewPruner(s.store, runtimelog.PrunerOptions{Log: log, Retention: s.runtimeLogRetention})
	s.runtimeLogs = runtimelog.NewWriter(s.store, s.hub, runtimelog.Options{Stored: s.logPruner.Stored, Log: log})
	s.appWatch = appwatch.New(s.runtimeLogs, appwatch.Options{Bus: s.bus, Log: log})
	return nil
}

// requestLogRetentions is the retention of each project's request log,
// its owner's plan's (request_log_days, request_log_rows), and the
// longest of them.
func (s *Server) requestLogRetentions(ctx context.Context) (map[string]access.Retention, time.Duration, error) {
	ps, err := s.store.ListProjects(ctx, "")
	if err != nil {
		return nil, 0, fmt.Errorf("projects: %w", err)
	}
	plans := map[string]*apogee.Plan{}
	out := make(map[string]access.Retention, len(ps))
	longest := time.Duration(0)
	for _, p := range ps {
		plan, ok := plans[p.OwnerID]
		if !ok {
			if plan, err = s.store.UserPlan(ctx, p.OwnerID); err != nil {
				return nil, 0, fmt.Errorf("plan of user %s: %w", p.OwnerID, err)
			}
			plans[p.OwnerID] = plan
		}
		r := access.Retention{MaxAge: -1, MaxRows: plan.Limits.RequestLogRows}
		if d := plan.Limits.RequestLogDays; d != apogee.Unlimited {
			r.MaxAge = time.Duration(d) * 24 * time.Hour
		}
		out[p.ID] = r
		if longest >= 0 && (r.MaxAge < 0 || r.MaxAge > longest) {
			longest = r.MaxAge
		}
	}
	if len(ps) == 0 {
		longest = apogee.DefaultRequestRetention
	}
	return out, longest, nil
}

// runtimeLogRetention is the retention of the runtime logs of a user's
// apps: their plan's.
func (s *Server) runtimeLogRetention(ctx context.Context, ownerID string) (runtimelog.Retention, error) {
	p, err := s.store.UserPlan(ctx, ownerID)
	if err != nil {
		return runtimelog.Retention{}, fmt.Errorf("plan of user %s: %w", ownerID, err)
	}
	a := p.Apps()
	return runtimelog.Retention{MaxAge: a.RuntimeLogAge, MaxBytes: a.RuntimeLogBytes}, nil
}
