package server

import (
	"context"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/access"
	"github.com/apogee-dev/apogee/internal/client"
)

// TestAccessLogSwitch: by default the edge records each request to a
// site; with --access-log=false (or APOGEE_ACCESS_LOG=false) it records
// none, and the site serves the same.
func TestAccessLogSwitch(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  string
		want bool // requests recorded
	}{
		{"default", nil, "", true},
		{"flag off", []string{"--access-log=false"}, "", false},
		{"flag on", []string{"--access-log"}, "", true},
		{"variable off", nil, "false", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("APOGEE_ACCESS_LOG", tc.env)
			}
			var cfg Config
			fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
			cfg.Flags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if err := FromEnv(fs); err != nil {
				t.Fatal(err)
			}
			if cfg.NoAccessLog == tc.want {
				t.Fatalf("NoAccessLog %v after %v, APOGEE_ACCESS_LOG=%q", cfg.NoAccessLog, tc.args, tc.env)
			}
			s, addr := startServer(t, Config{Data: t.TempDir(), NoAccessLog: cfg.NoAccessLog})
			ctx := context.Background()
			c := client.New(addr, userToken(t, s.Store(), "owner@example.com", "a long password", false))
			if _, err := c.CreateProject(ctx, "web"); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>home</h1>"), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Deploy(ctx, dir, client.DeployOptions{Project: "web", Production: true}); err != nil {
				t.Fatal(err)
			}
			waitRouted(t, s, "web.localhost")
			for range 3 {
				if code, _, _ := request(t, addr, "GET", "web.localhost", "/", ""); code != http.StatusOK {
					t.Fatalf("the site answered %d", code)
				}
			}
			if !tc.want {
				// Off, the server has no access log: nothing can record a
				// request, and nothing was.
				if s.access != nil {
					t.Fatal("the server made an access log although it is off")
				}
				if reqs, err := c.Requests(ctx, "web", client.RequestOptions{Since: "1h"}); err != nil || len(reqs) > 0 {
					t.Fatalf("with the access log off: %d requests recorded, %v", len(reqs), err)
				}
				return
			}
			// The writer stores records in batches: wait for them.
			deadline := time.Now().Add(10 * time.Second)
			for {
				reqs, err := c.Requests(ctx, "web", client.RequestOptions{Since: "1h"})
				if err != nil {
					t.Fatal(err)
				}
				if len(reqs) >= 3 {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d requests recorded after 10 s, want 3", len(reqs))
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// TestRequestLogRetentions: each project's request log is kept as its
// owner's plan says (request_log_days, request_log_rows), and the log as
// a whole as long as the longest of them.
func TestRequestLogRetentions(t *testing.T) {
	s, _ := startServer(t, Config{Data: t.TempDir()})
	ctx := t.Context()
	free, err := s.store.PlanByID(ctx, "free")
	if err != nil {
		t.Fatal(err)
	}
	big := &apogee.Plan{ID: "big", Name: "Big", Limits: free.Limits, CreatedAt: time.Now()}
	big.Limits.RequestLogDays, big.Limits.RequestLogRows = 30, apogee.Unlimited
	if err := s.store.CreatePlan(ctx, big); err != nil {
		t.Fatal(err)
	}
	users := map[string]*apogee.User{}
	for _, email := range []string{"a@example.com", "b@example.com"} {
		u := &apogee.User{Email: email, Password: "h"}
		if err := s.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		users[email] = u
	}
	if err := s.store.SetUserPlan(ctx, users["b@example.com"].ID, "big"); err != nil {
		t.Fatal(err)
	}
	projects := map[string]*apogee.Project{}
	for name, owner := range map[string]string{"small": "a@example.com", "large": "b@example.com"} {
		p := &apogee.Project{Name: name, OwnerID: users[owner].ID}
		if err := s.store.CreateProject(ctx, p); err != nil {
			t.Fatal(err)
		}
		projects[name] = p
	}
	got, longest, err := s.requestLogRetentions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]access.Retention{
		projects["small"].ID: {MaxAge: 7 * 24 * time.Hour, MaxRows: 1_000_000},
		projects["large"].ID: {MaxAge: 30 * 24 * time.Hour, MaxRows: -1},
	}
	if !maps.Equal(got, want) || longest != 30*24*time.Hour {
		t.Errorf("retentions = %v, longest %v; want %v, 720h", got, longest, want)
	}
}
