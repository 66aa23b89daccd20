package dashboard

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/runtimelog"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// appProject makes alice's app "api" with two releases (v2 serving) and
// a runtime log of 30 lines from two instances.
func (e *env) appProject() (*apogee.Project, []*apogee.Deployment) {
	e.t.Helper()
	ctx := context.Background()
	p := &apogee.Project{ID: apogee.NewID(), Name: "api", OwnerID: e.alice.ID, CreatedAt: time.Now().UTC()}
	if err := e.store.CreateProject(ctx, p); err != nil {
		e.t.Fatal(err)
	}
	var ds []*apogee.Deployment
	for i := range 2 {
		at := time.Now().UTC().Add(time.Duration(i-2) * time.Minute)
		id := apogee.NewID()
		d := &apogee.Deployment{ID: id, ProjectID: p.ID, Status: apogee.StatusUploading, Target: apogee.TargetProduction,
			Host: apogee.DeploymentHost(p.Name, id), CreatedAt: at, Source: apogee.SourceUpload}
		if err := e.store.CreateDeployment(ctx, d, nil); err != nil {
			e.t.Fatal(err)
		}
		if err := e.store.CreateRelease(ctx, &apogee.Release{DeploymentID: id, ProjectID: p.ID, StartCommand: "node server.js",
			HealthPath: "/", BootTimeout: 60, Description: fmt.Sprint("build ", i+1), CreatedAt: at}); err != nil {
			e.t.Fatal(err)
		}
		d, err := e.store.FinalizeDeployment(ctx, id, at.Add(time.Second), true)
		if err != nil {
			e.t.Fatal(err)
		}
		ds = append(ds, d)
	}
	var lines []apogee.LogLine
	for i := range 30 {
		lines = append(lines, apogee.LogLine{Time: time.Now().UTC().Add(time.Duration(i-60) * time.Minute), Stream: apogee.StreamStdout,
			Instance: []string{"aaaaaaaaaaaa", "bbbbbbbbbbbb"}[i%2], Text: fmt.Sprintf("GET /item/%d <b>200</b>", i)})
	}
	if _, _, err := e.store.AppendRuntimeLogs(ctx, p.ID, lines); err != nil {
		e.t.Fatal(err)
	}
	return p, ds
}

func TestAppPage(t *testing.T) {
	e := newEnv(t, SignupClosed)
	p, ds := e.appProject()
	alice, bob, nobody := e.signedIn(e.alice), e.signedIn(e.bob), e.browser()

	res := alice.get("/projects/api/app")
	want(t, "app page", res, http.StatusOK, `<h2 class="page-title">App</h2>`, `data-release="`+ds[1].ID+`"`, "<b>v2</b>", `<span class="tag prod">Production</span>`,
		"build 1", "node server.js", `aria-label="Roll back to v1"`, "Roll back to this",
		`data-status-src="/projects/api/app/status"`, "No instance runs on this server.",
		"GET /item/29 &lt;b&gt;200&lt;/b&gt;", `<span class="inst">bbbbbbbbbbbb</span>`, `data-runtime-src="/projects/api/app/logs?after=30"`,
		`action="/projects/api/app/env"`, `name="instances" type="number" min="1" max="10"`)
	if strings.Contains(res.body, "GET /item/29 <b>") {
		t.Error("a log line's text reached the page as HTML")
	}
	want(t, "project page links the app", alice.get("/projects/api"), http.StatusOK, `href="/projects/api/app"`)
	if res := alice.get("/projects/api/app?search=ITEM%2F2&since=2h&instance=aaaaaaaaaaaa"); !strings.Contains(res.body, "GET /item/28 ") ||
		strings.Contains(res.body, "GET /item/29 ") || strings.Contains(res.body, "GET /item/3 ") ||
		!strings.Contains(res.body, `data-runtime-src="/projects/api/app/logs?after=30&amp;instance=aaaaaaaaaaaa&amp;search=ITEM%2F2&amp;since=2h"`) {
		t.Errorf("filtered log:\n%.3000s", res.body[strings.Index(res.body, `id="logs"`):])
	}
	want(t, "a past range is not live", alice.get("/projects/api/app?until=1h"), http.StatusOK, "GET /item/0 ")
	if res := alice.get("/projects/api/app?until=1h"); strings.Contains(res.body, "data-runtime-src") || strings.Contains(res.body, "GET /item/29 ") {
		t.Error("a range that ended an hour ago is live or shows later lines")
	}
	want(t, "bad time", alice.get("/projects/api/app?since=yesterday"), http.StatusOK, `role="alert">time &#34;yesterday&#34;`)

	// Who may: another user and no one.
	want(t, "bob", bob.get("/projects/api/app"), http.StatusNotFound)
	want(t, "bob's log stream", bob.get("/projects/api/app/logs"), http.StatusNotFound)
	want(t, "bob's status stream", bob.get("/projects/api/app/status"), http.StatusNotFound)
	if res := nobody.get("/projects/api/app"); res.code != http.StatusSeeOther || !strings.HasPrefix(res.location, "/login") {
		t.Errorf("signed out: %d %q", res.code, res.location)
	}
	for _, path := range []string{"/projects/api/app/restart", "/projects/api/app/scale", "/projects/api/app/rollback", "/projects/api/app/env"} {
		want(t, "bob posts "+path, bob.post(path, url.Values{"instances": {"2"}, "key": {"X"}}), http.StatusNotFound)
		want(t, "no CSRF "+path, alice.post(path, url.Values{"csrf": {""}, "instances": {"2"}}), http.StatusForbidden)
	}

	// Actions: this server runs no apps, so scale and restart are refused
	// with the platform's reason; rollback and variables work.
	alice.get("/projects/api/app")
	res = alice.post("/projects/api/app/scale", url.Values{"instances": {"3"}})
	if res.code != http.StatusSeeOther || res.location != "/projects/api/app" {
		t.Fatalf("scale: %d %q", res.code, res.location)
	}
	want(t, "scale refused", alice.get("/projects/api/app"), http.StatusOK, "this server runs no apps")
	alice.post("/projects/api/app/scale", url.Values{"instances": {"many"}})
	want(t, "scale bad input", alice.get("/projects/api/app"), http.StatusOK, "instances: enter a whole number from 1 to 10")
	alice.post("/projects/api/app/restart", nil)
	want(t, "restart refused", alice.get("/projects/api/app"), http.StatusOK, "this server runs no apps")
	alice.post("/projects/api/app/rollback", url.Values{"deployment_id": {ds[0].ID}})
	want(t, "rolled back", alice.get("/projects/api/app"), http.StatusOK, "Rolled back: release "+ds[0].ID+" serves production again.")
	if got := e.production("api"); got != ds[0].ID {
		t.Errorf("production is %s after a rollback to v1 %s", got, ds[0].ID)
	}
	alice.post("/projects/api/app/env", url.Values{"key": {"GREETING"}, "value": {"hi"}})
	want(t, "env set", alice.get("/projects/api/app"), http.StatusOK, "GREETING saved", `<td class="mono">GREETING</td>`)
	alice.post("/projects/api/app/env", url.Values{"key": {"1BAD"}, "value": {"x"}})
	want(t, "bad key", alice.get("/projects/api/app"), http.StatusOK, `class="flash error"`)
	alice.post("/projects/api/app/env/delete", url.Values{"key": {"GREETING"}})
	if res := alice.get("/projects/api/app"); !strings.Contains(res.body, "GREETING removed") || strings.Contains(res.body, `<td class="mono">GREETING</td>`) {
		t.Errorf("env delete: %.500s", res.body)
	}
	_ = p
}

// TestAppPageStreams: the log stream sends the lines after the page's,
// with its filter, as they are written; the status stream sends the
// app's status at once and again.
func TestAppPageStreams(t *testing.T) {
	e := newEnv(t, SignupClosed)
	e.appProject()
	alice := e.signedIn(e.alice)
	w := runtimelog.NewWriter(e.store, e.hub, runtimelog.Options{Log: testbed.Quiet})
	defer w.Close(context.Background())

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	open := func(path string) *bufio.Scanner {
		req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+path, nil)
		res, err := alice.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("%s: %d %s", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
		return bufio.NewScanner(res.Body)
	}
	next := func(sc *bufio.Scanner, event string) string {
		t.Helper()
		for name := ""; sc.Scan(); {
			l := sc.Text()
			if n, ok := strings.CutPrefix(l, "event: "); ok {
				name = n
			}
			if d, ok := strings.CutPrefix(l, "data: "); ok && name == event {
				return d
			}
		}
		t.Fatalf("no %s event: %v", event, ctx.Err())
		return ""
	}
	logs := open("/projects/api/app/logs?after=30&search=error")
	w.Add("api", apogee.LogLine{Time: time.Now(), Stream: "stdout", Instance: "aaaaaaaaaaaa", Text: "all is well"})
	w.Add("api", apogee.LogLine{Time: time.Now(), Stream: "stderr", Instance: "aaaaaaaaaaaa", Text: "TypeError: x is undefined"})
	if got := next(logs, "line"); !strings.Contains(got, `"text":"TypeError: x is undefined"`) || !strings.Contains(got, `"seq":32`) {
		t.Errorf("live line: %s", got)
	}
	st := open("/projects/api/app/status")
	for range 2 {
		if got := next(st, "status"); !strings.Contains(got, `"project":"api"`) || !strings.Contains(got, `"kind":"app"`) || !strings.Contains(got, `"rows":[]`) {
			t.Errorf("status: %s", got)
		}
	}
}

// TestAppSandboxSelect: where the server offers more than one sandbox the
// app page has a select; a choice the platform refuses is shown and
// changes nothing; only the owner may post it.
func TestAppSandboxSelect(t *testing.T) {
	plain := newEnv(t, SignupClosed)
	plain.appProject()
	if res := plain.signedIn(plain.alice).get("/projects/api/app"); strings.Contains(res.body, `action="/projects/api/app/sandbox"`) {
		t.Error("a server with one sandbox offers a choice")
	}

	e := newEnvWith(t, SignupClosed, nil, func(c *Config) { c.AppSandboxes = []string{"bwrap", "runsc"} })
	e.appProject()
	alice, bob := e.signedIn(e.alice), e.signedIn(e.bob)
	want(t, "select", alice.get("/projects/api/app"), http.StatusOK, `action="/projects/api/app/sandbox"`,
		`<option value="" selected>Server default</option>`, `<option value="runsc">runsc (gVisor)</option>`)
	want(t, "bob", bob.post("/projects/api/app/sandbox", url.Values{"sandbox": {"runsc"}}), http.StatusNotFound)
	want(t, "no CSRF", alice.post("/projects/api/app/sandbox", url.Values{"csrf": {""}, "sandbox": {"runsc"}}), http.StatusForbidden)
	// This test's platform lets no app choose (it runs no apps).
	res := alice.post("/projects/api/app/sandbox", url.Values{"sandbox": {"runsc"}})
	if res.code != http.StatusSeeOther || res.location != "/projects/api/app" {
		t.Fatalf("post: %d %q", res.code, res.location)
	}
	want(t, "refused", alice.get("/projects/api/app"), http.StatusOK, "this server lets no app choose its sandbox", `<option value="" selected>Server default</option>`)
	p, err := e.store.ProjectByName(context.Background(), "api")
	if err != nil {
		t.Fatal(err)
	}
	if p.Settings.App.Sandbox != nil {
		t.Errorf("the refused choice was saved: %q", *p.Settings.App.Sandbox)
	}
	alice.post("/projects/api/app/sandbox", url.Values{"sandbox": {""}})
	want(t, "default", alice.get("/projects/api/app"), http.StatusOK, "The app runs in the server&#39;s default sandbox")
}
