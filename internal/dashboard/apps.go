package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
)

// The app page (/projects/{name}/app): an app's releases, its instances
// with their live state, health and resource use, its runtime log live
// with a search and a time range, and restart, scale, rollback and the
// variables. Every action is a form that works without JavaScript; with
// it, the instances and the log follow live (two Server-Sent Event
// streams: the app's status sampled every statusEvery, and the runtime
// log's lines as the instances write them).

// statusEvery is how often the app page's status stream samples the
// instances (their memory and CPU change all the time).
const statusEvery = 2 * time.Second

// appLogLines is how many of the newest runtime log lines the page shows
// before the live ones.
const appLogLines = 500

// logFilter is the runtime log's filter as the page's form sends it.
type logFilter struct {
	Since, Until, Instance, Search string
}

func readLogFilter(r *http.Request) logFilter {
	q := r.URL.Query()
	return logFilter{Since: strings.TrimSpace(q.Get("since")), Until: strings.TrimSpace(q.Get("until")),
		Instance: strings.TrimSpace(q.Get("instance")), Search: q.Get("search")}
}

// query is the filter as a runtime log query; a bad time is EINVALID.
func (f logFilter) query(now time.Time) (apogee.RuntimeLogQuery, error) {
	q := apogee.RuntimeLogQuery{Instance: f.Instance, Search: f.Search}
	var err error
	if q.Since, err = apogee.ParseLogTime(f.Since, now); err != nil {
		return q, err
	}
	q.Until, err = apogee.ParseLogTime(f.Until, now)
	return q, err
}

// values is the filter as a query string (without the empty fields).
func (f logFilter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"since": f.Since, "until": f.Until, "instance": f.Instance, "search": f.Search} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// sinceChoices are the time ranges the log's form offers.
var sinceChoices = []struct{ Value, Label string }{
	{"", "Newest lines"}, {"15m", "Last 15 minutes"}, {"1h", "Last hour"}, {"6h", "Last 6 hours"},
	{"1d", "Last day"}, {"7d", "Last 7 days"},
}

// instanceRow is an instance as the page shows it.
type instanceRow struct {
	apogee.AppInstance
	Version string // of its release: "v3"
	Uptime  string
	Memory  string
	CPU     string
}

func instanceRows(st *apogee.AppStatus) []instanceRow {
	versions := map[string]string{}
	for _, r := range st.Releases {
		versions[r.DeploymentID] = "v" + strconv.Itoa(r.Version)
	}
	rows := make([]instanceRow, len(st.Running))
	for i, in := range st.Running {
		rows[i] = instanceRow{AppInstance: in, Version: versions[in.Release],
			Uptime: uptime(in.UptimeSeconds), Memory: size(in.MemoryBytes), CPU: fmt.Sprintf("%.1f s", in.CPUSeconds)}
	}
	return rows
}

// uptime says a duration in seconds for people: "45s", "12m", "3h 5m", "2d 4h".
func uptime(sec float64) string {
	d := time.Duration(sec) * time.Second
	switch {
	case d <= 0:
		return "–"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

// appPage shows the app.
func (d *Dashboard) appPage(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, name := r.Context(), r.PathValue("name")
	p, err := d.svc.Projects.Project(ctx, name)
	if err != nil {
		return err
	}
	st, err := d.svc.Apps.AppStatus(ctx, name)
	if err != nil {
		return err
	}
	env, err := d.svc.Env.Env(ctx, name)
	if err != nil {
		return err
	}
	f := readLogFilter(r)
	var page *apogee.RuntimeLogPage
	q, logErr := f.query(d.now())
	if logErr == nil {
		q.Limit = appLogLines
		page, logErr = d.svc.RuntimeLogs.RuntimeLogs(ctx, name, q)
	}
	if logErr != nil && apogee.ErrorCode(logErr) != apogee.EINVALID {
		return logErr
	}
	data := map[string]any{
		"Project": p, "Status": st, "Instances": instanceRows(st), "Env": env,
		"Filter": f, "SinceChoices": sinceChoices, "MaxInstances": apogee.DefaultMaxInstances,
		"Tab": "app", "IsApp": true, "Chart": scaleChart(st.Autoscale, d.now()),
		"Sandboxes": d.boxes,
	}
	if logErr != nil {
		data["LogError"] = apogee.ErrorMessage(logErr)
	} else {
		data["Log"] = page
		// Live unless the range asked for has ended.
		if q.Until.IsZero() || q.Until.After(d.now()) {
			v := f.values()
			v.Set("after", strconv.FormatInt(page.LastSeq, 10))
			data["LiveSrc"] = "/projects/" + url.PathEscape(name) + "/app/logs?" + v.Encode()
		}
	}
	d.render(w, r, http.StatusOK, "app", s, p.Name+" · app", data)
	return nil
}

// appLogs streams the runtime log as Server-Sent Events, with the page's
// filter, after ?after=SEQ (or Last-Event-ID).
func (d *Dashboard) appLogs(w http.ResponseWriter, r *http.Request, s *session) error {
	q, err := readLogFilter(r).query(d.now())
	if err != nil {
		return err
	}
	after, err := logs.After(r)
	if err != nil {
		return err
	}
	q.AfterSeq = after
	name := r.PathValue("name")
	return logs.StreamSSE(w, r, func(ctx context.Context, fn func([]apogee.LogLine) error) error {
		return d.svc.RuntimeLogs.FollowRuntimeLogs(ctx, name, q, fn)
	}, d.log.With("project", name))
}

// appStatusStream sends the app's status ("status" events, the JSON of
// apogee.AppStatus with each instance's row as the page shows it) at once
// and every statusEvery, until the client goes or the session ends.
func (d *Dashboard) appStatusStream(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, name := r.Context(), r.PathValue("name")
	st, err := d.svc.Apps.AppStatus(ctx, name)
	if err != nil {
		return err
	}
	rc := startEvents(w)
	t := time.NewTicker(d.statusEvery)
	defer t.Stop()
	for {
		b, _ := json.Marshal(struct {
			*apogee.AppStatus
			Rows []instanceRow `json:"rows"`
		}{st, instanceRows(st)})
		if _, err := fmt.Fprintf(w, "event: status\ndata: %s\n\n", b); err != nil {
			return nil
		}
		if rc.Flush() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if now, err := d.session(r); err != nil || now == nil || now.user.ID != s.user.ID {
			fmt.Fprint(w, "event: end\ndata: {\"reason\":\"signed out\"}\n\n")
			_ = rc.Flush()
			return nil
		}
		if st, err = d.svc.Apps.AppStatus(ctx, name); err != nil {
			return nil // the response has begun; the page keeps what it shows
		}
	}
}

// backToApp returns to the app page with how an action went.
func backToApp(w http.ResponseWriter, r *http.Request, err error, ok string) error {
	return backTo(w, r, "/projects/"+url.PathEscape(r.PathValue("name"))+"/app", err, ok)
}

func (d *Dashboard) appRestart(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	_, err := d.svc.Apps.RestartApp(r.Context(), r.PathValue("name"))
	return backToApp(w, r, err, "Restarted: every instance was replaced by a new one, ready before it took requests.")
}

func (d *Dashboard) appScale(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	n, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("instances")))
	if err != nil {
		return backToApp(w, r, apogee.Errorf(apogee.EINVALID, "instances: enter a whole number from 1 to %d", apogee.DefaultMaxInstances), "")
	}
	_, err = d.svc.Apps.ScaleApp(r.Context(), r.PathValue("name"), apogee.ScaleRequest{Instances: n})
	return backToApp(w, r, err, fmt.Sprintf("Scaled to %d instances.", n))
}

// appSandbox sets the sandbox the app runs in ("" the server's
// default); the platform rolls a new release out in it.
func (d *Dashboard) appSandbox(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	var sb *string
	if v := strings.TrimSpace(r.PostFormValue("sandbox")); v != "" {
		sb = &v
	}
	err := d.patchSettings(r, "app", map[string]*string{"sandbox": sb})
	ok := "The app runs in the server's default sandbox from its new release on."
	if sb != nil {
		ok = "The app runs in " + *sb + " from its new release on."
	}
	return backToApp(w, r, err, ok)
}

// appRollback rolls production back to the release before, or to the
// release ?deployment_id names.
func (d *Dashboard) appRollback(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	v, err := d.svc.Deployments.Rollback(r.Context(), r.PathValue("name"), strings.TrimSpace(r.PostFormValue("deployment_id")))
	if err != nil {
		return backToApp(w, r, err, "")
	}
	return backToApp(w, r, nil, "Rolled back: release "+v.ID+" serves production again.")
}

func (d *Dashboard) appSetEnv(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	key := strings.TrimSpace(r.PostFormValue("key"))
	if err := apogee.ValidateEnvKey(key); err != nil {
		return backToApp(w, r, err, "")
	}
	_, err := d.svc.Env.SetEnv(r.Context(), r.PathValue("name"), key, r.PostFormValue("value"), r.PostFormValue("secret") != "")
	return backToApp(w, r, err, key+" saved; a running app gets a new release with it at once.")
}

func (d *Dashboard) appDeleteEnv(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	key := r.PostFormValue("key")
	if err := apogee.ValidateEnvKey(key); err != nil {
		return backToApp(w, r, err, "")
	}
	err := d.svc.Env.DeleteEnv(r.Context(), r.PathValue("name"), key)
	return backToApp(w, r, err, key+" removed; a running app gets a new release without it at once.")
}
