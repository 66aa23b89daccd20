package github_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/github"
	"github.com/apogee-dev/apogee/internal/github/githubtest"
)

func newApp(t *testing.T, fake *githubtest.Server, key []byte) (*github.App, error) {
	t.Helper()
	return github.NewApp(github.AppConfig{AppID: 4242, PrivateKey: key, WebhookSecret: "app-hook-secret",
		WebURL: fake.WebURL(), APIURL: fake.APIURL(), HTTPClient: &http.Client{}})
}

// TestApp: installation tokens minted from the app's RS256 JWT (checked
// by the fake as GitHub does) and kept until they near expiry, the
// installation of a repository, the repositories granted (paged), a
// commit status as the installation, a key that is not the app's, an
// uninstalled app, and webhook signatures.
func TestApp(t *testing.T) {
	ctx := context.Background()
	fake := githubtest.New(t, "cid", "csecret")
	pemKey, key := githubtest.AppKey(t)
	fake.SetApp(4242, "apogee-test", &key.PublicKey)
	var repos []githubtest.Repo
	for i := range 150 {
		repos = append(repos, githubtest.Repo{FullName: fmt.Sprintf("acme/repo-%03d", i), DefaultBranch: "main", Private: true})
	}
	repos = append(repos, githubtest.Repo{FullName: "acme/mono", DefaultBranch: "main", Private: true})
	fake.Install(githubtest.Installation{ID: 77, Account: "acme", Repos: repos})

	app, err := newApp(t, fake, pemKey)
	if err != nil {
		t.Fatal(err)
	}
	id, err := app.RepoInstallation(ctx, "acme/mono")
	if err != nil || id != 77 {
		t.Fatalf("RepoInstallation(acme/mono) = %d, %v", id, err)
	}
	if _, err := app.RepoInstallation(ctx, "acme/elsewhere"); apogee.ErrorCode(err) != apogee.ENOTFOUND {
		t.Fatalf("RepoInstallation of a repository not granted: %v", err)
	}

	tok, err := app.InstallationToken(ctx, 77)
	if err != nil || !strings.HasPrefix(tok, "ghs_") {
		t.Fatalf("InstallationToken = %q, %v", tok, err)
	}
	again, err := app.InstallationToken(ctx, 77)
	if err != nil || again != tok || fake.Minted() != 1 {
		t.Fatalf("a second InstallationToken = %q, %v after %d minted; want the same token, minted once", again, err, fake.Minted())
	}
	got, err := app.InstallationRepos(ctx, 77)
	if err != nil || len(got) != 151 || got[150].FullName != "acme/mono" || !got[0].Private || got[0].CloneURL != fake.URL+"/acme/repo-000.git" {
		t.Fatalf("InstallationRepos: %d repositories, %v", len(got), err)
	}
	if n := fake.APICalls("/api/v3/installation/repositories"); n != 2 {
		t.Errorf("%d pages read, want 2 (100 a page)", n)
	}
	st := github.Status{State: github.StateSuccess, Description: "Production ready", TargetURL: "https://web.apogee.example/", Context: github.StatusContext}
	if err := app.SetStatus(ctx, 77, "acme/mono", strings.Repeat("a", 40), st); err != nil {
		t.Fatal(err)
	}
	if s := fake.Statuses("acme/mono"); len(s) != 1 || s[0].State != "success" || s[0].Context != "Apogee" {
		t.Fatalf("statuses recorded: %+v", s)
	}
	if err := app.SetStatus(ctx, 77, "acme/elsewhere", strings.Repeat("a", 40), st); err == nil {
		t.Fatal("a status on a repository the installation was not granted was set")
	}

	// A key that is not the app's: GitHub refuses the JWT.
	otherKey, _ := githubtest.AppKey(t)
	other, err := newApp(t, fake, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.InstallationToken(ctx, 77); err == nil {
		t.Fatal("a JWT signed by another key got a token")
	}
	if _, err := other.RepoInstallation(ctx, "acme/mono"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("RepoInstallation with another key: %v", err)
	}

	// Uninstalled: the kept token stops working and no new one comes.
	fake.Uninstall(77)
	app.Forget(77)
	if _, err := app.InstallationToken(ctx, 77); apogee.ErrorCode(err) != apogee.ENOTFOUND {
		t.Fatalf("token of an uninstalled app: %v", err)
	}

	// Deliveries are verified with the app's webhook secret.
	body := []byte(`{"action":"created"}`)
	mac := hmac.New(sha256.New, []byte("app-hook-secret"))
	mac.Write(body)
	good := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if err := app.Verify(good, body); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "sha256=00", "sha1=" + strings.TrimPrefix(good, "sha256="), good + "0"} {
		if err := app.Verify(bad, body); apogee.ErrorCode(err) != apogee.EUNAUTHORIZED {
			t.Errorf("Verify(%q) = %v", bad, err)
		}
	}
	if err := app.Verify(good, append(body, ' ')); err == nil {
		t.Error("a changed body verified")
	}

	// Bad configuration.
	for _, c := range []github.AppConfig{
		{AppID: 0, PrivateKey: pemKey, WebhookSecret: "s"},
		{AppID: 1, PrivateKey: []byte("not a key"), WebhookSecret: "s"},
		{AppID: 1, PrivateKey: pemKey},
	} {
		if _, err := github.NewApp(c); apogee.ErrorCode(err) != apogee.EINVALID {
			t.Errorf("NewApp(%d, key %d bytes, secret %q) = %v", c.AppID, len(c.PrivateKey), c.WebhookSecret, err)
		}
	}
}

// TestFakeCheckRuns: the fake GitHub's check-runs endpoints keep GitHub's
// rules, so the tests that use them can fail: only a GitHub App's
// installation may create one (an OAuth token gets 403), name and
// head_sha are required, a status outside queued/in_progress/completed
// or a completed run without a conclusion is 422, a conclusion completes
// the run, and only the app that made a run may change it.
func TestFakeCheckRuns(t *testing.T) {
	f := newFixture(t, nil)
	withRepo(f)
	f.connect(t)
	pemKey, key := githubtest.AppKey(t)
	f.fake.SetApp(4242, "apogee-test", &key.PublicKey)
	f.fake.Install(githubtest.Installation{ID: 77, Account: "hubot", Repos: []githubtest.Repo{{FullName: "hubot/site", DefaultBranch: "main"}}})
	app, err := newApp(t, f.fake, pemKey)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := app.InstallationToken(t.Context(), 77)
	if err != nil {
		t.Fatal(err)
	}
	oauthTok := f.fake.Tokens("hubot")[0]
	call := func(method, path, tok, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, f.fake.APIURL()+"/repos/hubot/site/check-runs"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/vnd.github+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	sha := strings.Repeat("a", 40)
	for _, c := range []struct {
		name, tok, body string
		code            int
		says            string
	}{
		{"an OAuth token", oauthTok, `{"name": "Apogee — web", "head_sha": "` + sha + `"}`, 403, "You must authenticate via a GitHub App."},
		{"no head_sha", inst, `{"name": "Apogee — web"}`, 422, "head_sha"},
		{"a status GitHub does not know", inst, `{"name": "x", "head_sha": "` + sha + `", "status": "done"}`, 422, "status"},
		{"completed without a conclusion", inst, `{"name": "x", "head_sha": "` + sha + `", "status": "completed"}`, 422, "conclusion"},
		{"a conclusion GitHub does not know", inst, `{"name": "x", "head_sha": "` + sha + `", "conclusion": "great"}`, 422, "conclusion"},
		{"an output without a summary", inst, `{"name": "x", "head_sha": "` + sha + `", "output": {"title": "t"}}`, 422, "summary"},
	} {
		if code, out := call("POST", "", c.tok, c.body); code != c.code || !strings.Contains(fmt.Sprint(out["message"]), c.says) {
			t.Errorf("%s: %d %v; want %d saying %q", c.name, code, out, c.code, c.says)
		}
	}
	if n := len(f.fake.CheckRuns("hubot/site")); n != 0 {
		t.Fatalf("refused requests made %d check runs", n)
	}
	code, out := call("POST", "", inst, `{"name": "Apogee — web", "head_sha": "`+sha+`", "status": "in_progress", "started_at": "2026-12-05T10:00:00Z",
		"details_url": "https://apogee.example/deployments/d1", "external_id": "d1", "output": {"title": "Building", "summary": "Building web."}}`)
	if code != 201 || out["status"] != "in_progress" || out["conclusion"] != nil || out["head_sha"] != sha || out["name"] != "Apogee — web" {
		t.Fatalf("create: %d %v", code, out)
	}
	id := fmt.Sprint(int64(out["id"].(float64)))
	code, out = call("PATCH", "/"+id, inst, `{"conclusion": "success", "completed_at": "2026-12-05T10:01:00Z", "details_url": "https://web.apogee.example/"}`)
	if code != 200 || out["status"] != "completed" || out["conclusion"] != "success" || out["details_url"] != "https://web.apogee.example/" {
		t.Fatalf("update: %d %v", code, out)
	}
	if code, _ := call("PATCH", "/"+id, oauthTok, `{"conclusion": "failure"}`); code != 403 {
		t.Fatalf("an OAuth token changed a check run: %d", code)
	}
	if code, _ := call("PATCH", "/999999", inst, `{"conclusion": "failure"}`); code != 404 {
		t.Fatalf("an unknown check run: %d, want 404", code)
	}
	runs := f.fake.CheckRuns("hubot/site")
	if len(runs) != 1 || runs[0].Conclusion != "success" || runs[0].Updates != 1 || runs[0].App != "apogee-test" || runs[0].Title != "Building" {
		t.Fatalf("check runs %+v", runs)
	}
}
