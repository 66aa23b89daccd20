package server

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/cli"
	"github.com/apogee-dev/apogee/internal/client"
)

// sourceFolder writes a project source a new user has: a package.json
// whose build script makes dist/ (no dependencies to install).
func sourceFolder(t *testing.T, dir, version string) {
	t.Helper()
	for name, body := range map[string]string{
		"package.json": `{"name":"my-site","private":true,"scripts":{"build":"node build.js"}}`,
		"build.js": `const fs = require("fs");
fs.mkdirSync("dist", {recursive: true});
fs.writeFileSync("dist/index.html", require("./version.js"));
console.log("built the site");
`,
		"version.js": `module.exports = "` + version + `";` + "\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// apogeeCLI runs the apogee command line in this process against the
// server, as the user whose token it is, and returns what it printed.
func apogeeCLI(t *testing.T, addr, token string, argv ...string) (string, string, int) {
	t.Helper()
	root := cli.New()
	var out, errb bytes.Buffer
	root.SetArgs(argv)
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(""))
	code := cli.Execute(context.Background(), root)
	return out.String(), errb.String(), code
}

// TestNewUserInBrowser is a new user's first hour, in chromium and the
// CLI against a real server that builds in bwrap: sign in, create a
// project from the UI, deploy a source folder with the CLI (built on the
// server) and watch its build in the browser, roll back from the
// deployment page, then rename and delete the project.
func TestNewUserInBrowser(t *testing.T) {
	needAppTools(t)
	data := t.TempDir()
	s, addr := startServer(t, Config{Data: data, BuildWorkers: 1, Sandbox: "bwrap"})
	token := userToken(t, s.Store(), "new@example.com", "a long password", false)
	c := client.New(addr, token)
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("HOME", cfg)
	t.Setenv("APOGEE_SERVER", addr)
	t.Setenv("APOGEE_TOKEN", token)
	t.Setenv("APOGEE_PROJECT", "")

	b := newBrowser(t)
	shots := artifacts(t)
	run, text, shot := steps(t, b, shots)
	long := func(what string, steps ...chromedp.Action[chromedp.Void]) { // a build may take a while: minutes on a loaded 2-core machine
		t.Helper()
		ctx, cancel := context.WithTimeout(b, 8*time.Minute)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, pageState(b, shots, what))
		}
	}

	run("sign in", chromedp.Navigate(addr+"/login"),
		chromedp.SendKeys(byLabel("Email"), "new@example.com"),
		chromedp.SendKeys(byLabel("Password"), "a long password"),
		chromedp.Click(button("Sign in")), chromedp.WaitVisible(`//h2[normalize-space()="No projects yet"]`))
	run("create a project from the UI", chromedp.Click(`//a[normalize-space()="New project"]`),
		chromedp.WaitVisible(byLabel("Name")), chromedp.SendKeys(byLabel("Name"), "my-site"),
		chromedp.Click(button("Create project")),
		chromedp.WaitVisible(`//div[contains(@class,"flash") and contains(., "Project my-site created.")]`))
	shot("newuser-project")

	// The first deploy from the CLI: the folder is a source, built on the
	// server, and goes to production.
	dir := t.TempDir()
	sourceFolder(t, dir, "v1")
	out, errOut, code := apogeeCLI(t, addr, token, "deploy", dir, "--project", "my-site", "--prod")
	if code != 0 || !strings.Contains(errOut, "built the site") {
		t.Fatalf("deploy v1: code %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	waitFor(t, addr, "my-site.localhost", "v1")
	deps, err := c.ListDeployments(context.Background(), "my-site", 10)
	if err != nil || len(deps) != 1 || deps[0].Source != apogee.SourceFolder {
		t.Fatalf("after the first deploy: %+v, %v", deps, err)
	}
	v1 := deps[0].ID

	// The second deploy: the browser watches its build live.
	sourceFolder(t, dir, "v2")
	done := make(chan string, 1)
	go func() {
		_, errOut, code := apogeeCLI(t, addr, token, "deploy", dir, "--prod")
		if code != 0 {
			errOut = "exit " + errOut
		}
		done <- errOut
	}()
	run("the build shows on the Deployments tab", chromedp.Navigate(addr+"/projects/my-site"), chromedp.WaitReady(`body[data-live]`))
	var v2 string
	for v2 == "" { // the CLI has created the deployment once the list has two
		select {
		case msg := <-done:
			done <- msg
		default:
		}
		ds, err := c.ListDeployments(context.Background(), "my-site", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 2 {
			v2 = ds[0].ID
		}
		if len(ds) < 2 && len(done) > 0 {
			t.Fatalf("the second deploy ended without a deployment: %s", <-done)
		}
		time.Sleep(50 * time.Millisecond) // a poll, not a wait for a result
	}
	long("watch the build", chromedp.Navigate(addr+"/deployments/"+v2),
		chromedp.WaitVisible(`//span[@id="status" and normalize-space()="Ready"]`),
		chromedp.WaitVisible(`//div[@id="log"]/div[contains(., "built the site")]`))
	shot("newuser-build")
	if msg := <-done; strings.HasPrefix(msg, "exit ") {
		t.Fatalf("deploy v2 failed:\n%s", msg)
	}
	waitFor(t, addr, "my-site.localhost", "v2")

	// The deployment's page names the framework found and the Node.js
	// the build ran with (fetched from the registry: the current LTS).
	built, err := s.Store().DeploymentByID(context.Background(), v2)
	if err != nil || built.Framework != "other" || built.NodeVersion == "" {
		t.Fatalf("the build recorded framework %q, Node.js %q (%v); want other and the LTS fetched", built.Framework, built.NodeVersion, err)
	}
	run("the build's framework and Node.js", chromedp.Navigate(addr+"/deployments/"+v2), chromedp.WaitVisible(`#node-version`))
	if got := text(`#node-version`); got != built.NodeVersion {
		t.Errorf("the deployment page shows Node.js %q, want %s", got, built.NodeVersion)
	}
	if got := text(`//dt[normalize-space()="Framework"]/following-sibling::dd`); got != "Other" {
		t.Errorf("the deployment page shows the framework %q, want Other", got)
	}

	// Roll back from v1's page.
	run("roll back from the deployment page", chromedp.Navigate(addr+"/deployments/"+v1),
		chromedp.WaitVisible(button("Rollback")),
		void(chromedp.Evaluate[bool](`window.confirm = () => true; true`)),
		chromedp.Click(button("Rollback")),
		chromedp.WaitVisible(`//div[contains(@class,"flash") and contains(., "Rolled back")]`),
		chromedp.WaitVisible(`//dd/span[@class="tag prod"]`))
	waitFor(t, addr, "my-site.localhost", "v1")

	// Rename in Settings → General: the production host follows.
	run("rename", chromedp.Navigate(addr+"/projects/my-site"),
		chromedp.Click(tab("Project", "Settings")), chromedp.WaitVisible(byLabel("Project name")),
		chromedp.Clear(byLabel("Project name")), chromedp.SendKeys(byLabel("Project name"), "my-renamed"),
		chromedp.Click(button("Rename")),
		chromedp.WaitVisible(`//div[contains(@class,"flash") and contains(., "Project renamed to my-renamed")]`))
	if got := text(`h1`); got != "my-renamed" {
		t.Fatalf("after the rename the page is titled %q", got)
	}
	waitFor(t, addr, "my-renamed.localhost", "v1")
	if code, _ := get(t, addr, "my-site.localhost", "/"); code != 404 {
		t.Errorf("the old name still answers %d", code)
	}
	shot("newuser-renamed")

	// Delete, with the name typed to confirm.
	run("delete", chromedp.SendKeys(`#confirm-name`, "my-renamed"),
		chromedp.Click(button("Delete project")),
		chromedp.WaitVisible(`//div[contains(@class,"flash") and contains(., "Project my-renamed deleted.")]`),
		chromedp.WaitVisible(`//h2[normalize-space()="No projects yet"]`))
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _ := get(t, addr, "my-renamed.localhost", "/")
		if code == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deleted project still answers %d", code)
		}
	}
}
