package server

import (
	"context"
	"fmt"

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
