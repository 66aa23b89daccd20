package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
)

// TestGitHubWebhookMonorepo: several projects build from one repository
// with different root folders, each with its own webhook. A push, as
// GitHub sends it (two commits touching apps/web), builds the projects
// whose root folder or watch paths it touched and records the others as
// skipped, saying why; a payload that cannot say what the push changed
// as a whole (a force push, as many commits as GitHub cuts the list at,
// a new branch) queues the build with the commit to compare.
func TestGitHubWebhookMonorepo(t *testing.T) {
	e := newEnv(t)
	tok := e.user("a@example.com")
	const repo = "https://github.com/acme/web.git"
	const js = "application/json"
	const before = "9c1f2b7e4a3d5c6b8e0f1a2b3c4d5e6f7a8b9c0d"
	secrets := map[string]string{}
	for _, c := range []struct{ name, settings string }{
		{"web", `{"root_dir": "apps/web"}`},
		{"docs", `{"root_dir": "apps/docs", "watch_paths": ["packages/ui", "pnpm-lock.yaml"]}`},
		{"shop", `{"root_dir": "apps/shop", "watch_paths": ["apps/web/src/*.tsx"]}`},
		{"top", `{}`},
	} {
		var p apogee.ProjectView
		e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: c.name,
			Git: &apogee.GitSource{URL: repo, Branch: "main"}}), 201, &p)
		secrets[c.name] = p.WebhookSecret
		e.must(e.call("PATCH", "/api/v1/projects/"+c.name, tok, `{"settings": {"build": `+c.settings+`}}`), 200, nil)
	}

	type answer struct {
		Deployments []apogee.DeploymentView `json:"deployments"`
		Skipped     []apogee.DeploymentView `json:"skipped"`
	}
	deliver := func(project string, body []byte) answer {
		t.Helper()
		var a answer
		e.must(e.hook("push", body, sign(secrets[project], body), js), 202, &a)
		return a
	}

	push := payload(t, "github_push_monorepo.json")
	for _, c := range []struct {
		project string
		built   bool
		reason  string
	}{
		{"web", true, ""},
		{"docs", false, "Skipped: no change in apps/docs, packages/ui, pnpm-lock.yaml (the push changed 3 files, elsewhere)"},
		{"shop", true, ""}, // apps/web/src/App.tsx matches its glob
		{"top", true, ""},
	} {
		a := deliver(c.project, push)
		if c.built {
			if len(a.Deployments) != 1 || len(a.Skipped) != 0 || a.Deployments[0].Status != apogee.StatusQueued {
				t.Fatalf("%s: %+v, want one build queued", c.project, a)
			}
			if d := e.deployments(c.project)[0]; d.DiffBase != "" {
				t.Errorf("%s: the build compares with %s though the payload said what changed", c.project, d.DiffBase)
			}
			continue
		}
		if len(a.Deployments) != 0 || len(a.Skipped) != 1 {
			t.Fatalf("%s: %+v, want one skipped", c.project, a)
		}
		s := a.Skipped[0]
		if !s.Skipped || s.Status != apogee.StatusCanceled || s.Error != c.reason || s.Commit != "3e5b7a9c1d2f4e6a8b0c2d4e6f8a0b2c4d6e8f0a" ||
			s.Branch != "main" || s.Target != apogee.TargetProduction || s.BuildFinishedAt == nil {
			t.Errorf("%s: skipped %+v, want reason %q", c.project, s.Deployment, c.reason)
		}
		// The deployment list says so too.
		var list struct{ Deployments []apogee.DeploymentView }
		e.must(e.call("GET", "/api/v1/projects/"+c.project+"/deployments", tok, nil), 200, &list)
		if len(list.Deployments) != 1 || !list.Deployments[0].Skipped || list.Deployments[0].Error != c.reason {
			t.Errorf("%s: deployment list %+v", c.project, list)
		}
	}

	// A change to a watched package builds docs.
	ui := payload(t, "github_push_monorepo.json", "apps/web/public/old-hero.png", "packages/ui/Button.tsx")
	if a := deliver("docs", ui); len(a.Deployments) != 1 {
		t.Errorf("a change in packages/ui: %+v, want docs built", a)
	}

	// Payloads that do not say what the whole push changed: the build
	// compares before with after in the clone.
	var many map[string]any
	if err := json.Unmarshal(push, &many); err != nil {
		t.Fatal(err)
	}
	commits := many["commits"].([]any)
	for len(commits) < 20 {
		commits = append(commits, commits[0])
	}
	many["commits"] = commits
	manyBody, _ := json.Marshal(many)
	for name, body := range map[string][]byte{
		"forced":       payload(t, "github_push_monorepo.json", `"forced": false`, `"forced": true`),
		"20 commits":   manyBody,
		"no file list": payload(t, "github_push_monorepo.json", `"added": [],`, ``),
	} {
		// Each a commit of its own: a commit already queued is not
		// queued again (a redelivery builds nothing).
		after := fmt.Sprintf("%040x", sha256.Sum256([]byte(name)))[:40]
		body = bytes.ReplaceAll(body, []byte("3e5b7a9c1d2f4e6a8b0c2d4e6f8a0b2c4d6e8f0a"), []byte(after))
		a := deliver("docs", body)
		if len(a.Deployments) != 1 {
			t.Fatalf("%s: %+v, want docs queued", name, a)
		}
		if d := e.deployments("docs")[0]; d.DiffBase != before || d.Status != apogee.StatusQueued {
			t.Errorf("%s: queued %+v with diff base %q, want %s", name, d, d.DiffBase, before)
		}
	}
	created := payload(t, "github_push_monorepo.json", `"created": false`, `"created": true`, before, strings.Repeat("0", 40),
		"3e5b7a9c1d2f4e6a8b0c2d4e6f8a0b2c4d6e8f0a", strings.Repeat("c", 40))
	if a := deliver("docs", created); len(a.Deployments) != 1 {
		t.Fatalf("new branch: %+v", a)
	} else if d := e.deployments("docs")[0]; d.DiffBase != "" {
		t.Errorf("a new branch compares with %q; it has nothing before", d.DiffBase)
	}

	// Bad watch paths are refused and change nothing.
	for _, bad := range []string{`["../etc"]`, `["a/[b"]`, `[""]`, `"packages/ui"`, fmt.Sprintf(`[%s"x"]`, strings.Repeat(`"x",`, 50))} {
		e.wantErr(e.call("PATCH", "/api/v1/projects/docs", tok, `{"settings": {"build": {"watch_paths": `+bad+`}}}`), 400, apogee.EINVALID)
	}
	var p apogee.ProjectView
	e.must(e.call("GET", "/api/v1/projects/docs", tok, nil), 200, &p)
	if got := p.Settings.Build.WatchPaths; len(got) != 2 || got[0] != "packages/ui" {
		t.Errorf("watch paths after refused changes: %q", got)
	}
}
