package dashboard

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
)

// A project's Requests tab (issue 15): its request log, searched by
// status class, path and time, newest first, and followed live. The
// request records come from the store's writer in batches, not from an
// event, so the live stream asks the traffic service for newer records
// every followEvery on the page's behalf (as `apogee logs --requests -f`
// does) and sends them as Server-Sent Events.

// requestsShown is how many records the page shows at most (the live
// page keeps as many).
const requestsShown = 200

// followEvery is how often the live request log asks for new records.
const followEvery = time.Second

// requestSince are the Since choices of the search, as ParseLogTime
// reads them; "" is every record kept.
var requestSince = []struct{ Key, Label string }{
	{"15m", "Last 15 minutes"}, {"1h", "Last hour"}, {"24h", "Last 24 hours"}, {"7d", "Last 7 days"}, {"30d", "Last 30 days"}, {"all", "All kept"},
}

// reqFilter is the search of the Requests tab, as the query string has it.
type reqFilter struct {
	Status, Path, Since, Deployment string
}

func readReqFilter(r *http.Request) reqFilter {
	q := r.URL.Query()
	f := reqFilter{Status: q.Get("status"), Path: strings.TrimSpace(q.Get("path")), Since: q.Get("since"), Deployment: q.Get("deployment")}
	if f.Since == "" {
		f.Since = "24h"
	}
	return f
}

// Active says the search narrows the log beyond its default.
func (f reqFilter) Active() bool {
	return f.Status != "" || f.Path != "" || f.Since != "24h" || f.Deployment != ""
}

// query checks the search and turns it into a query of the log.
func (f reqFilter) query(now time.Time) (apogee.RequestQuery, error) {
	q := apogee.RequestQuery{Path: f.Path, DeploymentID: f.Deployment, Limit: requestsShown}
	var err error
	if f.Status != "" {
		if q.StatusClass, err = apogee.ParseStatusClass(f.Status); err != nil {
			return q, err
		}
	}
	if f.Path != "" && !strings.HasPrefix(f.Path, "/") {
		return q, apogee.Errorf(apogee.EINVALID, "path %q must start with /: an exact path (/about) or a prefix ending in * (/blog/*)", f.Path)
	}
	if f.Since != "all" {
		if q.Since, err = apogee.ParseLogTime(f.Since, now); err != nil {
			return q, err
		}
	}
	return q, nil
}

// values is the search as a query string, with the defaults left out.
func (f reqFilter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"status": f.Status, "path": f.Path, "deployment": f.Deployment} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if f.Since != "24h" {
		v.Set("since", f.Since)
	}
	return v
}

// requestRow is one record as the table shows it; the live stream sends
// the same as JSON.
type requestRow struct {
	ID         int64  `json:"id"`
	Time       string `json:"time"` // "Dec 5 14:03:22"
	ISO        string `json:"iso"`
	Method     string `json:"method"`
	Path       string `json:"path"`
	Status     int    `json:"status"`
	Class      string `json:"class"` // "s2" … "s5", for the colour
	Bytes      string `json:"bytes"`
	Duration   string `json:"duration"`
	Cache      string `json:"cache"` // "hit" or ""
	Referrer   string `json:"referrer"`
	Country    string `json:"country"`
	Device     string `json:"device"`
	Deployment string `json:"deployment"`
}

func newRequestRow(rq apogee.Request) requestRow {
	r := requestRow{ID: rq.ID, Time: rq.Time.UTC().Format("Jan 2 15:04:05"), ISO: rq.Time.UTC().Format(time.RFC3339Nano),
		Method: rq.Method, Path: rq.Path, Status: rq.Status, Class: "s" + strconv.Itoa(rq.Status/100),
		Bytes: size(rq.Bytes), Duration: latency(rq.Duration), Referrer: rq.Referrer, Country: rq.Country,
		Device: deviceLabel(rq.Device), Deployment: rq.DeploymentID}
	if rq.CacheHit {
		r.Cache = "hit"
	}
	return r
}

// requestsPage is the Requests tab.
func (d *Dashboard) requestsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	p, data, err := d.projectBase(r, "requests")
	if err != nil {
		return err
	}
	f := readReqFilter(r)
	q, err := f.query(d.now())
	if err != nil {
		return err
	}
	if _, err := d.projectDeployment(r, p); err != nil {
		return err
	}
	deps, err := d.svc.Deployments.Deployments(r.Context(), p.Name, 50)
	if err != nil {
		return err
	}
	rs, err := d.svc.Traffic.Requests(r.Context(), p.Name, q)
	if err != nil {
		return err
	}
	rows := make([]requestRow, len(rs))
	var last int64
	for i, rq := range rs {
		rows[len(rs)-1-i] = newRequestRow(rq) // newest first
		last = max(last, rq.ID)
	}
	self := "/projects/" + url.PathEscape(p.Name) + "/requests"
	if v := f.values().Encode(); v != "" {
		self += "?" + v
	}
	v := f.values()
	v.Set("after", strconv.FormatInt(last, 10))
	if f.Since != "all" {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano)) // the page's own start, not a moving one
	}
	data["Filter"], data["Rows"], data["SinceChoices"], data["Deployments"] = f, rows, requestSince, deps
	data["Classes"], data["Self"] = []string{"2xx", "3xx", "4xx", "5xx"}, self
	data["Stream"] = "/projects/" + url.PathEscape(p.Name) + "/requests/stream?" + v.Encode()
	data["Shown"], data["Full"] = requestsShown, len(rows) == requestsShown
	d.render(w, r, http.StatusOK, "project_requests", s, p.Name+" · requests", data)
	return nil
}

// requestsStream follows the request log live: "request" events (id the
// record's, data a requestRow) for the records after ?after= (or
// Last-Event-ID) that the search selects, oldest first, until the client
// goes or the session ends ("end").
func (d *Dashboard) requestsStream(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, name := r.Context(), r.PathValue("name")
	f := readReqFilter(r)
	q, err := f.query(d.now())
	if err != nil {
		return err
	}
	if q.AfterID, err = logs.After(r); err != nil {
		return err
	}
	q.Limit = 500
	// The first read checks who asks (a 404 for another's project) before
	// the stream begins.
	rs, err := d.svc.Traffic.Requests(ctx, name, q)
	if err != nil {
		return err
	}
	rc := startEvents(w)
	// A comment at once: the client (and a proxy) see the stream begin.
	if _, err := fmt.Fprint(w, ": following\n\n"); err != nil || rc.Flush() != nil {
		return nil
	}
	t := time.NewTicker(d.followEvery)
	defer t.Stop()
	quiet := time.Now()
	for {
		for _, rq := range rs {
			b, _ := json.Marshal(newRequestRow(rq))
			if _, err := fmt.Fprintf(w, "id: %d\nevent: request\ndata: %s\n\n", rq.ID, b); err != nil {
				return nil
			}
			q.AfterID = max(q.AfterID, rq.ID)
		}
		if len(rs) > 0 || time.Since(quiet) >= logs.KeepAlive {
			if len(rs) == 0 {
				fmt.Fprint(w, ": keep-alive\n\n")
			}
			if rc.Flush() != nil {
				return nil
			}
			quiet = time.Now()
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
		if rs, err = d.svc.Traffic.Requests(ctx, name, q); err != nil {
			if ctx.Err() == nil {
				d.log.Warn("request log stream ended", "project", name, "err", err)
			}
			return nil // the response has begun; the page keeps what it shows
		}
		rs = slices.DeleteFunc(rs, func(rq apogee.Request) bool { return rq.ID <= q.AfterID })
	}
}
