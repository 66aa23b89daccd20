package server

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/logs"
)

// TestBuildLogInBrowser: in chromium, a failed build's page names the
// failing step, opens its long log at the first error, shows terminal
// colours, and its search box filters the lines; a live line arrives
// with its colours.
func TestBuildLogInBrowser(t *testing.T) {
	s, _, addr := testServer(t)
	ctx := context.Background()
	store := s.Store()
	c := client.New(addr, userToken(t, store, "dev@example.com", "a long password", false))
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	p, err := store.ProjectByName(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	build := func() string {
		id := apogee.NewID()
		if err := store.QueueBuild(ctx, &apogee.Deployment{ID: id, ProjectID: p.ID, Target: apogee.TargetPreview,
			Host: apogee.DeploymentHost("web", id), CreatedAt: time.Now().UTC(), Source: apogee.SourceGit, Branch: "main"}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.ClaimBuild(ctx, "test/1/1", time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
		return id
	}

	failed := build()
	w := logs.NewWriter(failed, store, s.hub, logs.Options{})
	out, errw := w.Stream(apogee.StreamStdout), w.Stream(apogee.StreamStderr)
	w.Systemf("Installing: npm ci")
	for i := range 200 {
		fmt.Fprintf(out, "added package %d\n", i)
	}
	w.Systemf("Building: npm run build")
	io.WriteString(out, "\x1b[36mvite v5.4.0\x1b[39m building for production...\n")
	io.WriteString(errw, "\x1b[31merror\x1b[39m during build:\n")
	io.WriteString(errw, "src/main.ts(3,1): error TS2304: Cannot find name 'foo'.\n")
	for i := range 40 {
		fmt.Fprintf(errw, "    at frame %d\n", i)
	}
	w.Systemf("Build failed: `npm run build` exited with code 1")
	out.Close()
	errw.Close()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.EndBuild(ctx, failed, apogee.StatusError, "`npm run build` exited with code 1", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	s.hub.End(failed)

	b := newBrowser(t)
	run, text, shot := steps(t, b, artifacts(t))
	run("sign in", chromedp.Navigate(addr+"/deployments/"+failed), chromedp.WaitVisible(byLabel("Email")),
		chromedp.SendKeys(byLabel("Email"), "dev@example.com"),
		chromedp.SendKeys(byLabel("Password"), "a long password"),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(`#first-error`))
	shot("deployment-failed")
	if got := text(`#failure-title`); got != "Build failed at Building: npm run build" {
		t.Errorf("the failure says %q", got)
	}
	if got := text(`#first-error`); !strings.Contains(got, "error during build:") {
		t.Errorf("the first error line is %q", got)
	}
	// The log opened at the first error: it is inside the log's view.
	inView, err := chromedp.Run(b, chromedp.Evaluate[bool](`(() => {
		const log = document.getElementById("log"), line = document.getElementById("first-error");
		const l = log.getBoundingClientRect(), r = line.getBoundingClientRect();
		return log.scrollTop > 0 && r.top >= l.top && r.bottom <= l.bottom;
	})()`))
	if err != nil || !inView {
		t.Errorf("the log did not open at the first error (%v)", err)
	}
	if color, _ := chromedp.Run(b, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("#first-error .ansi-fg-1")).color`)); color != "rgb(255, 123, 114)" {
		t.Errorf("the red of \"error\" renders as %q", color)
	}
	run("search the log", chromedp.SendKeys(`#log-search`, "ts2304"),
		chromedp.WaitVisible(`//span[@id="log-matches" and normalize-space()="1 line"]`))
	if n, _ := chromedp.Run(b, chromedp.Evaluate[int](`[...document.querySelectorAll("#log .line")].filter(l => !l.hidden).length`)); n != 1 {
		t.Errorf("%d lines stay visible, want the one with TS2304", n)
	}
	shot("deployment-failed-search")

	// A live line keeps its colours.
	live := build()
	run("a building deployment", chromedp.Navigate(addr+"/deployments/"+live), chromedp.WaitVisible(`#live`))
	lw := logs.NewWriter(live, store, s.hub, logs.Options{})
	io.WriteString(lw.Stream(apogee.StreamStdout), "\x1b[32m✓\x1b[39m 34 modules transformed <ok>\n")
	run("live line arrives", chromedp.WaitVisible(`//div[@id="log"]/div[contains(., "34 modules transformed <ok>")]//span[@class="ansi-fg-2"]`))
	if err := lw.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
