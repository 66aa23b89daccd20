package server

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/events/natstest"
)

func TestRolesFlag(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		roles   []string
		workers int
		apps    string // AppSandbox after Normalize
		err     string
	}{
		{"default: all four", nil, []string{"api", "edge", "builder", "runtime"}, 1, "bwrap", ""},
		{"edge only", []string{"--roles", "edge"}, []string{"edge"}, 0, "off", ""},
		{"api and builder", []string{"--roles", "API, builder", "--build-workers", "2"}, []string{"api", "builder"}, 2, "off", ""},
		{"twice is once", []string{"--roles", "edge,edge"}, []string{"edge"}, 0, "off", ""},
		{"unknown", []string{"--roles", "edge,cdn"}, nil, 0, "", `"cdn" is not a role`},
		{"builder with no workers", []string{"--roles", "builder", "--build-workers", "0"}, nil, 0, "", "--build-workers is 0"},
		{"runtime with apps off", []string{"--roles", "runtime", "--app-sandbox", "off"}, nil, 0, "", "--app-sandbox is off"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
			c.Flags(fs)
			if err := fs.Parse(append([]string{"--data", t.TempDir()}, tt.args...)); err != nil {
				t.Fatal(err)
			}
			err := c.Normalize()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Normalize = %v, want an error saying %q", err, tt.err)
				}
				return
			}
			if err != nil || !slices.Equal(c.Roles, tt.roles) || c.BuildWorkers != tt.workers || c.AppSandbox != tt.apps {
				t.Errorf("roles %v, workers %d, app sandbox %q, %v; want %v, %d, %q", c.Roles, c.BuildWorkers, c.AppSandbox, err, tt.roles, tt.workers, tt.apps)
			}
		})
	}
}

// TestRolesAcrossServers: an api-only server and an edge-only server
// sharing PostgreSQL, blobs and NATS are one platform: a deployment made
// through the first is served by the second; each refuses the other's
// requests with 421, and /readyz reports each one's roles.
func TestRolesAcrossServers(t *testing.T) {
	ns := natstest.Start(t)
	apiServer, _, addrAPI, addrEdge := twoServersWith(t, ns, Config{Roles: []string{"api"}}, Config{Roles: []string{"edge"}})

	status := func(addr, host, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", addr+path, nil)
		req.Host = host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	for _, tt := range []struct {
		name, addr, host, path string
		code                   int
		body                   string
	}{
		{"edge server: no API", addrEdge, "localhost", "/api/v1/projects", http.StatusMisdirectedRequest, "api role"},
		{"edge server: no dashboard", addrEdge, "localhost", "/login", http.StatusMisdirectedRequest, "api role"},
		{"api server: no sites", addrAPI, "web.localhost", "/", http.StatusMisdirectedRequest, "edge role"},
		{"edge server: liveness", addrEdge, "localhost", "/healthz", http.StatusOK, "ok"},
		{"api server: liveness", addrAPI, "localhost", "/healthz", http.StatusOK, "ok"},
	} {
		if code, body := status(tt.addr, tt.host, tt.path); code != tt.code || !strings.Contains(body, tt.body) {
			t.Errorf("%s: %d %q, want %d with %q", tt.name, code, body, tt.code, tt.body)
		}
	}
	for addr, want := range map[string]map[string]string{
		addrAPI:  {"api": "ready"},
		addrEdge: {"edge": "ready"},
	} {
		code, body := status(addr, "127.0.0.1", "/readyz")
		var rd Readiness
		if err := json.Unmarshal([]byte(body), &rd); err != nil || code != 200 || !rd.Ready || !maps.Equal(rd.Roles, want) {
			t.Errorf("/readyz of %s = %d %s, want 200 with %v", addr, code, body, want)
		}
	}

	ctx := context.Background()
	secret := userToken(t, apiServer.Store(), "admin@example.com", "password", true)
	c := client.New(addrAPI, secret)
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deploy(ctx, site(t, "from the api server"), client.DeployOptions{Project: "web", Production: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, addrEdge, "web.localhost", "from the api server")
}
