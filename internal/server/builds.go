package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/builder"
	"github.com/apogee-dev/apogee/internal/egress"
	"github.com/apogee-dev/apogee/internal/nodejs"
	"github.com/apogee-dev/apogee/internal/sandbox"
	"github.com/apogee-dev/apogee/internal/source"
)

// setupBuilds makes, when this process builds, the sandbox and the
// builder, which ends its builds through the platform's build queue. A
// sandbox that cannot run here stops the server with what to do, rather
// than failing every build later.
func (s *Server) setupBuilds(context.Context) error {
	if s.cfg.BuildWorkers == 0 {
		return nil
	}
	allow, _ := sandbox.ParseAllowNet(s.cfg.SandboxAllowNet) // checked by Normalize
	sb, err := sandbox.New(s.cfg.Sandbox, sandbox.WithLogger(s.log.With("component", "sandbox")), sandbox.WithAllowNet(allow...))
	if err != nil {
		return apogee.Errorf(apogee.EINVALID, "the %s build sandbox cannot run here: %v; install it (bwrap: apt-get install bubblewrap slirp4netns nftables; runsc: apt-get install runsc slirp4netns nftables), or run builds elsewhere with --build-workers 0", s.cfg.Sandbox, err)
	}
	if s.cfg.Sandbox == "none" {
		s.log.Warn("builds run WITHOUT a sandbox (--sandbox none): a build script can read and change this machine; use it for development only")
	}
	limits := builder.DefaultLimits
	if s.cfg.BuildMemoryMB > 0 {
		limits.MemoryBytes = s.cfg.BuildMemoryMB << 20
	}
	if s.cfg.BuildCPUs > 0 {
		limits.CPUs = s.cfg.BuildCPUs
	}
	if s.cfg.BuildTimeout > 0 {
		limits.Wall = s.cfg.BuildTimeout
	}
	diskMB := s.cfg.BuildDiskMB
	if diskMB > 0 && os.Geteuid() != 0 {
		s.log.Warn("builds' disk is not bounded: --build-disk-mb needs apogee to run as root (a loop mount)")
		diskMB = 0
	}
	if s.cfg.AllowPrivateGit {
		s.log.Warn("Git fetches may reach private and loopback addresses (--allow-private-git): any user can make this server fetch from its own network")
	}
	host, _ := os.Hostname()
	env := s.platform.Env()
	var nodes builder.Nodes
	if d := s.nodeDist(); d != nil {
		nodes = d
	}
	src := &builder.Sources{
		Git: &source.Git{Log: s.log.With("component", "git"), AllowFile: s.cfg.AllowFileGit,
			Policy: egress.Policy{AllowPrivate: s.cfg.AllowPrivateGit}},
		Blobs:     s.blobs,
		LocalRoot: filepath.Join(s.cfg.Data, "git"),
		Token:     s.appToken(env.GitToken),
		Manifests: s.store,
	}
	if s.repos != nil {
		src.Repos = s.repos // a nil *Repos in the interface would not be nil
	}
	s.builder, err = builder.New(builder.Config{
		NodeJS:  nodes,
		Store:   s.store,
		Queue:   s.platform.Queue(),
		Blobs:   s.blobs,
		Bus:     s.bus,
		Hub:     s.hub,
		Sandbox: sb,
		Source:  src,
		Env:     env,
		Dir:     filepath.Join(s.cfg.Data, "builds"),
		Workers: s.cfg.BuildWorkers,
		Limits:  limits,
		// The disk bound needs root (a loop mount), as the sandbox does.
		DiskBytes: diskMB << 20,
		// One node per data folder: a restart of this server fails the
		// builds its previous run left.
		Node:    host + ":" + s.cfg.Data,
		SiteURL: s.SiteURL,
		Log:     s.log.With("component", "builder"),
	})
	if err != nil {
		return fmt.Errorf("builder: %w", err)
	}
	return nil
}

// gitSchemes are the repository URL schemes projects may use.
func (s *Server) gitSchemes() []string {
	if s.cfg.AllowFileGit {
		return []string{"https", "http", "file"}
	}
	return []string{"https", "http"}
}

// runBuilder runs the builder until ctx ends, if this process builds.
func (s *Server) runBuilder(ctx context.Context) {
	if s.builder == nil {
		return
	}
	for {
		s.ready.set(RoleBuilder, "ready")
		err := s.builder.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		s.log.Error("builder stopped; restarting", "err", err)
		s.ready.set(RoleBuilder, "restarting after: "+err.Error())
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// nodeDist returns the Node.js versions builds run with and apps' releases
// run on, kept in --node-dir (default: node in the data folder); nil with
// --build-node system (everything runs on the server's own Node.js).
func (s *Server) nodeDist() *nodejs.Dist {
	if s.cfg.BuildNode == "system" {
		return nil
	}
	s.nodesOnce.Do(func() {
		dir := s.cfg.NodeDir
		if dir == "" {
			dir = filepath.Join(s.cfg.Data, "node")
		}
		s.nodes = &nodejs.Dist{Dir: dir, Log: s.log.With("component", "nodejs")}
	})
	return s.nodes
}
