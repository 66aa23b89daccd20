package server

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apogee-dev/apogee"
)

// The roles of a server (--roles): one binary runs a laptop's single
// process or a fleet whose nodes each do part of the work.
const (
	RoleAPI     = "api"     // the API, the dashboard and git push on the apex
	RoleEdge    = "edge"    // sites and apps on their hosts
	RoleBuilder = "builder" // builds
	RoleRuntime = "runtime" // app instances
)

var allRoles = []string{RoleAPI, RoleEdge, RoleBuilder, RoleRuntime}

// normalizeRoles checks --roles and turns off what a missing role does.
// Without --roles a server takes api and edge, builder unless
// --build-workers is 0, and runtime unless --app-sandbox is off.
func (c *Config) normalizeRoles() error {
	if len(c.Roles) == 0 {
		c.Roles = []string{RoleAPI, RoleEdge}
		if c.BuildWorkers > 0 {
			c.Roles = append(c.Roles, RoleBuilder)
		}
		if c.AppSandbox != "off" {
			c.Roles = append(c.Roles, RoleRuntime)
		}
	}
	var roles []string
	for _, r := range c.Roles {
		r = strings.ToLower(strings.TrimSpace(r))
		if !slices.Contains(allRoles, r) {
			return apogee.Errorf(apogee.EINVALID, "--roles: %q is not a role; use api, edge, builder or runtime, comma-separated", r)
		}
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	c.Roles = roles
	if !c.Has(RoleBuilder) {
		c.BuildWorkers = 0
	} else if c.BuildWorkers == 0 {
		return apogee.Errorf(apogee.EINVALID, "--roles has builder but --build-workers is 0: give it at least 1, or leave builder out")
	}
	if !c.Has(RoleRuntime) {
		c.AppSandbox = "off"
	} else if c.AppSandbox == "off" {
		return apogee.Errorf(apogee.EINVALID, "--roles has runtime but --app-sandbox is off: choose bwrap or runsc, or leave runtime out")
	}
	return nil
}

// Has reports whether the server takes role r.
func (c *Config) Has(r string) bool { return slices.Contains(c.Roles, r) }

// readiness is what each role of the server reports at /readyz: "ready",
// or why not yet.
type readiness struct {
	mu    sync.Mutex
	state map[string]string
}

func (r *readiness) set(role, state string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == nil {
		r.state = map[string]string{}
	}
	r.state[role] = state
}

func (r *readiness) get(role string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.state[role]; ok {
		return s
	}
	return "starting"
}

// pinger is a store that can tell whether its database answers.
type pinger interface {
	Ping(ctx context.Context) error
}

// Readiness is the answer of /readyz.
type Readiness struct {
	Ready bool              `json:"ready"`
	Roles map[string]string `json:"roles"` // each role this server takes: "ready" or why not
}

// Readiness reports each of the server's roles: api when the database
// answers, edge once its routes are loaded, builder while its builder
// runs, runtime once the instances of the running releases are restored.
func (s *Server) Readiness(ctx context.Context) Readiness {
	out := Readiness{Ready: true, Roles: map[string]string{}}
	for _, role := range s.cfg.Roles {
		state := s.ready.get(role)
		if p, ok := s.store.(pinger); ok && role == RoleAPI {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if err := p.Ping(pctx); err != nil {
				state = "database: " + err.Error()
			} else {
				state = "ready"
			}
			cancel()
		} else if role == RoleAPI {
			state = "ready"
		}
		out.Roles[role] = state
		out.Ready = out.Ready && state == "ready"
	}
	return out
}

// health answers /healthz (liveness: the process serves HTTP) and /readyz
// (readiness of each role, 503 until all are ready), for load balancers;
// on any server whatever its roles.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Path == "/healthz" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
		return
	}
	rd := s.Readiness(r.Context())
	w.Header().Set("Content-Type", "application/json")
	if !rd.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(rd)
}

// notServed answers a request for a role this server does not take.
func notServed(w http.ResponseWriter, role string) {
	http.Error(w, "this server does not take the "+role+" role (--roles): send this request to one that does", http.StatusMisdirectedRequest)
}
