package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/apphost"
	"github.com/apogee-dev/apogee/internal/appproxy"
	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/cluster"
	"github.com/apogee-dev/apogee/internal/edge"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/sandbox"
	"github.com/apogee-dev/apogee/internal/supervisor"
)

// appState is the app runtime of this process (setupApps): the
// supervisor of instances, the manager of their pools and the host that
// is the platform's Gate and the edge's Apps. The edge and the platform
// are made before it, so they reach it through appFront.
type appState struct {
	front    appFront
	runtime  apps.Runtime // the supervisor, or Kubernetes (--runtime)
	manager  *apps.Manager
	host     *apphost.Host
	observer *apphost.Observer
}

// appFront stands for the app host before it exists, and where this
// process runs no apps (--app-sandbox off): then an app's release cannot
// go live here and its hosts answer 503.
type appFront struct {
	h atomic.Pointer[apphost.Host]
	// nodes, with --node-listen, is the gate and the production hosts'
	// pools: instances placed across nodes (nodes.go).
	nodes atomic.Pointer[cluster.Cluster]
	store interface {
		Release(ctx context.Context, id string) (*apogee.Release, error)
	}
}

var (
	_ platform.Gate = (*appFront)(nil)
	_ platform.Apps = (*appFront)(nil)
	_ edge.Apps     = (*appFront)(nil)
)

// errNoApps answers for the runtime of a server that runs none.
var errNoApps = apogee.Errorf(apogee.ECONFLICT, "this server runs no apps (--app-sandbox off)")

func (f *appFront) Instances(project string) ([]apogee.AppInstance, []string) {
	if c := f.nodes.Load(); c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return c.Instances(ctx, project), nil
	}
	if h := f.h.Load(); h != nil {
		return h.Instances(project)
	}
	return nil, nil
}

func (f *appFront) SetScale(ctx context.Context, project string, s apogee.AppScale) error {
	if c := f.nodes.Load(); c != nil {
		return c.SetScale(ctx, project, s)
	}
	if h := f.h.Load(); h != nil {
		return h.SetScale(ctx, project, s)
	}
	return errNoApps
}

// CheckScale refuses, before the platform saves it, a scale the
// runtime cannot act on: across nodes, autoscaling.
func (f *appFront) CheckScale(project string, s apogee.AppScale) error {
	if c := f.nodes.Load(); c != nil {
		return cluster.CheckScale(project, s)
	}
	return nil
}

// Wake is the edge's activator's Waker: it wakes a paused or stopped
// app when a request for it is held.
func (f *appFront) Wake(ctx context.Context, pool string) error {
	if h := f.h.Load(); h != nil {
		return h.Wake(ctx, pool)
	}
	return errNoApps
}

func (f *appFront) Scaling(project string) *apogee.AppScaling {
	if h := f.h.Load(); h != nil {
		return h.Scaling(project)
	}
	return nil
}

func (f *appFront) Restart(ctx context.Context, project string) error {
	if h := f.h.Load(); h != nil {
		return h.Restart(ctx, project)
	}
	return errNoApps
}

func (f *appFront) BeforeProduction(ctx context.Context, p *apogee.Project, d *apogee.Deployment, files []apogee.File) error {
	if c := f.nodes.Load(); c != nil {
		return c.BeforeProduction(ctx, p, d, files)
	}
	if h := f.h.Load(); h != nil {
		return h.BeforeProduction(ctx, p, d, files)
	}
	_, err := f.store.Release(ctx, d.ID)
	switch {
	case errors.Is(err, apogee.ErrNotFound):
		return nil // a static deployment
	case err != nil:
		return err
	}
	return apogee.Errorf(apogee.ECONFLICT, "this server runs no apps (--app-sandbox off); start it with --app-sandbox bwrap to deploy %s's app", p.Name)
}

func (f *appFront) ServeApp(w http.ResponseWriter, r *http.Request, projectID, deploymentID string, own bool) {
	if c := f.nodes.Load(); c != nil && !own {
		c.ServeApp(w, r, deploymentID)
		return
	}
	if h := f.h.Load(); h != nil {
		h.ServeApp(w, r, projectID, deploymentID, own)
		return
	}
	w.Header().Set("Retry-After", "5")
	http.Error(w, "503: this server runs no apps", http.StatusServiceUnavailable)
}

// setupApps makes the app runtime when this process runs apps: the
// sandbox of instances (--app-sandbox), the supervisor, which first kills
// the instances an earlier run of this server left (a restart, kill -9),
// the proxy, the manager and the host. The instances' cgroups sit under
// a parent named after the data folder, so servers sharing a machine
// (tests, several data folders) never kill each other's. Restore, in
// ServeTLS, starts the production releases again.
func (s *Server) setupApps(ctx context.Context) error {
	if s.cfg.AppSandbox == "off" {
		s.log.Info("this server runs no apps (--app-sandbox off)")
		return nil
	}
	sum := sha256.Sum256([]byte(s.cfg.Data))
	allow, _ := sandbox.ParseAllowNet(s.cfg.SandboxAllowNet) // checked by Normalize
	// One sandbox per kind this server runs apps in: the default and the
	// ones projects may choose (--app-sandboxes). They share the cgroup
	// parent, so the orphans of any are found by each.
	newSandbox := func(kind string) (sandbox.Sandbox, error) {
		sb, err := sandbox.New(kind, sandbox.WithLogger(s.log.With("component", "sandbox")), sandbox.WithAllowNet(allow...),
			sandbox.WithCgroupParent("apogee/apps-"+hex.EncodeToString(sum[:6])))
		if err != nil {
			return nil, apogee.Errorf(apogee.EINVALID, "the %s app sandbox cannot run here: %v; install it (bwrap: apt-get install bubblewrap slirp4netns nftables; runsc: apt-get install runsc slirp4netns nftables), or run no apps here with --app-sandbox off", kind, err)
		}
		return sb, nil
	}
	sb, err := newSandbox(s.cfg.AppSandbox)
	if err != nil {
		return err
	}
	if s.cfg.AppSandbox == "none" {
		s.log.Warn("apps run WITHOUT a sandbox (--app-sandbox none): an app can read and change this machine; use it for development only")
	}
	launchers := map[string]supervisor.Launcher{s.cfg.AppSandbox: supervisor.Sandboxed{Sandbox: sb, Network: true}}
	runners := map[string]sandbox.Runner{}
	for _, kind := range s.cfg.AppSandboxes {
		other := sb
		if kind != s.cfg.AppSandbox {
			if other, err = newSandbox(kind); err != nil {
				return err
			}
		}
		launchers[kind] = supervisor.Sandboxed{Sandbox: other, Network: true}
		runners[kind] = other
	}
	log := s.log.With("component", "apps")
	a := &s.apps
	a.observer = apphost.NewObserver(s.appWatch) // and on to the runtime logs
	if s.cfg.Runtime == "kubernetes" {
		a.runtime, err = newKubeRuntime(ctx, &s.cfg, a.observer, log)
		if err != nil {
			return err
		}
	} else {
		a.runtime, err = supervisor.New(ctx, supervisor.Options{
			Launcher: supervisor.Kinds{Default: s.cfg.AppSandbox, Launchers: launchers},
			DataDir:  filepath.Join(s.cfg.Data, "apps", "instances"),
			Observer: a.observer,
			Log:      log,
		})
		if err != nil {
			return fmt.Errorf("apps: %w", err)
		}
	}
	a.manager = apps.NewManager(a.runtime, appproxy.New(appproxy.Options{Log: log, LabelHeader: "X-Apogee-Deployment", Waker: &a.front}), apps.ManagerOptions{
		KeepWarm: s.cfg.AppKeepWarm,
		Log:      log,
	})
	var nodes apphost.Nodes
	if d := s.nodeDist(); d != nil {
		nodes = d
	}
	var releases apphost.ReleaseRunner
	if rr, ok := a.runtime.(apphost.ReleaseRunner); ok {
		releases = rr // Kubernetes: release commands run as Jobs
	}
	a.host, err = apphost.New(apphost.Config{
		Releases:      releases,
		Nodes:         nodes,
		Store:         s.store,
		Blobs:         s.blobs,
		Manager:       a.manager,
		Observer:      a.observer,
		Sandbox:       sb,
		Sandboxes:     runners,
		Box:           s.box,
		Hub:           s.hub,
		Dir:           filepath.Join(s.cfg.Data, "apps"),
		Plans:         s.platform.AppLimits,
		AppsMemory:    s.cfg.AppsMemory << 20,
		AutoscaleTick: s.cfg.appTick,
		Now:           s.cfg.appNow,
		Log:           log,
		Registerer:    s.reg,
	})
	if err != nil {
		return err
	}
	// Requests for the apps that Restore brings back wait for them from
	// the first one on. A node of several restores nothing: the
	// scheduler places the production releases (nodes.go).
	if s.cfg.NodeListen != "" {
		a.front.h.Store(a.host)
		return nil
	}
	if err := a.host.PlanRestore(ctx); err != nil {
		return fmt.Errorf("apps: the production releases to restore: %w", err)
	}
	a.front.h.Store(a.host)
	return nil
}

// runApps brings the production releases back, then follows the bus for
// projects that stop being apps, until ctx ends.
func (s *Server) runApps(ctx context.Context) {
	h := s.apps.host
	if h == nil {
		return
	}
	if s.cfg.NodeListen != "" {
		s.ready.set(RoleRuntime, "ready") // it runs what is placed on it (nodes.go)
	} else {
		s.ready.set(RoleRuntime, "restoring the running releases")
		go s.restoreApps(ctx, h)
	}
	if err := h.Run(ctx, s.bus); err != nil && ctx.Err() == nil {
		s.log.Error("apps: event loop stopped", "err", err)
	}
}

// restoreApps brings the production releases back on a single node.
func (s *Server) restoreApps(ctx context.Context, h *apphost.Host) {
	if err := h.Restore(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("apps: restoring the production releases", "err", err)
		s.ready.set(RoleRuntime, "restoring the running releases failed: "+err.Error())
		return
	}
	s.ready.set(RoleRuntime, "ready")
}

// closeApps stops every instance (SIGTERM, then the kill after their
// grace): the next start restores them.
func (s *Server) closeApps() error {
	a := &s.apps
	if a.runtime == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return errors.Join(a.manager.Close(ctx), a.runtime.Close(ctx))
}

// appSandboxes are the sandboxes projects may choose: none when this
// server runs no apps.
func (s *Server) appSandboxes() []string {
	if s.cfg.AppSandbox == "off" {
		return nil
	}
	return s.cfg.AppSandboxes
}
