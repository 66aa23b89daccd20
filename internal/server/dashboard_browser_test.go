package server

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/auth"
	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/logs"
)

// chromiumPath is Debian's chromium, which the browser tests drive.
const chromiumPath = "/usr/bin/chromium"

// newBrowser starts headless chromium with a fresh profile and returns a
// chromedp context for one tab.
// newBrowser starts a headless chromium for t, with extra options (a
// host-resolver rule, say) after the tests' own.
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		t.Fatalf("the dashboard's browser tests need chromium at %s: apt-get install chromium (scripts/test.sh installs it)", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start the browser now, on a context with no deadline (see chromedp.Run).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// artifacts is the folder the screenshots go to: $APOGEE_TEST_ARTIFACTS
// (kept) or a temporary folder of the test.
func artifacts(t *testing.T) string {
	dir := os.Getenv("APOGEE_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, "dashboard")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// byLabel selects the form control that the label whose own text is
// label names (<label for=…>), as a person or a screen reader finds it.
func byLabel(label string) string {
	return fmt.Sprintf(`//*[@id=//label[normalize-space(text()[1])=%q]/@for]`, label)
}

// void drops an action's value, to run it among steps.
func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}

// button selects a button by its text.
func button(text string) string {
	return fmt.Sprintf(`//button[normalize-space()=%q]`, text)
}

// pageState describes the page of tab b when a step failed: its address,
// its text, and a screenshot saved to shots, so that a failure in CI
// says what the browser showed.
func pageState(b context.Context, shots, what string) string {
	ctx, cancel := context.WithTimeout(b, 10*time.Second)
	defer cancel()
	url, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "the page's state could not be read: " + err.Error()
	}
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	state := fmt.Sprintf("the page at %s shows:\n%s", url, body)
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		path := filepath.Join(shots, "failed-"+strings.NewReplacer(" ", "-", "/", "-").Replace(what)+".png")
		if os.WriteFile(path, png, 0o644) == nil {
			state += "\nscreenshot: " + path
		}
	}
	return state
}

// steps returns the actions a browser test takes in tab b: run steps (15
// s each at most), read an element's text, and save a full-page
// screenshot to shots.
func steps(t *testing.T, b context.Context, shots string) (run func(string, ...chromedp.Action[chromedp.Void]), text func(string) string, shot func(string)) {
	run = func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		rctx, cancel := context.WithTimeout(b, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(rctx, steps...); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, pageState(b, shots, what))
		}
	}
	text = func(sel string) string {
		t.Helper()
		rctx, cancel := context.WithTimeout(b, 15*time.Second)
		defer cancel()
		s, err := chromedp.Run(rctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	shot = func(name string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(b, 30*time.Second)
		defer cancel()
		png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(shots, name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	return run, text, shot
}

// TestDashboardInBrowser drives the dashboard of a real in-process server
// with headless chromium: sign in by the form's labels, see a project,
// watch a build's log line arrive live, roll back from the project page
// and see production move. It saves a screenshot of each main page.
func TestDashboardInBrowser(t *testing.T) {
	s, _, addr := testServer(t)
	ctx := context.Background()
	store := s.Store()

	// A user who owns a project with two real deployments (v1, then v2 in production).
	secret := userToken(t, store, "dev@example.com", "a long password", false)
	c := client.New(addr, secret)
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	v1, err := c.Deploy(ctx, site(t, "v1"), client.DeployOptions{Project: "web", Production: true})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := c.Deploy(ctx, site(t, "v2"), client.DeployOptions{Project: "web", Production: true})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, addr, "web.localhost", "v2")
	// A preview build in progress, as a build worker would have it.
	p, _ := store.ProjectByName(ctx, "web")
	id := apogee.NewID()
	if err := store.QueueBuild(ctx, &apogee.Deployment{ID: id, ProjectID: p.ID, Target: apogee.TargetPreview,
		Host: apogee.DeploymentHost("web", id), CreatedAt: time.Now().UTC(), Source: apogee.SourceGit,
		Branch: "feature/login", Commit: "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ClaimBuild(ctx, "test/1/1", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	log := logs.NewWriter(id, store, s.hub, logs.Options{})
	log.Systemf("cloning feature/login at 4f2a9c1")
	io.WriteString(log.Stream(apogee.StreamStdout), "added 212 packages in 3s\n")
	io.WriteString(log.Stream(apogee.StreamStderr), "npm warn deprecated inflight@1.0.6\n")

	b := newBrowser(t)
	shots := artifacts(t)
	run, text, shot := steps(t, b, shots)

	run("landing page", chromedp.Navigate(addr+"/"), chromedp.WaitVisible(`//h1[contains(., "deployment platform")]`))
	shot("landing")
	docsSteps(t, b, addr, run, text, shot) // pages_browser_test.go
	// Signed out, a page of the dashboard leads to the sign-in form and back.
	run("open the project signed out",
		chromedp.Navigate(addr+"/projects/web"),
		chromedp.WaitVisible(byLabel("Email")),
	)
	shot("login")
	run("sign in by the labels",
		chromedp.SendKeys(byLabel("Email"), "dev@example.com"),
		chromedp.SendKeys(byLabel("Password"), "a long password"),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(`//h1[normalize-space()="web"]`),
	)
	if loc, _ := chromedp.Run(b, chromedp.Location()); loc != addr+"/projects/web" {
		t.Fatalf("after sign-in the browser is at %s, want the project it asked for", loc)
	}

	run("projects list", chromedp.Navigate(addr+"/"), chromedp.WaitVisible(`//a[@href="/projects/web"]`))
	if got := text(`//li[contains(@class,"project")]`); !strings.Contains(got, "http://web.localhost") || !strings.Contains(got, "Building") {
		t.Fatalf("projects list shows %q, want the production URL and the last deployment's status", got)
	}
	shot("projects")

	// The live log: the page is open before the line is written.
	run("deployment page",
		chromedp.Navigate(addr+"/deployments/"+id),
		chromedp.WaitVisible(`//div[@id="log"]/div[contains(., "npm warn deprecated")]`),
		chromedp.WaitVisible(`#live`),
	)
	time.Sleep(300 * time.Millisecond) // the EventSource connects
	io.WriteString(log.Stream(apogee.StreamStdout), "vite v5.4.0 building for production... ✓ 34 modules transformed\n")
	run("live line arrives",
		chromedp.WaitVisible(`//div[@id="log"]/div[contains(@class,"stdout") and contains(., "34 modules transformed")]`),
	)
	if cls, _ := chromedp.Run(b, chromedp.Evaluate[string](`document.querySelector('#log .stderr').className`)); cls != "line stderr" {
		t.Fatalf("stderr line has class %q", cls)
	}
	shot("deployment")
	// The build ends: the page shows its final status.
	if err := log.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.FinishBuild(ctx, id, nil, time.Now().UTC(), false); err != nil {
		t.Fatal(err)
	}
	s.hub.End(id)
	run("build ends", chromedp.WaitVisible(`//span[@id="status" and normalize-space()="Ready"]`))
	if got := text(`#log`); !strings.Contains(got, "34 modules transformed") {
		t.Fatalf("after the build the log shows %q", got)
	}

	// Roll back from the project page: production moves to v1.
	run("project page", chromedp.Navigate(addr+"/projects/web"), chromedp.WaitVisible(`tr.production`))
	if got, _ := chromedp.Run(b, chromedp.Evaluate[string](`document.querySelector('tr.production').dataset.deployment`)); got != v2.Deployment.ID {
		t.Fatalf("production row is %q, want v2 %s", got, v2.Deployment.ID)
	}
	shot("project")
	run("roll back",
		void(chromedp.Evaluate[bool](`window.confirm = () => true; true`)),
		chromedp.Click(button("Roll back")),
		chromedp.WaitVisible(`//div[contains(@class,"flash") and contains(., "Rolled back")]`),
	)
	if got, _ := chromedp.Run(b, chromedp.Evaluate[string](`document.querySelector('tr.production').dataset.deployment`)); got != v1.Deployment.ID {
		t.Fatalf("after rollback the production row is %q, want v1 %s", got, v1.Deployment.ID)
	}
	waitFor(t, addr, "web.localhost", "v1")

	notifySteps(t, b, addr, c, run, text, shot) // notify_browser_test.go

	run("new project", chromedp.Navigate(addr+"/projects/new"), chromedp.WaitVisible(byLabel("Name")),
		chromedp.Click(`#kind-git`), chromedp.WaitVisible(byLabel("Repository URL")))
	shot("new-project")

	run("account", chromedp.Navigate(addr+"/account"), chromedp.WaitVisible(byLabel("Token name")))
	run("create a token",
		chromedp.SendKeys(byLabel("Token name"), "ci"),
		chromedp.Click(button("Create token")),
		chromedp.WaitVisible(`#new-token`),
	)
	if tok := text(`#new-token`); !strings.HasPrefix(tok, auth.TokenPrefix) {
		t.Fatalf("new token shows %q", tok)
	}
	shot("account")

	// A phone: the project page must still read.
	run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)), chromedp.Navigate(addr+"/projects/web"), chromedp.WaitVisible(`tr.production`))
	if w, _ := chromedp.Run(b, chromedp.Evaluate[float64](`document.documentElement.scrollWidth`)); w > 390 {
		t.Errorf("on a 390px phone the project page is %vpx wide: it scrolls sideways", w)
	}
	shot("project-phone")

	pagesSteps(t, b, addr, s, run, text, shot) // pages_browser_test.go

	run("sign out", chromedp.EmulateViewport(1280, 900), chromedp.Click(button("Sign out")), chromedp.WaitVisible(byLabel("Email")))

	adminSteps(t, b, addr, store, run, text, shot)
}
