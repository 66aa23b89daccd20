package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
)

// runtimeLogs returns lines of a project's runtime log as JSON, or, with
// ?follow=1 or Accept: text/event-stream, streams them as Server-Sent
// Events as the app writes them (a reconnecting EventSource sends
// Last-Event-ID, the seq of the last line it got). Query: since, until
// (RFC 3339 or a duration before now: 15m, 1h, 2d), instance, search,
// limit, after, before.
func (a *API) runtimeLogs(w http.ResponseWriter, r *http.Request) error {
	q, err := runtimeLogQuery(r, time.Now())
	if err != nil {
		return err
	}
	project := r.PathValue("name")
	follow := r.URL.Query().Get("follow")
	if follow == "1" || follow == "true" || strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		return logs.StreamSSE(w, r, func(ctx context.Context, fn func([]apogee.LogLine) error) error {
			return a.svc.RuntimeLogs.FollowRuntimeLogs(ctx, project, q, fn)
		}, a.log.With("project", project))
	}
	page, err := a.svc.RuntimeLogs.RuntimeLogs(r.Context(), project, q)
	return answer(w, http.StatusOK, page, err)
}

// runtimeLogQuery reads a runtime log query from a request.
func runtimeLogQuery(r *http.Request, now time.Time) (apogee.RuntimeLogQuery, error) {
	v := r.URL.Query()
	q := apogee.RuntimeLogQuery{Instance: v.Get("instance"), Search: v.Get("search")}
	var err error
	if q.Since, err = apogee.ParseLogTime(v.Get("since"), now); err != nil {
		return q, err
	}
	if q.Until, err = apogee.ParseLogTime(v.Get("until"), now); err != nil {
		return q, err
	}
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"after", &q.AfterSeq}, {"before", &q.BeforeSeq}} {
		if s := v.Get(f.name); s != "" {
			if *f.dst, err = strconv.ParseInt(s, 10, 64); err != nil || *f.dst < 0 {
				return q, apogee.Errorf(apogee.EINVALID, "%s %q must be a line number (seq)", f.name, s)
			}
		}
	}
	if s := r.Header.Get("Last-Event-ID"); s != "" {
		if q.AfterSeq, err = strconv.ParseInt(s, 10, 64); err != nil || q.AfterSeq < 0 {
			return q, apogee.Errorf(apogee.EINVALID, "Last-Event-ID %q must be a line number (seq)", s)
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return q, apogee.Errorf(apogee.EINVALID, "limit %q must be a number of lines, 1 to %d", s, apogee.MaxRuntimeLogLines)
		}
		q.Limit = n
	}
	return q, nil
}
