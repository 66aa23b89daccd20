package server

import (
	"archive/zip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
)

// tab selects the link text of the navigation labelled nav (the
// project's tabs, "Project"; its settings pages, "Settings").
func tab(nav, text string) string {
	return fmt.Sprintf(`//nav[@aria-label=%q]//a[normalize-space()=%q]`, nav, text)
}

// phone is the viewport of a phone: 390 CSS pixels wide.
func phone() chromedp.Action[chromedp.Void] {
	return chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2))
}

func desktop() chromedp.Action[chromedp.Void] { return chromedp.EmulateViewport(1280, 900) }

// noSideScroll fails the test when the page is wider than a 390px phone.
func noSideScroll(t *testing.T, b context.Context, page string) {
	t.Helper()
	if w, _ := chromedp.Run(b, chromedp.Evaluate[float64](`document.documentElement.scrollWidth`)); w > 390 {
		t.Errorf("on a 390px phone %s is %vpx wide: it scrolls sideways", page, w)
	}
}

// docsSteps reads the docs signed out, on a desktop and on a phone, and
// the landing page on a phone.
func docsSteps(t *testing.T, b context.Context, addr string,
	run func(string, ...chromedp.Action[chromedp.Void]), text func(string) string, shot func(string)) {
	t.Helper()
	run("landing links the docs", chromedp.Click(`//main//a[normalize-space()="Read the quick start"]`),
		chromedp.WaitVisible(`//article//h1[normalize-space()="Quick start"]`))
	run("docs index", chromedp.Navigate(addr+"/docs"), chromedp.WaitVisible(`//nav[@aria-label="Documentation"]`))
	shot("docs")
	run("CLI reference by the side navigation", chromedp.Click(`//nav[@aria-label="Documentation"]//a[normalize-space()="CLI reference"]`),
		chromedp.WaitVisible(`//h2[@id="apogee-deploy"]`))
	if got := text(`//h2[@id="apogee-deploy"]/following::table[1]`); !strings.Contains(got, "--prod") {
		t.Fatalf("the deploy command's flag table shows %q", got)
	}
	run("configuration", chromedp.Navigate(addr+"/docs/configuration"), chromedp.WaitVisible(`//h2[@id="vercel-json"]`))
	shot("docs-configuration")
	run("docs on a phone", phone(), chromedp.Navigate(addr+"/docs/quick-start"), chromedp.WaitVisible(`//article//h1`))
	noSideScroll(t, b, "/docs/quick-start")
	shot("docs-phone")
	run("landing on a phone", chromedp.Navigate(addr+"/"), chromedp.WaitVisible(`//h1[contains(., "deployment platform")]`))
	noSideScroll(t, b, "the landing page")
	shot("landing-phone")
	run("back to a desktop", desktop())
}

// pagesSteps drives the project page's settings and the ZIP upload of
// the new-project page as dev@example.com, who owns project web.
func pagesSteps(t *testing.T, b context.Context, addr string, s *Server,
	run func(string, ...chromedp.Action[chromedp.Void]), text func(string) string, shot func(string)) {
	t.Helper()
	ctx := context.Background()
	store := s.Store()

	// A build setting, edited by its label, is saved.
	run("edit build settings", desktop(), chromedp.Navigate(addr+"/projects/web"),
		chromedp.Click(tab("Project", "Settings")), chromedp.WaitVisible(byLabel("Project name")),
		chromedp.Click(tab("Settings", "Build")), chromedp.WaitVisible(byLabel("Build command")),
		chromedp.SetValue(byLabel("Framework preset"), "vite"),
		chromedp.SendKeys(byLabel("Build command"), "npm run build:site"),
		chromedp.SendKeys(byLabel("Output folder"), "public"),
		chromedp.Click(button("Save build settings")),
		chromedp.WaitVisible(`//div[contains(@class,"flash") and contains(., "Build settings saved")]`),
	)
	if v, _ := chromedp.Run(b, chromedp.Value(byLabel("Build command"))); v != "npm run build:site" {
		t.Fatalf("after saving, the build command field shows %q", v)
	}
	p, err := store.ProjectByName(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if bs := p.Settings.Build; bs.BuildCommand == nil || *bs.BuildCommand != "npm run build:site" || bs.Framework == nil || *bs.Framework != "vite" ||
		bs.OutputDir == nil || *bs.OutputDir != "public" || bs.InstallCommand != nil {
		t.Fatalf("build settings in the store: %+v", bs)
	}
	// The Node.js version is chosen from the lines the server knows
	// (the registry's, fetched once an hour): the LTS line here.
	lts := ""
	for _, o := range strings.Split(text(`#b-node`), "\n") { // "22.x (22.12.0, LTS)"
		if v, info, _ := strings.Cut(o, " ("); strings.HasSuffix(v, ".x") && strings.Contains(info, "LTS") {
			lts = v
		}
	}
	if lts == "" {
		t.Fatalf("the Node.js select offers no LTS line: %q", text(`#b-node`))
	}
	run("choose a Node.js line", chromedp.Navigate(addr+"/projects/web/settings/build"), chromedp.WaitVisible(byLabel("Node.js version")),
		chromedp.SetValue(byLabel("Node.js version"), lts), chromedp.Click(button("Save build settings")),
		chromedp.WaitVisible(`//div[contains(@class,"flash") and contains(., "Build settings saved")]`))
	if v, _ := chromedp.Run(b, chromedp.Value(byLabel("Node.js version"))); v != lts {
		t.Fatalf("after saving, the Node.js field shows %q, want %q", v, lts)
	}
	if p, _ := store.ProjectByName(ctx, "web"); p.Settings.Build.NodeVersion == nil || *p.Settings.Build.NodeVersion != lts ||
		p.Settings.Build.BuildCommand == nil || *p.Settings.Build.BuildCommand != "npm run build:site" {
		t.Fatalf("build settings in the store after choosing Node.js: %+v", p.Settings.Build)
	}
	run("turn on SPA", chromedp.Click(tab("Settings", "Serving")), chromedp.WaitVisible(byLabel("Single-page app")),
		chromedp.Click(byLabel("Single-page app")), chromedp.Click(button("Save serving settings")),
		chromedp.WaitVisible(`//div[contains(@class,"flash") and contains(., "Serve settings saved")]`))
	if p, _ := store.ProjectByName(ctx, "web"); !p.Settings.Serve.SPA {
		t.Fatal("the SPA switch was not saved")
	}

	// A domain, once added, shows the TXT record that verifies it.
	run("add a domain", chromedp.Click(tab("Settings", "Domains")), chromedp.WaitVisible(byLabel("Domain")),
		chromedp.SendKeys(byLabel("Domain"), "www.example.com"), chromedp.Click(button("Add domain")),
		chromedp.WaitVisible(`//li[contains(@class,"domain")]//td[normalize-space()="_apogee.www.example.com"]`))
	d, err := store.DomainByName(ctx, "www.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got := text(`//li[contains(@class,"domain")]//table`); !strings.Contains(got, d.Token) || !strings.Contains(got, "web.localhost") {
		t.Fatalf("the domain's records show %q, want its token %s and the CNAME target", got, d.Token)
	}
	if got := text(`//li[contains(@class,"domain")]//span[contains(@class,"badge")]`); got != "Not verified" {
		t.Fatalf("a new domain's state is %q", got)
	}
	shot("project-settings")
	run("project page on a phone", phone(), chromedp.Navigate(addr+"/projects/web/settings/domains"), chromedp.WaitVisible(`#domains`))
	noSideScroll(t, b, "the project page with settings and a domain")
	shot("project-settings-phone")

	// A ZIP uploaded from the new-project page: the project is made and
	// its build starts.
	zipPath := filepath.Join(t.TempDir(), "site.zip")
	writeZip(t, zipPath, map[string]string{"index.html": "<h1>from a zip</h1>"})
	run("new project from a ZIP", desktop(), chromedp.Navigate(addr+"/projects/new"), chromedp.WaitVisible(byLabel("Name")),
		chromedp.Click(`#kind-zip`), chromedp.WaitVisible(`#zip`))
	if shown, _ := chromedp.Run(b, chromedp.Evaluate[bool](`document.querySelector('.git-fields').offsetParent !== null`)); shown {
		t.Fatal("with ZIP chosen the Git fields are still shown")
	}
	shot("new-project-zip")
	run("upload the ZIP",
		chromedp.SendKeys(byLabel("Name"), "zipped"),
		chromedp.SetUploadFiles(`#zip`, []string{zipPath}),
		chromedp.Click(button("Create project")),
		chromedp.WaitVisible(`//div[contains(@class,"flash") and contains(., "its ZIP is building")]`),
		chromedp.WaitVisible(`#live`),
	)
	if got := text(`#status`); got != "Queued" {
		t.Fatalf("the ZIP build's status is %q, want Queued", got)
	}
	loc, _ := chromedp.Run(b, chromedp.Location())
	id := loc[strings.LastIndex(loc, "/")+1:]
	dep, err := store.DeploymentByID(ctx, id)
	if err != nil || dep.Source != apogee.SourceZip || dep.SourceBlob == "" {
		t.Fatalf("the page's deployment %s: %+v, %v", id, dep, err)
	}
	// A worker claims it (this server runs none) and its first line arrives live.
	time.Sleep(300 * time.Millisecond) // the EventSource connects
	if _, err := store.ClaimBuild(ctx, "test/1/2", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	w := logs.NewWriter(id, store, s.hub, logs.Options{})
	w.Systemf("extracting site.zip (1 file)")
	run("the build's first line arrives", chromedp.WaitVisible(`//div[@id="log"]/div[contains(., "extracting site.zip")]`))
	shot("deployment-zip")
	run("deployment page on a phone", phone(), chromedp.WaitVisible(`#log`))
	noSideScroll(t, b, "the deployment page")
	shot("deployment-phone")
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.FinishBuild(ctx, id, nil, time.Now().UTC(), false); err != nil {
		t.Fatal(err)
	}
	s.hub.End(id)

	for _, pg := range []struct{ name, path, wait string }{
		{"projects-phone", "/", `//a[@href="/projects/zipped"]`},
		{"new-project-phone", "/projects/new", `#name`},
		{"account-phone", "/account", byLabel("Token name")},
	} {
		run(pg.name, phone(), chromedp.Navigate(addr+pg.path), chromedp.WaitVisible(pg.wait))
		noSideScroll(t, b, pg.path)
		shot(pg.name)
	}
	run("back to a desktop", desktop())
}

func writeZip(t testing.TB, path string, files map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
