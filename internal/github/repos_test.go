package github_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee/internal/github"
	"github.com/apogee-dev/apogee/internal/github/githubtest"
)

func withRepo(f *fixture) {
	f.fake.AddUser(githubtest.User{ID: 9, Login: "hubot", Emails: []githubtest.Email{{Email: "hubot@example.com", Primary: true, Verified: true}}, Repos: []githubtest.Repo{{FullName: "hubot/site", DefaultBranch: "main"}}})
}

// CreateHook sends GitHub a json webhook with the secret and events, and
// SetStatus a commit status, both as the signed-in user.
func TestCreateHookAndStatus(t *testing.T) {
	f := newFixture(t, nil)
	withRepo(f)
	f.connect(t)
	if got := f.fake.LastAuthorize().Get("scope"); got != "read:user user:email write:repo_hook repo:status repo_deployment public_repo" {
		t.Fatalf("scope asked %q", got)
	}
	id, err := f.c.CreateHook(t.Context(), f.user.ID, "hubot/site",
		github.Hook{URL: "https://apogee.example/api/v1/github/webhook", Secret: "s3cret", Events: []string{"push", "pull_request"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []githubtest.Hook{{ID: id, Name: "web", Active: true, Events: []string{"push", "pull_request"},
		Config: githubtest.HookConfig{URL: "https://apogee.example/api/v1/github/webhook", ContentType: "json", Secret: "s3cret", InsecureSSL: "0"}}}
	if got := f.fake.Hooks("hubot/site"); !reflect.DeepEqual(got, want) {
		t.Fatalf("hooks %+v, want %+v", got, want)
	}
	st := github.Status{State: github.StatePending, Description: "Building", TargetURL: "https://apogee.example/deployments/d1", Context: "Apogee"}
	if err := f.c.SetStatus(t.Context(), f.user.ID, "hubot/site", "abc123", st); err != nil {
		t.Fatal(err)
	}
	wantSt := []githubtest.Status{{SHA: "abc123", State: "pending", Description: "Building", TargetURL: "https://apogee.example/deployments/d1", Context: "Apogee"}}
	if got := f.fake.Statuses("hubot/site"); !reflect.DeepEqual(got, wantSt) {
		t.Fatalf("statuses %+v, want %+v", got, wantSt)
	}
}

// A token without the webhook or status scope (issued before Apogee asked
// for them) gets an error telling the user to sign in again; nothing is
// created.
func TestMissingScope(t *testing.T) {
	f := newFixture(t, nil)
	withRepo(f)
	f.fake.Grant = []string{"read:user", "user:email"}
	f.connect(t)
	for _, tt := range []struct {
		name, scope string
		call        func() error
	}{
		{"hook", "write:repo_hook", func() error {
			_, err := f.c.CreateHook(t.Context(), f.user.ID, "hubot/site", github.Hook{URL: "https://a.example/h", Secret: "x", Events: []string{"push"}})
			return err
		}},
		{"status", "repo:status", func() error {
			return f.c.SetStatus(t.Context(), f.user.ID, "hubot/site", "abc", github.Status{State: github.StateSuccess, Context: "Apogee"})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, github.ErrReconnect) {
				t.Fatalf("err %v, want ErrReconnect", err)
			}
			if msg := github.Message(err); !strings.Contains(msg, tt.scope) || !strings.Contains(msg, "sign in with GitHub again") {
				t.Fatalf("message %q", msg)
			}
		})
	}
	if n := len(f.fake.Hooks("hubot/site")) + len(f.fake.Statuses("hubot/site")); n != 0 {
		t.Fatalf("%d hooks or statuses recorded", n)
	}
}

// Bad repository names are refused before anything is sent.
func TestBadRepository(t *testing.T) {
	f := newFixture(t, nil)
	f.connect(t)
	for _, name := range []string{"", "site", "a/b/c", "/site", "hubot/"} {
		if _, err := f.c.CreateHook(t.Context(), f.user.ID, name, github.Hook{}); err == nil || errors.Is(err, github.ErrReconnect) {
			t.Errorf("%q: err %v", name, err)
		}
	}
	if n := f.fake.APICalls("/api/v3/repos//site/hooks"); n != 0 {
		t.Fatalf("%d calls", n)
	}
}

func TestRepoOf(t *testing.T) {
	f := newFixture(t, nil)
	web := f.fake.WebURL()
	for _, tt := range []struct {
		url, want string
		ok        bool
	}{
		{web + "/hubot/site.git", "hubot/site", true},
		{web + "/hubot/site", "hubot/site", true},
		{"https://gitlab.com/hubot/site.git", "", false},
		{web + "/hubot", "", false},
	} {
		got, ok := f.c.RepoOf(tt.url)
		if got != tt.want || ok != tt.ok {
			t.Errorf("RepoOf(%q) = %q, %v; want %q, %v", tt.url, got, ok, tt.want, tt.ok)
		}
	}
}
