package platform

import (
	"context"
	"fmt"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/runtimelog"
)

// runtimeLogs implements apogee.RuntimeLogService.
type runtimeLogs struct{ pl *Platform }

var _ apogee.RuntimeLogService = runtimeLogs{}

// maxSearch bounds the text a runtime log search looks for.
const maxSearch = 200

// checkRuntimeLogQuery refuses what a query cannot mean and fills in the
// default limit.
func checkRuntimeLogQuery(q *apogee.RuntimeLogQuery, defaultLimit int) error {
	switch {
	case q.Limit < 0 || q.Limit > apogee.MaxRuntimeLogLines:
		return apogee.Errorf(apogee.EINVALID, "limit %d: ask for 1 to %d lines", q.Limit, apogee.MaxRuntimeLogLines)
	case q.AfterSeq < 0 || q.BeforeSeq < 0:
		return apogee.Errorf(apogee.EINVALID, "after and before are line numbers (seq), 0 or more")
	case !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until):
		return apogee.Errorf(apogee.EINVALID, "since (%s) must be before until (%s)", q.Since.UTC().Format("2006-01-02T15:04:05Z"), q.Until.UTC().Format("2006-01-02T15:04:05Z"))
	case len(q.Search) > maxSearch:
		return apogee.Errorf(apogee.EINVALID, "search for at most %d bytes of text", maxSearch)
	case q.Instance != "" && !validInstanceID(q.Instance):
		return apogee.Errorf(apogee.EINVALID, "instance %q is not an instance id: the app's status lists them", q.Instance)
	}
	if q.Limit == 0 {
		q.Limit = defaultLimit
	}
	return nil
}

// validInstanceID: ids are apogee.NewID's today; a runtime elsewhere may
// use longer ones, of the same characters and dashes.
func validInstanceID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func (s runtimeLogs) RuntimeLogs(ctx context.Context, project string, q apogee.RuntimeLogQuery) (*apogee.RuntimeLogPage, error) {
	pl := s.pl
	_, p, err := pl.project(ctx, project, needRead)
	if err != nil {
		return nil, err
	}
	if err := checkRuntimeLogQuery(&q, apogee.DefaultRuntimeLogLines); err != nil {
		return nil, err
	}
	st, err := pl.store.RuntimeLogStats(ctx, p.ID)
	if err != nil {
		return nil, fmt.Errorf("platform: runtime log of %s: %w", p.Name, err)
	}
	// Nothing written after the read began: LastSeq is where a follower
	// goes on.
	if q.BeforeSeq == 0 || q.BeforeSeq > st.LastSeq+1 {
		q.BeforeSeq = st.LastSeq + 1
	}
	q.Tail = q.AfterSeq == 0
	limit := q.Limit
	q.Limit++ // one more says whether there are more
	lines, err := pl.store.RuntimeLogs(ctx, p.ID, q)
	if err != nil {
		return nil, fmt.Errorf("platform: runtime log of %s: %w", p.Name, err)
	}
	page := &apogee.RuntimeLogPage{Lines: lines, LastSeq: st.LastSeq}
	if len(lines) > limit {
		page.More = true
		if q.Tail {
			page.Lines = lines[1:]
		} else {
			page.Lines = lines[:limit]
		}
	}
	if page.Lines == nil {
		page.Lines = []apogee.LogLine{}
	}
	return page, nil
}

func (s runtimeLogs) FollowRuntimeLogs(ctx context.Context, project string, q apogee.RuntimeLogQuery, fn func([]apogee.LogLine) error) error {
	pl := s.pl
	_, p, err := pl.project(ctx, project, needRead)
	if err != nil {
		return err
	}
	if err := checkRuntimeLogQuery(&q, apogee.DefaultRuntimeLogFollowLines); err != nil {
		return err
	}
	q.Tail = q.AfterSeq == 0 && q.Since.IsZero()
	return runtimelog.Follow(ctx, pl.store, pl.hub, p.ID, q, fn)
}

// deployFailed tells of a deployment the Gate kept from going live (an
// app's release whose instances did not become ready): a line in the
// project's runtime log, and app.deploy_failed for its people, unless
// the deployment itself ends in error for it (a build, a finalized upload: the
// builder and Finalize fail it, which is told as deployment.error).
func (pl *Platform) deployFailed(ctx context.Context, p *apogee.Project, d *apogee.Deployment, action string, err error) {
	ctx = context.WithoutCancel(ctx)
	reason := apogee.ErrorMessage(err)
	if apogee.ErrorCode(err) == apogee.EINTERNAL {
		reason = "internal error; see the server's log"
	}
	line := apogee.LogLine{Time: pl.now().UTC(), Stream: apogee.StreamSystem,
		Text: fmt.Sprintf("deploy of %s (%s) failed: %s; the release that served keeps serving", d.ID, action, reason)}
	if err := runtimelog.Append(ctx, pl.store, pl.hub, p.ID, line); err != nil {
		pl.log.Error("runtime log: deploy failed", "project", p.Name, "deployment", d.ID, "err", err)
	}
	if action == "build" || action == "deploy" {
		return
	}
	pl.publish(ctx, apogee.Event{Type: apogee.EventAppDeployFailed, ProjectID: p.ID, Project: p.Name, DeploymentID: d.ID, Reason: reason})
}
