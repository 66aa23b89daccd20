package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/runtimelog"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// runtimeEnv is an API with a runtime log writer on the platform's hub,
// alice's app "api" and bob, another user.
type runtimeEnv struct {
	*env
	w            *runtimelog.Writer
	alice, bob   string
	projectID    string
	t0           time.Time
	storedBefore int64
}

func newRuntimeEnv(t *testing.T) *runtimeEnv {
	hub := logs.NewHub(0)
	e := newEnvWith(t, func(c *platform.Config) { c.Logs = hub })
	r := &runtimeEnv{env: e, alice: e.user("alice@example.com"), bob: e.user("bob@example.com")}
	e.must(e.call("POST", "/api/v1/projects", r.alice, apogee.CreateProjectRequest{Name: "api"}), 201, nil)
	p, err := e.store.ProjectByName(t.Context(), "api")
	if err != nil {
		t.Fatal(err)
	}
	r.projectID = p.ID
	r.w = runtimelog.NewWriter(e.store, hub, runtimelog.Options{Log: testbed.Quiet})
	t.Cleanup(func() { r.w.Close(context.Background()) })
	// 100 lines a minute apart, ending 5 minutes ago: instance a writes
	// the even ones, b the odd ones.
	r.t0 = time.Now().UTC().Add(-105 * time.Minute).Truncate(time.Second)
	var lines []apogee.LogLine
	for i := range 100 {
		inst := "aaaaaaaaaaaa"
		if i%2 == 1 {
			inst = "bbbbbbbbbbbb"
		}
		lines = append(lines, apogee.LogLine{Time: r.t0.Add(time.Duration(i) * time.Minute), Stream: apogee.StreamStdout, Instance: inst, Text: fmt.Sprintf("GET /item/%d 200", i)})
	}
	if _, _, err := e.store.AppendRuntimeLogs(t.Context(), p.ID, lines); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *runtimeEnv) page(token, query string) apogee.RuntimeLogPage {
	r.t.Helper()
	var p apogee.RuntimeLogPage
	r.must(r.call("GET", "/api/v1/projects/api/runtime-logs?"+query, token, nil), 200, &p)
	return p
}

func lineTexts(lines []apogee.LogLine) string {
	var s []string
	for _, l := range lines {
		s = append(s, strings.TrimSuffix(strings.TrimPrefix(l.Text, "GET /item/"), " 200"))
	}
	return strings.Join(s, ",")
}

func TestRuntimeLogsHistory(t *testing.T) {
	r := newRuntimeEnv(t)
	at := func(min int) string {
		return url.QueryEscape(r.t0.Add(time.Duration(min) * time.Minute).Format(time.RFC3339))
	}
	cases := []struct {
		query, want string
		more        bool
	}{
		{"limit=3", "97,98,99", true},
		{"limit=3&before=4", "0,1,2", false},
		{"after=95", "95,96,97,98,99", false},
		{"after=10&limit=2", "10,11", true},
		{"instance=bbbbbbbbbbbb&limit=2", "97,99", true},
		{"search=item%2F4&limit=20", "4,40,41,42,43,44,45,46,47,48,49", false},
		{"search=ITEM%2F7", "7,70,71,72,73,74,75,76,77,78,79", false},
		{"since=" + at(97), "97,98,99", false},
		{"since=" + at(10) + "&until=" + at(13), "10,11,12", false},
		{"since=8m30s", "97,98,99", false}, // a duration before now: the last 3 lines are 6 to 8 minutes old
		{"since=1d&limit=1", "99", true},
		{"instance=nosuch", "", false},
	}
	for _, c := range cases {
		p := r.page(r.alice, c.query)
		if got := lineTexts(p.Lines); got != c.want || p.More != c.more || p.LastSeq != 100 {
			t.Errorf("%s: lines %q more %v last %d; want %q more %v last 100", c.query, got, p.More, p.LastSeq, c.want, c.more)
		}
	}
	p := r.page(r.alice, "")
	if len(p.Lines) != 100 || p.Lines[0].Instance != "aaaaaaaaaaaa" || p.Lines[0].Seq != 1 || p.Lines[0].Stream != "stdout" || !p.Lines[0].Time.Equal(r.t0) {
		t.Errorf("all lines: %d, first %+v", len(p.Lines), p.Lines[0])
	}
	if raw := r.call("GET", "/api/v1/projects/api/runtime-logs?instance=nosuch", r.alice, nil); !strings.Contains(string(raw.body), `"lines": []`) {
		t.Errorf("no lines is not an empty list: %s", raw.body)
	}
}

// TestRuntimeLogsWhoMay: the owner reads the log; another user is told
// the project does not exist, and no one must sign in, streaming or not.
func TestRuntimeLogsWhoMay(t *testing.T) {
	r := newRuntimeEnv(t)
	for _, q := range []string{"", "?follow=1"} {
		path := "/api/v1/projects/api/runtime-logs" + q
		r.wantErr(r.call("GET", path, r.bob, nil), 404, apogee.ENOTFOUND)
		r.wantErr(r.call("GET", path, "", nil), 401, apogee.EUNAUTHORIZED)
		r.wantErr(r.call("GET", "/api/v1/projects/nosuch/runtime-logs"+q, r.alice, nil), 404, apogee.ENOTFOUND)
	}
	// Bob's own project's log is his, and empty.
	r.must(r.call("POST", "/api/v1/projects", r.bob, apogee.CreateProjectRequest{Name: "bobs"}), 201, nil)
	var p apogee.RuntimeLogPage
	r.must(r.call("GET", "/api/v1/projects/bobs/runtime-logs", r.bob, nil), 200, &p)
	if len(p.Lines) != 0 || p.LastSeq != 0 {
		t.Errorf("bob's new project has a log: %+v", p)
	}
}

func TestRuntimeLogsBadInput(t *testing.T) {
	r := newRuntimeEnv(t)
	for _, q := range []string{
		"limit=0", "limit=abc", "limit=10001", "since=yesterday", "until=-5m", "since=1h&until=2h",
		"instance=NOT%20AN%20ID", "after=-1", "before=x", "search=" + strings.Repeat("x", 201),
	} {
		for _, follow := range []string{"", "&follow=1"} {
			b := r.wantErr(r.call("GET", "/api/v1/projects/api/runtime-logs?"+q+follow, r.alice, nil), 400, apogee.EINVALID)
			if strings.Contains(b.Error.Message, "apogee") {
				t.Errorf("%s: the message speaks of a client: %q", q, b.Error.Message)
			}
		}
	}
}

// sse reads a text/event-stream.
type sse struct {
	t    *testing.T
	resp *http.Response
	sc   *bufio.Scanner
}

func (r *runtimeEnv) follow(ctx context.Context, token, query, lastID string) *sse {
	r.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", r.srv.URL+"/api/v1/projects/api/runtime-logs?follow=1&"+query, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		r.t.Fatalf("follow: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return &sse{t: r.t, resp: resp, sc: bufio.NewScanner(resp.Body)}
}

// next returns the next event's name, id and data.
func (s *sse) next() (name, id string, l apogee.LogLine) {
	s.t.Helper()
	var data string
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case line == "" && name != "":
			if name == "line" {
				if err := json.Unmarshal([]byte(data), &l); err != nil {
					s.t.Fatalf("line event %q: %v", data, err)
				}
			}
			return name, id, l
		case strings.HasPrefix(line, "event: "):
			name = line[len("event: "):]
		case strings.HasPrefix(line, "id: "):
			id = line[len("id: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		}
	}
	s.t.Fatalf("the stream ended: %v", s.sc.Err())
	return
}

func TestRuntimeLogsFollow(t *testing.T) {
	r := newRuntimeEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	all := r.follow(ctx, r.alice, "limit=2", "")
	onlyB := r.follow(ctx, r.alice, "instance=bbbbbbbbbbbb&search=LIVE", "")
	for _, want := range []string{"GET /item/98 200", "GET /item/99 200"} {
		if _, _, l := all.next(); l.Text != want {
			t.Fatalf("the tail: got %q, want %q", l.Text, want)
		}
	}
	for i := range 4 {
		r.w.Add("api", apogee.LogLine{Time: time.Now(), Stream: "stderr", Instance: []string{"aaaaaaaaaaaa", "bbbbbbbbbbbb"}[i%2], Text: fmt.Sprint("live ", i)})
	}
	for i := range 4 {
		name, id, l := all.next()
		if name != "line" || l.Text != fmt.Sprint("live ", i) || id != fmt.Sprint(101+i) || l.Stream != "stderr" {
			t.Fatalf("live line %d: event %q id %q %+v", i, name, id, l)
		}
	}
	for _, want := range []string{"live 1", "live 3"} {
		if _, _, l := onlyB.next(); l.Text != want {
			t.Fatalf("the filtered follower got %q, want %q", l.Text, want)
		}
	}
	// A follower reconnecting with Last-Event-ID gets what came after.
	r.w.Add("api", apogee.LogLine{Time: time.Now(), Stream: "stdout", Instance: "aaaaaaaaaaaa", Text: "after reconnect"})
	again := r.follow(ctx, r.alice, "", "103")
	for _, want := range []string{"live 3", "after reconnect"} {
		if _, _, l := again.next(); l.Text != want {
			t.Fatalf("after Last-Event-ID 103: got %q, want %q", l.Text, want)
		}
	}
	// A range that has passed ends the stream.
	past := r.follow(ctx, r.alice, "since=2h&until="+url.QueryEscape(r.t0.Add(5*time.Minute).Format(time.RFC3339)), "")
	var got []string
	for {
		name, _, l := past.next()
		if name == "end" {
			break
		}
		got = append(got, l.Text)
	}
	if len(got) != 5 || got[0] != "GET /item/0 200" {
		t.Errorf("a past range streamed %q", got)
	}
}
