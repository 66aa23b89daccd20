package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/framework"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/nodejs"
	"github.com/apogee-dev/apogee/internal/safefs"
	"github.com/apogee-dev/apogee/internal/sandbox"
)

// build runs one claimed build to its end and records the outcome.
func (b *Builder) build(parent context.Context, worker string, d *apogee.Deployment) {
	ctx, cancel := context.WithCancelCause(parent)
	b.mu.Lock()
	b.running[d.ID] = runningBuild{worker: worker, cancel: cancel}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.running, d.ID)
		b.mu.Unlock()
		cancel(nil)
	}()
	log := b.log.With("deployment", d.ID, "worker", worker)
	log.Info("build started", "source", d.Source, "branch", d.Branch)

	// The outcome is recorded even when the server is stopping.
	bg := context.WithoutCancel(parent)
	var vars, secrets []string
	p, err := b.cfg.Store.ProjectByID(ctx, d.ProjectID)
	// A fork's pull request is someone else's code: it gets none of the
	// project's variables (secrets included), as on Vercel.
	if err == nil && b.cfg.Env != nil && d.ForkRepo == "" {
		vars, secrets, err = b.cfg.Env.Resolve(ctx, d.ProjectID)
	}
	// The log may have lines already: the API notes why a build waited
	// (its owner's concurrent builds).
	var after int64
	if lines, lerr := b.cfg.Store.Logs(ctx, d.ID, 0, 0); lerr == nil && len(lines) > 0 {
		after = lines[len(lines)-1].Seq
	}
	w := logs.NewWriter(d.ID, b.cfg.Store, b.cfg.Hub, logs.Options{Secrets: secrets, Log: log, After: after})

	hbDone := make(chan struct{})
	go b.heartbeat(ctx, cancel, worker, d.ID, hbDone)

	var files []apogee.File
	var app *apogee.AppBuild
	var skip *skipError
	if err == nil {
		var stop func() bool
		if stop, err = b.budget(ctx, cancel, w, p); err == nil {
			files, app, err = b.run(ctx, w, p, d, vars)
			stop()
			if d.ForkRepo != "" {
				// A fork's caches were its own, for this build only.
				os.RemoveAll(filepath.Join(b.cfg.Dir, "cache", cacheOf(p, d)))
			}
		}
	}

	if err == nil {
		var ready *apogee.Deployment
		var ferr error
		// The queue readies the output and makes it ready (and, for
		// production, live) as finalize does an upload.
		if app != nil {
			// An app's release goes live once its instances are ready,
			// which takes a boot (and the release command): the build
			// keeps its heartbeat meanwhile, and a cancel or a stop of
			// the server ends the wait.
			w.Systemf("Build completed; releasing %d files", len(files))
			_ = w.Close(bg)
			ready, ferr = b.cfg.Queue.FinishRelease(ctx, d.ID, files, *app)
		} else {
			w.Systemf("Build completed; deploying %d files", len(files))
			_ = w.Close(bg)
			ready, ferr = b.cfg.Queue.FinishBuild(bg, d.ID, files)
		}
		cancel(nil)
		<-hbDone
		// Going live may have added lines (the release phase, the
		// instances' boot).
		last := b.lastSeq(bg, d.ID, w.Seq())
		if ferr == nil {
			// The rules of its routing files the deployment is made
			// without, as Netlify's deploy log lists them.
			w = logs.NewWriter(d.ID, b.cfg.Store, b.cfg.Hub, logs.Options{After: last, Log: log})
			for _, rw := range ready.Warnings {
				w.Systemf("Warning: %s", rw)
			}
			w.Systemf("Ready: %s", b.cfg.SiteURL(ready.Host))
			_ = w.Close(bg)
			b.cfg.Hub.End(d.ID)
			log.Info("build ready", "files", len(files), "app", app != nil)
			return
		}
		err = ferr
		w = logs.NewWriter(d.ID, b.cfg.Store, b.cfg.Hub, logs.Options{After: last, Log: log})
	} else {
		// A skip counts only if nothing ended the build meanwhile.
		if errors.As(err, &skip) && ctx.Err() != nil {
			skip = nil
		}
		cancel(nil)
		<-hbDone
	}

	if skip != nil {
		w.Systemf("%s", skip.reason)
		_ = w.Close(bg)
		if _, err := b.cfg.Queue.SkipBuild(bg, d.ID, skip.reason); err != nil && apogee.ErrorCode(err) != apogee.ECONFLICT {
			log.Error("record skipped build", "err", err)
		}
		b.cfg.Hub.End(d.ID)
		log.Info("build skipped", "reason", skip.reason)
		return
	}
	status, reason := apogee.StatusError, failureReason(err)
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errCanceled):
		status, reason = apogee.StatusCanceled, "canceled"
	case errors.Is(cause, errTakenAway):
		reason = "the build was ended elsewhere (canceled or timed out)"
	case errors.As(cause, new(*apogee.Error)):
		reason = apogee.ErrorMessage(cause) // the plan's build minutes ran out
	case parent.Err() != nil:
		reason = ReasonRestart
	}
	w.Systemf("Build %s: %s", map[apogee.Status]string{apogee.StatusError: "failed", apogee.StatusCanceled: "canceled"}[status], reason)
	_ = w.Close(bg)
	if _, err := b.cfg.Queue.FailBuild(bg, d.ID, status, reason); err != nil && apogee.ErrorCode(err) != apogee.ECONFLICT {
		log.Error("record build failure", "err", err)
	}
	b.cfg.Hub.End(d.ID)
	log.Info("build ended", "status", status, "reason", reason)
}

// budget bounds a build by its owner's build minutes: the build is
// refused when none are left (builds of the same owner may have used them
// since it was queued), and otherwise stopped, with the plan's limit as
// the reason, when the minutes left this month (UTC) run out. The
// returned func releases the timer.
func (b *Builder) budget(ctx context.Context, cancel context.CancelCauseFunc, w *logs.Writer, p *apogee.Project) (func() bool, error) {
	none := func() bool { return false }
	plan, err := b.cfg.Store.UserPlan(ctx, p.OwnerID)
	if err != nil {
		return none, fmt.Errorf("plan of the project's owner: %w", err)
	}
	l := plan.Limits.BuildMinutes
	if l == apogee.Unlimited {
		return none, nil
	}
	now := time.Now().UTC()
	use, err := b.cfg.Store.Usage(ctx, p.OwnerID, apogee.MonthStart(now), now)
	if err != nil {
		return none, fmt.Errorf("usage of the project's owner: %w", err)
	}
	used := time.Duration(use.BuildSeconds) * time.Second
	quota := func() error {
		return apogee.QuotaError(plan, apogee.LimitBuildMinutes, l, use.BuildMinutes(),
			fmt.Sprintf("%d build %s a month", l, map[bool]string{true: "minute", false: "minutes"}[l == 1]), "this month's are used up",
			"builds start again next month, or ask an admin for a larger plan")
	}
	left := time.Duration(l)*time.Minute - used
	if left <= 0 {
		return none, quota()
	}
	if left < b.cfg.Limits.Wall {
		w.Systemf("Your plan %q has %s of build time left this month; the build stops if it takes longer", plan.Name, left.Round(time.Second))
	}
	t := time.AfterFunc(left, func() { cancel(quota()) })
	return t.Stop, nil
}

// lastSeq returns the number of the last stored line of a log, at least
// min.
func (b *Builder) lastSeq(ctx context.Context, id string, min int64) int64 {
	lines, err := b.cfg.Store.Logs(ctx, id, min, 0)
	if err != nil || len(lines) == 0 {
		return min
	}
	return max(min, lines[len(lines)-1].Seq)
}

// failureReason is what a failed build's last log line and Error say.
func failureReason(err error) string {
	var e *apogee.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

var errTakenAway = errors.New("build ended elsewhere")

// heartbeat keeps the build's claim alive; when the store says the build
// is no longer this worker's (canceled through the API, failed as stale),
// it stops the build.
func (b *Builder) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, worker, id string, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(b.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := b.cfg.Store.BuildHeartbeat(ctx, id, worker, time.Now().UTC())
		if apogee.ErrorCode(err) == apogee.ECONFLICT {
			d, gerr := b.cfg.Store.DeploymentByID(ctx, id)
			if gerr == nil && d.Status == apogee.StatusCanceled {
				cancel(errCanceled)
			} else {
				cancel(errTakenAway)
			}
			return
		}
		if err != nil && ctx.Err() == nil {
			b.log.Warn("build heartbeat", "deployment", id, "err", err)
		}
	}
}

// run fetches, installs, builds and collects the output. For an app it
// also returns how the app starts (nil for a static site).
func (b *Builder) run(ctx context.Context, w *logs.Writer, p *apogee.Project, d *apogee.Deployment, vars []string) ([]apogee.File, *apogee.AppBuild, error) {
	work := filepath.Join(b.cfg.Dir, "work", d.ID)
	if err := os.RemoveAll(work); err != nil {
		return nil, nil, fmt.Errorf("clear workspace: %w", err)
	}
	defer os.RemoveAll(work)
	var disk *sandbox.Disk
	if b.cfg.DiskBytes > 0 {
		// The workspace is a file system of its own, as large as the
		// build may write.
		var err error
		if disk, err = sandbox.MountDisk(ctx, work, b.cfg.DiskBytes); err != nil {
			return nil, nil, fmt.Errorf("build disk (set --build-disk-mb 0 where disks cannot be mounted): %w", err)
		}
		defer func() {
			if err := disk.Unmount(); err != nil {
				b.log.Error("build disk", "deployment", d.ID, "err", err)
			}
		}()
	}
	src := filepath.Join(work, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return nil, nil, fmt.Errorf("make workspace: %w", err)
	}

	sys := w.Stream(apogee.StreamSystem)
	defer sys.Close()
	commit, err := b.cfg.Source.Fetch(ctx, p, d, src, sys)
	if err != nil {
		return nil, nil, err
	}
	if commit.SHA != "" {
		if err := b.cfg.Store.SetBuildCommit(ctx, d.ID, commit); err != nil {
			return nil, nil, fmt.Errorf("record the commit: %w", err)
		}
		w.Systemf("Commit %s", commitLine(commit))
	}
	if commit.ChangedKnown {
		// A monorepo's project: the push's changes were not known when
		// it was queued (a git push, a truncated webhook payload).
		if ok, reason := p.Settings.Build.Affected(commit.Changed); !ok {
			return nil, nil, &skipError{reason: reason}
		}
	}

	overrides := framework.Overrides(p.Settings.Build)
	// The checkout is the repository's: it is read following no link
	// and opening only regular files, each with a cap (safefs).
	root, err := safefs.OpenDir(src)
	if err != nil {
		return nil, nil, fmt.Errorf("open checkout: %w", err)
	}
	defer root.Close()
	fsys, err := overrides.Sub(root.FS(maxConfigRead))
	if err != nil {
		return nil, nil, err
	}
	rootDir := "."
	if overrides.RootDir != nil && *overrides.RootDir != "" {
		rootDir = path.Clean(filepath.ToSlash(*overrides.RootDir))
	}
	ws := workspace{
		dir:     src,
		root:    root,
		rootDir: rootDir,
		env:     b.env(vars),
		disk:    disk,
	}
	// The ignored build step decides for builds from Git (a push, a
	// redeploy); a folder or ZIP someone deployed is built as asked.
	if c := p.Settings.Build.IgnoreCommand; c != nil && strings.TrimSpace(*c) != "" && d.Source == apogee.SourceGit {
		if err := b.ignoredBuildStep(ctx, w, *c, d, ws); err != nil {
			return nil, nil, err
		}
	}
	kind, err := detectKind(fsys, p.Settings.App)
	if err != nil {
		return nil, nil, err
	}
	if kind.Kind == framework.KindApp {
		return b.runApp(ctx, w, p, d, fsys, overrides, kind, ws)
	}

	plan, err := framework.DetectWith(fsys, overrides)
	if err != nil {
		return nil, nil, err
	}
	w.Systemf("Detected %s: install %s, build %s, output %q", plan.Name, quoteOr(plan.InstallCommand, "none"), quoteOr(plan.BuildCommand, "none"), plan.OutputDir)

	info := apogee.BuildInfo{Framework: plan.Framework}
	if plan.InstallCommand != "" || plan.BuildCommand != "" {
		node, err := b.useNode(ctx, w, p, plan.NodeVersion, plan.NodeVersionFrom, &ws)
		if err != nil {
			// The framework is worth showing on a build that failed here.
			if rerr := b.cfg.Store.SetBuildInfo(ctx, d.ID, info); rerr != nil {
				w.Systemf("Could not record the framework: %v", rerr)
			}
			return nil, nil, err
		}
		info.NodeVersion = node.Version
	}
	if err := b.cfg.Store.SetBuildInfo(ctx, d.ID, info); err != nil {
		return nil, nil, fmt.Errorf("record the framework: %w", err)
	}

	cache, err := b.openCache(ctx, cacheOf(p, d), root, rootDir, plan.Lockfile, "", w)
	if err != nil {
		return nil, nil, err
	}
	skipInstall := false
	if d.NoCache {
		w.Systemf("Building without the dependency cache (--no-cache)")
	} else if cache.restore(root, rootDir) {
		// The lockfile is the same as the cached install's: the install
		// would produce the same node_modules.
		skipInstall = overrides.InstallCommand == nil
		w.Systemf("Restored node_modules from the cache (lockfile unchanged)")
	}

	ws.mounts = append(ws.mounts, sandbox.Mount{Source: cache.pkgDir, Target: "/cache", Writable: true})
	if plan.InstallCommand != "" && !skipInstall {
		if err := b.step(ctx, w, "Installing", plan.InstallCommand, ws); err != nil {
			return nil, nil, err
		}
	} else if skipInstall {
		w.Systemf("Skipping install")
	}
	fw := b.frameworkCache(p, d)
	if plan.BuildCommand != "" && !d.NoCache {
		fw.restore(root, rootDir, plan.CacheDirs, w)
	}
	if plan.BuildCommand != "" {
		if err := b.step(ctx, w, "Building", plan.BuildCommand, ws); err != nil {
			return nil, nil, err
		}
	}

	files, err := collect(ctx, b.cfg.Blobs, root, path.Join(rootDir, path.Clean(filepath.ToSlash(plan.OutputDir))), w, collectOptions{})
	if err != nil {
		return nil, nil, err
	}
	// Before node_modules goes to its cache: some framework caches are in
	// it (node_modules/.vite).
	if plan.BuildCommand != "" {
		if err := fw.save(root, rootDir, plan.CacheDirs, w); err != nil {
			w.Systemf("Could not keep the framework cache: %v", err)
		}
	}
	if err := cache.save(root, rootDir); err != nil {
		w.Systemf("Could not save the dependency cache: %v", err)
	}
	if d.ForkRepo == "" {
		b.recordCache(ctx, p, cache, w)
	}
	return files, nil, nil
}

// detectKind tells an app from a static site: the project's setting
// wins, else the tree decides (framework.DetectKind). A project set to
// be an app whose tree shows no start command gets none here (the
// platform then uses the project's start command or npm start).
func detectKind(fsys fs.FS, a apogee.AppSettings) (framework.KindPlan, error) {
	if a.Kind != nil && *a.Kind == apogee.KindStatic {
		return framework.KindPlan{Kind: framework.KindStatic, Rule: "project setting"}, nil
	}
	kind, err := framework.DetectKind(fsys)
	if err != nil {
		return kind, err
	}
	if a.Kind != nil && *a.Kind == apogee.KindApp && kind.Kind != framework.KindApp {
		kind.Kind, kind.Rule = framework.KindApp, "project setting"
	}
	return kind, nil
}

// runApp installs an app's dependencies, builds it if it has a build
// script, leaves only its production dependencies and stores the whole
// tree (node_modules and the links in it included) content-addressed:
// a rebuild that changes one file stores one file. A build with no
// build step installs production dependencies only, and keeps that
// node_modules in the dependency cache for the next build with the
// same lockfile.
func (b *Builder) runApp(ctx context.Context, w *logs.Writer, p *apogee.Project, d *apogee.Deployment, fsys fs.FS,
	overrides framework.Overrides, kind framework.KindPlan, ws workspace) ([]apogee.File, *apogee.AppBuild, error) {
	plan, err := framework.PlanApp(fsys, overrides)
	if err != nil {
		return nil, nil, err
	}
	start := kind.StartCommand
	if p.Settings.App.StartCommand != nil {
		start = *p.Settings.App.StartCommand
	}
	w.Systemf("Detected a Node.js app (%s): start %s, install %s, build %s", kind.Rule,
		quoteOr(start, "`npm start`"), quoteOr(plan.InstallCommand, "none"), quoteOr(plan.BuildCommand, "none"))
	if kind.ReleaseCommand != "" {
		w.Systemf("Release command %s runs once, before the release serves production", quoteOr(kind.ReleaseCommand, ""))
	}

	// The release runs on the Node.js it was built with (native modules
	// built for another would not load): the release records it.
	node, err := b.useNode(ctx, w, p, plan.NodeVersion, plan.NodeVersionFrom, &ws)
	if err != nil {
		return nil, nil, err
	}
	if err := b.cfg.Store.SetBuildInfo(ctx, d.ID, apogee.BuildInfo{NodeVersion: node.Version}); err != nil {
		return nil, nil, fmt.Errorf("record the build's Node.js: %w", err)
	}

	cache, err := b.openCache(ctx, cacheOf(p, d), ws.root, ws.rootDir, plan.Lockfile, "prod", w)
	if err != nil {
		return nil, nil, err
	}
	skipInstall := false
	switch {
	case d.NoCache:
		w.Systemf("Building without the dependency cache (--no-cache)")
	case plan.ProdOnly && cache.restore(ws.root, ws.rootDir):
		skipInstall = overrides.InstallCommand == nil
		w.Systemf("Restored node_modules from the cache (lockfile unchanged)")
	}
	ws.mounts = append(ws.mounts, sandbox.Mount{Source: cache.pkgDir, Target: "/cache", Writable: true})
	if plan.InstallCommand != "" && !skipInstall {
		if err := b.step(ctx, w, "Installing", plan.InstallCommand, ws); err != nil {
			return nil, nil, err
		}
	} else if skipInstall {
		w.Systemf("Skipping install")
	}
	if plan.BuildCommand != "" {
		if err := b.step(ctx, w, "Building", plan.BuildCommand, ws); err != nil {
			return nil, nil, err
		}
		if plan.PruneCommand != "" {
			if err := b.step(ctx, w, "Pruning devDependencies", plan.PruneCommand, ws); err != nil {
				return nil, nil, err
			}
		}
	}
	files, err := collect(ctx, b.cfg.Blobs, ws.root, ws.rootDir, w, collectOptions{app: true})
	if err != nil {
		return nil, nil, err
	}
	if plan.ProdOnly {
		if err := cache.save(ws.root, ws.rootDir); err != nil {
			w.Systemf("Could not save the dependency cache: %v", err)
		}
	}
	if d.ForkRepo == "" {
		b.recordCache(ctx, p, cache, w)
	}
	return files, &apogee.AppBuild{StartCommand: kind.StartCommand, ReleaseCommand: kind.ReleaseCommand, NodeVersion: node.Version}, nil
}

// commitLine is a commit as the log shows it: short SHA, subject, author.
func commitLine(c apogee.CommitInfo) string {
	s := c.SHA
	if len(s) > 12 {
		s = s[:12]
	}
	if c.Message != "" {
		s += " " + strconv.Quote(c.Message)
	}
	if c.Author != "" {
		s += " by " + c.Author
	}
	return s
}

func quoteOr(s, none string) string {
	if s == "" {
		return none
	}
	return "`" + s + "`"
}

// nodeTarget is where a build's Node.js is mounted in the sandbox (the
// sandbox makes /run/apogee traversable; a new parent would be 0700).
const nodeTarget = "/run/apogee/node"

// useNode picks the build's Node.js (the project's setting, else what
// the tree asks for, else the current LTS), mounts it read-only and puts
// it first on PATH, logs which and why, and returns it.
func (b *Builder) useNode(ctx context.Context, w *logs.Writer, p *apogee.Project, want, from string, ws *workspace) (nodejs.Choice, error) {
	if b.cfg.NodeJS == nil {
		return nodejs.Choice{}, nil
	}
	if s := p.Settings.Build.NodeVersion; s != nil && *s != "" {
		want, from = *s, "the project's setting"
	}
	c, err := b.cfg.NodeJS.Choose(ctx, want, from)
	if err != nil {
		return c, err
	}
	w.Systemf("%s", c.Why)
	if c.Dir == "" {
		return c, nil
	}
	bin := nodeTarget + "/bin"
	if b.cfg.Sandbox.Name() == "none" {
		bin = filepath.Join(c.Dir, "bin") // nothing is mounted
	} else {
		ws.mounts = append(ws.mounts, sandbox.Mount{Source: c.Dir, Target: nodeTarget})
	}
	for i, kv := range ws.env {
		if strings.HasPrefix(kv, "PATH=") {
			ws.env[i] = "PATH=" + bin + ":" + strings.TrimPrefix(kv, "PATH=")
		}
	}
	// The project's variables win over these.
	for _, kv := range c.Env {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(ws.env, func(e string) bool { return strings.HasPrefix(e, k+"=") }) {
			ws.env = append(ws.env, kv)
		}
	}
	return c, nil
}

// env is the whole environment of a build step: a fixed base and the
// project's variables. Nothing of the server's own environment leaks in.
func (b *Builder) env(vars []string) []string {
	env := []string{
		"PATH=/workspace/node_modules/.bin:/usr/local/bin:/usr/bin:/bin",
		"HOME=/tmp",
		"CI=1",
		"APOGEE=1",
		"npm_config_cache=/cache/npm",
		"npm_config_update_notifier=false",
		"npm_config_fund=false",
		"npm_config_audit=false",
		// A stalled registry fetch is retried after a minute rather than
		// failing the build after npm's default five.
		"npm_config_fetch_timeout=60000",
		"npm_config_fetch_retries=4",
		"YARN_CACHE_FOLDER=/cache/yarn",
		// pnpm keeps its store under $XDG_DATA_HOME/pnpm (npm would warn
		// about an npm_config_store_dir it does not know).
		"XDG_DATA_HOME=/cache/xdg-data",
		"XDG_CACHE_HOME=/cache/xdg-cache",
	}
	if ca := systemCABundle(); ca != "" {
		env = append(env, "NODE_EXTRA_CA_CERTS="+ca)
	}
	return append(env, vars...)
}

// caBundles are where distributions keep the machine's trusted
// certificates in one file; the sandbox sees them (sandbox's /etc).
var caBundles = []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"}

// systemCABundle returns the machine's certificate bundle, or "". A
// build's Node.js (downloaded from nodejs.org) trusts only the roots
// built into it, where the distribution's node and npm trust the
// machine's: a registry reached through a TLS-inspecting proxy whose CA
// the admin installed would fail with SELF_SIGNED_CERT_IN_CHAIN.
// NODE_EXTRA_CA_CERTS adds the machine's to the built-in ones.
func systemCABundle() string {
	for _, p := range caBundles {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// workspace is where a build's steps run.
type workspace struct {
	dir     string      // the checkout, /workspace in the sandbox
	root    *safefs.Dir // the checkout, as the server reads it
	rootDir string      // the project's folder in it (slash-separated)
	env     []string
	mounts  []sandbox.Mount
	disk    *sandbox.Disk // nil: no bound
}

// step runs one command in the sandbox, in the project's folder of the
// workspace, and turns a failure into the message that ends the log.
func (b *Builder) step(ctx context.Context, w *logs.Writer, what, command string, ws workspace) error {
	w.Systemf("%s: %s", what, command)
	script := command
	if ws.rootDir != "." {
		script = "cd " + shellQuote(ws.rootDir) + " && " + command
	}
	out, errw := w.Stream(apogee.StreamStdout), w.Stream(apogee.StreamStderr)
	res, err := b.cfg.Sandbox.Run(ctx, sandbox.Spec{
		Argv:    []string{"/bin/sh", "-c", script},
		Dir:     ws.dir,
		Env:     ws.env,
		Mounts:  ws.mounts,
		Stdout:  out,
		Stderr:  errw,
		Limits:  b.cfg.Limits,
		Network: true,
	})
	out.Close()
	errw.Close()
	if err != nil {
		return fmt.Errorf("%s: sandbox: %w", strings.ToLower(what), err)
	}
	w.Systemf("%s finished in %s (exit code %d)", what, res.Duration.Round(time.Millisecond), res.ExitCode)
	switch {
	case res.Reason == sandbox.ReasonCanceled:
		return context.Cause(ctx)
	case res.Killed():
		return apogee.Errorf(apogee.EINVALID, "`%s` was %s", command, res.Reason)
	case res.ExitCode != 0 && ws.disk != nil && ws.disk.Full():
		return apogee.Errorf(apogee.EINVALID, "`%s` exited with code %d: the build's %s", command, res.ExitCode, ws.disk.Reason())
	case res.ExitCode != 0:
		return apogee.Errorf(apogee.EINVALID, "`%s` exited with code %d", command, res.ExitCode)
	}
	return nil
}

// skipError ends a build as skipped, with reason.
type skipError struct{ reason string }

func (e *skipError) Error() string { return e.reason }

// ignoredBuildStep runs the project's "ignored build step" in the
// sandbox, in the project's folder of the checkout, as Vercel does:
// exit code 0 skips the build (a *skipError), any other builds. It sees
// the build's environment and APOGEE_GIT_COMMIT_SHA, APOGEE_GIT_PREVIOUS_SHA
// (the commit before the push, fetched into the clone; "" if unknown),
// APOGEE_GIT_COMMIT_REF (the branch) and APOGEE_TARGET.
func (b *Builder) ignoredBuildStep(ctx context.Context, w *logs.Writer, command string, d *apogee.Deployment, ws workspace) error {
	w.Systemf("Running the ignored build step: %s", command)
	script := command
	if ws.rootDir != "." {
		script = "cd " + shellQuote(ws.rootDir) + " && " + command
	}
	env := append(slices.Clone(ws.env),
		"APOGEE_GIT_COMMIT_SHA="+d.Commit, "APOGEE_GIT_PREVIOUS_SHA="+d.DiffBase,
		"APOGEE_GIT_COMMIT_REF="+d.Branch, "APOGEE_TARGET="+d.Target)
	out, errw := w.Stream(apogee.StreamStdout), w.Stream(apogee.StreamStderr)
	res, err := b.cfg.Sandbox.Run(ctx, sandbox.Spec{
		Argv:    []string{"/bin/sh", "-c", script},
		Dir:     ws.dir,
		Env:     env,
		Mounts:  ws.mounts,
		Stdout:  out,
		Stderr:  errw,
		Limits:  b.cfg.Limits,
		Network: true,
	})
	out.Close()
	errw.Close()
	if err != nil {
		return fmt.Errorf("ignored build step: sandbox: %w", err)
	}
	switch {
	case res.Reason == sandbox.ReasonCanceled:
		return context.Cause(ctx)
	case res.Killed():
		w.Systemf("The ignored build step was %s; building", res.Reason)
	case res.ExitCode == 0:
		return &skipError{reason: fmt.Sprintf("Skipped by the ignored build step: `%s` exited with code 0", command)}
	default:
		w.Systemf("The ignored build step exited with code %d; building", res.ExitCode)
	}
	return nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// cacheOf names the folder of a build's caches under <Dir>/cache: the
// project's, or for a fork's pull request one of its own that starts
// empty and is removed after the build, so that a fork's code neither
// reads the project's caches nor leaves anything in them for the
// project's next build.
func cacheOf(p *apogee.Project, d *apogee.Deployment) string {
	if d.ForkRepo != "" {
		return "fork-" + d.ID
	}
	return p.ID
}

// recordCache measures the project's dependency cache (package
// manager stores and the saved node_modules) and records it: it counts
// against the owner's storage.
func (b *Builder) recordCache(ctx context.Context, p *apogee.Project, c *cache, w *logs.Writer) {
	n, err := dirBytes(c.dir)
	if err != nil {
		b.log.Warn("measure dependency cache", "project", p.ID, "err", err)
		return
	}
	if err := b.cfg.Store.SetCacheBytes(ctx, p.ID, n); err != nil {
		b.log.Warn("record dependency cache size", "project", p.ID, "err", err)
		return
	}
	w.Systemf("Dependency cache: %s", apogee.FormatBytes(n))
}

// dirBytes sums the sizes of the files under dir, following no link.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if de.Type().IsRegular() {
			fi, err := de.Info()
			if err != nil {
				return nil // removed meanwhile
			}
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

// Caps on what the server reads from a workspace.
const (
	// maxConfigRead bounds any one file framework detection reads
	// (package.json, lockfile heads, configuration files); it reads less
	// of most.
	maxConfigRead = 16 << 20
	// maxLockfile bounds the lockfile hashed for the dependency cache's
	// key (streamed, not held); a larger one builds without the cache.
	maxLockfile = 256 << 20
)

// cache is a project's dependency cache: package manager stores (mounted
// at /cache) and the node_modules of the last successful build, kept
// under the hash of the lockfile it was installed from.
//
// node_modules is moved between the cache and the workspace through
// descriptors of folders opened without following links (safefs), so a
// build that turns the project's folder or node_modules into a link
// cannot make the server move a folder of its choosing.
type cache struct {
	dir    string // <Dir>/cache/<project>
	pkgDir string // mounted at /cache: npm, yarn, pnpm stores
	key    string // sha256 of the lockfile; "" without one
}

// openCache opens project's cache, keyed by the hash of the lockfile in
// the project's folder rootDir of the workspace. A lockfile that is a
// link, no regular file or larger than maxLockfile gets no key: the
// build runs without the node_modules cache, and says why.
//
// flavor tells node_modules installed differently from the same lockfile
// apart ("prod": without devDependencies).
func (b *Builder) openCache(ctx context.Context, projectID string, ws *safefs.Dir, rootDir, lockfile, flavor string, w *logs.Writer) (*cache, error) {
	c := &cache{dir: filepath.Join(b.cfg.Dir, "cache", projectID)}
	c.pkgDir = filepath.Join(c.dir, "pkg")
	if err := os.MkdirAll(c.pkgDir, 0o755); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	if lockfile == "" {
		return c, nil
	}
	name := path.Join(rootDir, lockfile)
	f, err := ws.Open(name)
	if err != nil {
		if safefs.IsUnsafe(err) {
			w.Systemf("Not using the dependency cache: %s %s", lockfile, safefs.Reason(err))
		}
		return c, nil
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, safefs.Limit(ctx, f, name, maxLockfile)); err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		w.Systemf("Not using the dependency cache: %s %s", lockfile, safefs.Reason(err))
		return c, nil
	}
	c.key = hex.EncodeToString(h.Sum(nil))
	if flavor != "" {
		c.key += "-" + flavor
	}
	return c, nil
}

func (c *cache) modules() string { return filepath.Join(c.dir, "node_modules-"+c.key) }

// restore moves the cached node_modules into the project's folder rootDir
// of the workspace if it was installed from the same lockfile.
func (c *cache) restore(ws *safefs.Dir, rootDir string) bool {
	if c.key == "" {
		return false
	}
	pd, err := ws.OpenDir(rootDir)
	if err != nil {
		return false
	}
	defer pd.Close()
	if _, err := pd.Lstat("node_modules"); !errors.Is(err, fs.ErrNotExist) {
		return false // the repository ships its own
	}
	if _, err := os.Lstat(c.modules()); err != nil {
		return false
	}
	return moveIn(c.modules(), pd) == nil
}

// save keeps the project's node_modules for the next build with the same
// lockfile, replacing older ones. The build has ended: its folder and
// node_modules are opened without following links, so one it turned into
// a link is not saved.
func (c *cache) save(ws *safefs.Dir, rootDir string) error {
	if c.key == "" {
		return nil
	}
	pd, err := ws.OpenDir(rootDir)
	if err != nil {
		return err
	}
	defer pd.Close()
	fi, err := pd.Lstat("node_modules")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("node_modules is not a folder (%s)", fi.Mode().Type())
	}
	old, _ := filepath.Glob(filepath.Join(c.dir, "node_modules-*"))
	for _, o := range old {
		os.RemoveAll(o)
	}
	return moveOut(pd, c.modules())
}

// moveIn moves the server's folder src to node_modules in dst.
func moveIn(src string, dst *safefs.Dir) error { return moveInAs(src, dst, "node_modules") }

// moveInAs moves the server's folder src to name in dst.
func moveInAs(src string, dst *safefs.Dir, name string) error {
	err := unix.Renameat(unix.AT_FDCWD, src, dst.Fd(), name)
	if err != unix.EXDEV {
		return err
	}
	// The workspace is on a disk of its own: copy, then remove.
	if err := copyTree(src, "/proc/self/fd/3/"+name, dst); err != nil {
		os.RemoveAll(fdPath(dst, name))
		return err
	}
	return os.RemoveAll(src)
}

// moveOut moves node_modules of src to the server's path dst.
func moveOut(src *safefs.Dir, dst string) error { return moveOutAs(src, "node_modules", dst) }

// moveOutAs moves name of src to the server's path dst.
func moveOutAs(src *safefs.Dir, name, dst string) error {
	err := unix.Renameat(src.Fd(), name, unix.AT_FDCWD, dst)
	if err != unix.EXDEV {
		return err
	}
	if err := copyTree("/proc/self/fd/3/"+name, dst, src); err != nil {
		os.RemoveAll(dst)
		return err
	}
	return os.RemoveAll(fdPath(src, name))
}

// fdPath names name in d through this process's descriptor of d.
func fdPath(d *safefs.Dir, name string) string {
	return filepath.Join("/proc/self/fd", fmt.Sprint(d.Fd()), name)
}

// copyTree copies a folder with cp -a (links copied as links, never
// followed), giving cp the workspace folder ws as its descriptor 3, so
// that paths under /proc/self/fd/3 name it whatever became of its path.
func copyTree(src, dst string, ws *safefs.Dir) error {
	fd, err := unix.Dup(ws.Fd())
	if err != nil {
		return fmt.Errorf("copying %s: %w", filepath.Base(src), err)
	}
	dir := os.NewFile(uintptr(fd), ws.Name())
	defer dir.Close()
	cp := exec.Command("cp", "-a", "--no-target-directory", "--", src, dst)
	cp.Env = []string{"PATH=/usr/bin:/bin"}
	cp.ExtraFiles = []*os.File{dir}
	if out, err := cp.CombinedOutput(); err != nil {
		return fmt.Errorf("copying %s: %w: %s", filepath.Base(src), err, strings.TrimSpace(string(out)))
	}
	return nil
}
