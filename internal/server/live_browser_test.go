package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
)

// TestLiveRowsInBrowser: with the project page open, a build's duration
// counts, and when a production deployment becomes ready elsewhere its
// row gets its URL and the Production tag moves to it, with no reload.
func TestLiveRowsInBrowser(t *testing.T) {
	s, addr := startServer(t, Config{Data: t.TempDir()})
	ctx := context.Background()
	store := s.Store()
	c := client.New(addr, userToken(t, store, "dev@example.com", "a long password", false))
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	v1, err := c.Deploy(ctx, site(t, "v1"), client.DeployOptions{Project: "web", Production: true})
	if err != nil {
		t.Fatal(err)
	}
	// v2 is uploaded but not finalized; b builds.
	body := "v2"
	sum := sha256.Sum256([]byte(body))
	hash := hex.EncodeToString(sum[:])
	v2, err := c.CreateDeployment(ctx, "web", apogee.CreateDeploymentRequest{Target: apogee.TargetProduction,
		Files: []apogee.File{{Path: "index.html", SHA256: hash, Size: int64(len(body))}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UploadFile(ctx, v2.ID, hash, strings.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
	p, _ := store.ProjectByName(ctx, "web")
	b := apogee.NewID()
	if err := store.QueueBuild(ctx, &apogee.Deployment{ID: b, ProjectID: p.ID, Target: apogee.TargetPreview,
		Host: apogee.DeploymentHost("web", b), CreatedAt: time.Now().UTC(), Source: apogee.SourceGit, Branch: "feature"}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ClaimBuild(ctx, "test/1/1", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}

	tab := newBrowser(t)
	run, text, shot := steps(t, tab, artifacts(t))
	run("sign in", chromedp.Navigate(addr+"/login"),
		chromedp.SendKeys(byLabel("Email"), "dev@example.com"),
		chromedp.SendKeys(byLabel("Password"), "a long password"),
		chromedp.Click(button("Sign in")), chromedp.WaitVisible(`//h1[normalize-space()="Projects"]`))
	run("project page", chromedp.Navigate(addr+"/projects/web"), chromedp.WaitVisible(`tr.production`), chromedp.WaitReady(`body[data-live]`))

	clock := `tr[data-deployment="` + b + `"] td[data-started]`
	first := text(clock)
	run("the build's duration counts", void(chromedp.Poll[bool](`document.querySelector('`+clock+`').textContent !== "`+first+`"`)))

	row := `tr[data-deployment="` + v2.ID + `"]`
	if got := text(row); strings.Contains(got, "Production") || strings.Contains(got, "http://") {
		t.Fatalf("before it is ready the row shows %q", got)
	}
	if _, err := c.Finalize(ctx, v2.ID); err != nil {
		t.Fatal(err)
	}
	run("the row follows", void(chromedp.Poll[bool](`(() => { const r = document.querySelector('`+row+`');
		return r.classList.contains("production") && !!r.querySelector("a.url") && r.querySelector(".badge").textContent === "Ready"; })()`)))
	if got := text(row + ` a.url`); got != v2.URL {
		t.Errorf("the row's URL is %q, want %s", got, v2.URL)
	}
	n, _ := chromedp.Run(tab, chromedp.Evaluate[float64](`document.querySelectorAll("tr.production, .deployments .tag.prod").length`))
	if n != 2 { // one row, one tag
		t.Errorf("%v production rows and tags after the move, want one of each", n)
	}
	old := `tr[data-deployment="` + v1.Deployment.ID + `"]`
	if got := text(old); strings.Contains(got, "Production") {
		t.Errorf("the old production row still says %q", got)
	}
	shot("live-rows")
}
