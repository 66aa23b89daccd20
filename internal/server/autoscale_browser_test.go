package server

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
)

// TestAutoscalePageInBrowser: after a step load scales a real Express
// app up, its app page in headless chromium shows the autoscaling card:
// the chart of instances and requests in flight (inline SVG) and the
// decision with its reason.
func TestAutoscalePageInBrowser(t *testing.T) {
	needAppTools(t)
	clock := &fakeClock{now: time.Now()}
	s, addr := startServer(t, Config{Data: t.TempDir(), BuildWorkers: 1, Sandbox: "bwrap", AppSandbox: "bwrap",
		appNow: clock.Now, appTick: -1})
	c := client.New(addr, userToken(t, s.Store(), "dev@example.com", "password", false), client.WithTimeout(3*time.Minute))
	ctx := t.Context()
	if _, err := c.CreateProject(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	d, log := zipBuild(t, c, "api", expressApp(t, map[string]string{"server.js": slowExpress}))
	if !d.Production {
		t.Fatalf("the app's build is %s (%s):\n%s", d.Status, d.Error, log)
	}
	ptr := func(v int) *int { return &v }
	if _, err := c.ScaleApp(ctx, "api", apogee.ScaleRequest{Min: ptr(1), Max: ptr(3), Concurrency: ptr(10)}); err != nil {
		t.Fatal(err)
	}
	h := s.apps.host
	pool := s.apps.manager.Production("api")
	l := startStepLoad(addr, "api.localhost", "/slow", 60)
	l.waitMore(t, 120)
	for steps := 0; len(pool.Targets()) < 3 && steps < 6; steps++ {
		clock.Add(time.Second)
		h.Autoscale(ctx)
		h.Settle()
	}
	l.stop()
	if n := len(pool.Targets()); n != 3 {
		t.Fatalf("the load made %d instances, want 3", n)
	}

	b := newBrowser(t)
	run, text, shot := steps(t, b, artifacts(t))
	run("sign in", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(addr+"/login?next=/projects/api/app"),
		chromedp.SendKeys(byLabel("Email"), "dev@example.com"), chromedp.SendKeys(byLabel("Password"), "password"),
		chromedp.Click(button("Sign in")), chromedp.WaitVisible(`//h2[normalize-space()="Autoscaling"]`))
	run("the chart", chromedp.WaitVisible(`#scale-chart`))
	points, err := chromedp.Run(b, chromedp.Evaluate[string](`document.querySelector('#scale-chart [data-series=instances]').getAttribute('points')`))
	if err != nil || len(strings.Fields(points)) == 0 {
		t.Errorf("the instances line has no points: %q, %v", points, err)
	}
	got := text(`#autoscaling`)
	for _, want := range []string{"1 to 3 instances at 10 requests in flight each", "at target 10×0.7", "panic"} {
		if !strings.Contains(got, want) {
			t.Errorf("the autoscaling card lacks %q:\n%s", want, got)
		}
	}
	shot("autoscaling")
}
