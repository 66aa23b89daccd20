package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
)

// needAppTools fails t unless the tools a real app deploy needs are here.
func needAppTools(t testing.TB) {
	t.Helper()
	for tool, pkg := range map[string]string{"bwrap": "bubblewrap", "node": "nodejs", "npm": "npm", "git": "git", "slirp4netns": "slirp4netns"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: apt-get install %s", tool, pkg)
		}
	}
}

// appServer starts a server that builds and runs apps in bwrap, with a
// user and their client.
func appServer(t testing.TB) (*Server, *client.Client, string, string) {
	return appServerWith(t, 1)
}

// appServerWith is appServer keeping keepWarm previous releases running.
func appServerWith(t testing.TB, keepWarm int) (*Server, *client.Client, string, string) {
	t.Helper()
	needAppTools(t)
	s, addr := startServer(t, Config{Data: t.TempDir(), BuildWorkers: 1, Sandbox: "bwrap", AppSandbox: "bwrap", AppKeepWarm: keepWarm})
	token := userToken(t, s.Store(), "dev@example.com", "password", false)
	// Releases wait for their instances: longer than the default call.
	return s, client.New(addr, token, client.WithTimeout(3*time.Minute)), addr, token
}

// expressApp is the Express app of testdata/express (a 10-line server
// and its real lockfile) with extra files.
func expressApp(t testing.TB, extra map[string]string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, name := range []string{"package.json", "package-lock.json", "server.js"} {
		b, err := os.ReadFile(filepath.Join("testdata", "express", name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(b)
	}
	for k, v := range extra {
		files[k] = v
	}
	return files
}

// zipBuild builds a ZIP of files for project's production through the
// API and the builder, and returns the deployment once its build ended,
// with its log.
func zipBuild(t testing.TB, c *client.Client, project string, files map[string]string) (*apogee.DeploymentView, string) {
	t.Helper()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "src.zip")
	writeZip(t, path, files)
	zip, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	up, err := c.CreateUpload(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PutUpload(ctx, up.UploadURL, bytes.NewReader(zip), int64(len(zip))); err != nil {
		t.Fatal(err)
	}
	d, err := c.QueueBuild(ctx, project, apogee.BuildRequest{UploadID: up.ID})
	if err != nil {
		t.Fatal(err)
	}
	return followBuild(t, c, d.ID)
}

// followBuild follows a build's log to its end.
func followBuild(t testing.TB, c *client.Client, id string) (*apogee.DeploymentView, string) {
	t.Helper()
	var log strings.Builder
	if _, err := c.FollowLogs(t.Context(), id, 0, func(l apogee.LogLine) error {
		log.WriteString("[" + l.Stream + "] " + l.Text + "\n")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	d, err := c.GetDeployment(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d, log.String()
}

// gitPush commits files to a new repository and pushes it to the
// platform's git server as project's main branch.
func gitPush(t *testing.T, addr, token, project string, files map[string]string) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	url := strings.Replace(addr, "http://", "http://x:"+token+"@", 1) + "/git/" + project + ".git"
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "."},
		{"-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-q", "-m", "app"},
		{"push", "-q", url, "main"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", args[0], err, out)
		}
	}
}

// request sends method path to host through the server's edge.
func request(t testing.TB, addr, method, host, path, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

// serves waits until host answers GET path with 200 and body (the edge
// applies an alias move when its event arrives).
func serves(t testing.TB, addr, host, path, body string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, got, _ := request(t, addr, "GET", host, path, "")
		if code == 200 && got == body {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%s answers %d %q, want %q", host, path, code, got, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestExpressApp deploys a real Express app from git push and from a
// ZIP, served by its instances through the edge: the production host,
// a custom method and body, the forwarded headers, a release's own host
// (started on its first request), a change of variables rolled out as a
// new release, and a rollback to the warm previous release.
func TestExpressApp(t *testing.T) {
	s, c, addr, token := appServer(t)
	ctx := t.Context()
	if _, err := c.CreateProject(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	gitPush(t, addr, token, "api", expressApp(t, nil))
	var first *apogee.DeploymentView
	deadline := time.Now().Add(10 * time.Second)
	for first == nil {
		ds, err := c.ListDeployments(ctx, "api", 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 1 {
			first = &ds[0]
		} else if time.Now().After(deadline) {
			t.Fatal("the push queued no build")
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	first, log := followBuild(t, c, first.ID)
	if first.Status != apogee.StatusReady || !first.Production {
		t.Fatalf("the pushed app's build is %s (%s), production %v:\n%s", first.Status, first.Error, first.Production, log)
	}
	for _, want := range []string{"Detected a Node.js app (start-script): start `npm start`", "Installing: npm ci --omit=dev",
		"Release v1: 1 instance ready", "Ready: "} {
		if !strings.Contains(log, want) {
			t.Errorf("the build log lacks %q:\n%s", want, log)
		}
	}
	serves(t, addr, "api.localhost", "/", "hello from express")
	code, body, _ := request(t, addr, "POST", "api.localhost", "/echo", `{"a":[1,2]}`)
	if code != 200 || body != `{"a":[1,2]}` {
		t.Errorf("POST /echo = %d %q", code, body)
	}
	_, body, hdr := request(t, addr, "GET", "api.localhost", "/whoami", "")
	var who struct{ Host, ForwardedFor string }
	if err := json.Unmarshal([]byte(body), &who); err != nil || who.Host != "api.localhost" || who.ForwardedFor != "127.0.0.1" {
		t.Errorf("/whoami = %q (%v)", body, err)
	}
	if hdr.Get("X-Apogee-Deployment") != first.ID {
		t.Errorf("X-Apogee-Deployment = %q, want %s", hdr.Get("X-Apogee-Deployment"), first.ID)
	}
	// The app's files are never served as files.
	if code, body, _ := request(t, addr, "GET", first.Deployment.Host+".localhost", "/server.js", ""); code == 200 && strings.Contains(body, "require('express')") {
		t.Error("the release's own host served server.js")
	}

	// A variable: a new release of the same tree, rolled out.
	if _, err := c.SetEnv(ctx, "api", "GREETING", "world", false); err != nil {
		t.Fatal(err)
	}
	serves(t, addr, "api.localhost", "/", "hello from world")
	ds, err := c.ListDeployments(ctx, "api", 1)
	if err != nil {
		t.Fatal(err)
	}
	second := ds[0]
	if second.Source != apogee.SourceEnv || !second.Production || second.Files != first.Files {
		t.Errorf("the release of a variable: %+v", second.Deployment)
	}

	// Rollback: the previous release, kept warm, serves at once.
	if _, err := c.Rollback(ctx, "api", ""); err != nil {
		t.Fatal(err)
	}
	serves(t, addr, "api.localhost", "/", "hello from express")

	// A ZIP of a changed app: a third release.
	third, log := zipBuild(t, c, "api", expressApp(t, map[string]string{
		"server.js": strings.Replace(expressApp(t, nil)["server.js"], "hello from", "hi from", 1),
	}))
	if third.Status != apogee.StatusReady || !third.Production {
		t.Fatalf("the ZIP build is %s (%s):\n%s", third.Status, third.Error, log)
	}
	serves(t, addr, "api.localhost", "/", "hi from world")

	// The first release's own host: started on its first request, with
	// its own (empty) variables.
	serves(t, addr, first.Deployment.Host+".localhost", "/", "hello from express")

	_, metrics, _ := request(t, "http://"+s.MetricsAddr(), "GET", "localhost", "/metrics", "")
	for _, want := range []string{`apogee_app_releases_total{outcome="live"} 4`, "apogee_app_instances ", "apogee_app_release_ready_seconds_count 4"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestAppFaults deploys broken apps over a working one: each build fails
// with a clear reason in its log and error, and the working release keeps
// serving.
func TestAppFaults(t *testing.T) {
	_, c, addr, _ := appServer(t)
	ctx := t.Context()
	if _, err := c.CreateProject(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	// Apps with no dependencies build in a moment: a Procfile and a file.
	good := map[string]string{
		"Procfile":  "web: node server.js",
		"server.js": `require('http').createServer((q, s) => s.end(q.url === '/healthz' ? 'ok' : 'good')).listen(process.env.PORT)`,
	}
	d, log := zipBuild(t, c, "api", good)
	if d.Status != apogee.StatusReady {
		t.Fatalf("the good app: %s (%s):\n%s", d.Status, d.Error, log)
	}
	serves(t, addr, "api.localhost", "/", "good")
	// Boot failures end within seconds.
	if _, err := c.UpdateProjectSettings(ctx, "api", map[string]map[string]any{"app": {"boot_timeout": 3, "health_path": "/healthz"}}); err != nil {
		t.Fatal(err)
	}
	serves(t, addr, "api.localhost", "/", "good") // the settings' release

	tests := []struct {
		name   string
		files  map[string]string
		reason string
	}{
		{"never listens", map[string]string{"Procfile": "web: node server.js", "server.js": `setInterval(() => {}, 1000)`},
			"did not listen on PORT 8080 within 3s"},
		{"exits at once", map[string]string{"Procfile": "web: node server.js", "server.js": `console.error('boom'); process.exit(3)`},
			"exited with code 3"},
		{"wrong port", map[string]string{"Procfile": "web: node server.js",
			"server.js": `require('http').createServer((q, s) => s.end('x')).listen(3999)`},
			"did not listen on PORT 8080 within 3s"},
		{"health 500", map[string]string{"Procfile": "web: node server.js",
			"server.js": `require('http').createServer((q, s) => { s.statusCode = q.url === '/healthz' ? 500 : 200; s.end('bad') }).listen(process.env.PORT)`},
			"GET /healthz answered 500"},
		{"release command fails", map[string]string{"Procfile": "web: node server.js\nrelease: node -e 'process.exit(4)'", "server.js": good["server.js"]},
			"the release command `node -e 'process.exit(4)'` exited with code 4"},
		{"start command not found", map[string]string{"Procfile": "web: nosuchcommand --serve", "server.js": good["server.js"]},
			"not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, log := zipBuild(t, c, "api", tt.files)
			if d.Status != apogee.StatusError || d.Production {
				t.Fatalf("%s: %s (production %v), want error:\n%s", tt.name, d.Status, d.Production, log)
			}
			if !strings.Contains(d.Error, tt.reason) || !strings.Contains(log, tt.reason) {
				t.Errorf("%s: error %q and log do not say %q:\n%s", tt.name, d.Error, tt.reason, log)
			}
			serves(t, addr, "api.localhost", "/", "good")
		})
	}
}

// TestAppPreviewAndStatic: a preview release serves its own host without
// running its release command (its variables may name production's
// database), which runs when it is promoted; a project turned static
// serves files again and its app's instances stop.
func TestAppPreviewAndStatic(t *testing.T) {
	_, c, addr, _ := appServer(t)
	ctx := t.Context()
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "src.zip")
	writeZip(t, path, map[string]string{
		"Procfile":  "web: node server.js\nrelease: echo migrated-now",
		"server.js": `require('http').createServer((q, s) => s.end('preview')).listen(process.env.PORT)`,
	})
	zip, _ := os.ReadFile(path)
	up, err := c.CreateUpload(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PutUpload(ctx, up.UploadURL, bytes.NewReader(zip), int64(len(zip))); err != nil {
		t.Fatal(err)
	}
	q, err := c.QueueBuild(ctx, "web", apogee.BuildRequest{UploadID: up.ID, Target: apogee.TargetPreview})
	if err != nil {
		t.Fatal(err)
	}
	d, log := followBuild(t, c, q.ID)
	if d.Status != apogee.StatusReady || d.Production {
		t.Fatalf("preview build: %s (%s), production %v\n%s", d.Status, d.Error, d.Production, log)
	}
	serves(t, addr, d.Deployment.Host+".localhost", "/", "preview")
	logOf := func() string {
		page, err := c.Logs(ctx, d.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, l := range page.Lines {
			b.WriteString(l.Text + "\n")
		}
		return b.String()
	}
	if l := logOf(); strings.Contains(l, "Release phase") || strings.Contains(l, "migrated-now\n") {
		t.Errorf("the preview ran its release command:\n%s", l)
	}
	if _, err := c.Promote(ctx, "web", d.ID); err != nil {
		t.Fatal(err)
	}
	serves(t, addr, "web.localhost", "/", "preview")
	if l := logOf(); !strings.Contains(l, "Release phase: echo migrated-now") || !strings.Contains(l, "migrated-now\n") {
		t.Errorf("the promoted release did not run its release command:\n%s", l)
	}

	// Static now: a prebuilt folder serves, and the app stops.
	if _, err := c.UpdateProjectSettings(ctx, "web", map[string]map[string]any{"app": {"kind": "static"}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("static again"), 0o644)
	if _, err := c.Deploy(ctx, dir, client.DeployOptions{Project: "web", Production: true}); err != nil {
		t.Fatal(err)
	}
	serves(t, addr, "web.localhost", "/", "static again")
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := c.AppStatus(ctx, "web")
		if err != nil {
			t.Fatal(err)
		}
		if st.Kind == apogee.KindStatic && len(st.Running) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app still runs after the project turned static: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
