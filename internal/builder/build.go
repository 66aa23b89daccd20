package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/framework"
	"github.com/apogee-dev/apogee/internal/logs"
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
	if err == nil && b.cfg.Env != nil {
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
	if err == nil {
		var stop func() bool
		if stop, err = b.budget(ctx, cancel, w, p); err == nil {
			files, app, err = b.run(ctx, w, p, d, vars)
			stop()
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
			b.appendLine(bg, d.ID, last, "Ready: %s", b.cfg.SiteURL(ready.Host))
			b.cfg.Hub.End(d.ID)
			log.Info("build ready", "files", len(files), "app", app != nil)
			return
		}
		err = ferr
		w = logs.NewWriter(d.ID, b.cfg.Store, b.cfg.Hub, logs.Options{After: last, Log: log})
	} else {
		cancel(nil)
		<-hbDone
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

// appendLine adds one system line to a log whose writer is closed.
func (b *Builder) appendLine(ctx context.Context, id string, after int64, format string, args ...any) {
	w := logs.NewWriter(id, b.cfg.Store, b.cfg.Hub, logs.Options{After: after, Log: b.log})
	w.Systemf(format, args...)
	_ = w.Close(ctx)
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
	if commit != "" {
		w.Systemf("Commit %s", commit)
	}

	overrides := framework.Overrides(p.Settings.Build)
	root, err := os.OpenRoot(src)
	if err != nil {
		return nil, nil, fmt.Errorf("open checkout: %w", err)
	}
	defer root.Close()
	fsys, err := overrides.Sub(root.FS())
	if err != nil {
		return nil, nil, err
	}
	rootDir := "."
	if overrides.RootDir != nil && *overrides.RootDir != "" {
		rootDir = filepath.Clean(*overrides.RootDir)
	}
	ws := workspace{
		dir:     src,
		rootDir: rootDir,
		env:     b.env(vars),
		disk:    disk,
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

	projectDir := filepath.Join(src, rootDir)
	cache, err := b.openCache(p.ID, projectDir, plan.Lockfile, "")
	if err != nil {
		return nil, nil, err
	}
	skipInstall := false
	if d.NoCache {
		w.Systemf("Building without the dependency cache (--no-cache)")
	} else if cache.restore(projectDir) {
		// The lockfile is the same as the cached install's: the install
		// would produce the same node_modules.
		skipInstall = overrides.InstallCommand == nil
		w.Systemf("Restored node_modules from the cache (lockfile unchanged)")
	}

	ws.mounts = []sandbox.Mount{{Source: cache.pkgDir, Target: "/cache", Writable: true}}
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
	}

	files, err := collect(ctx, b.cfg.Blobs, src, filepath.Join(rootDir, filepath.Clean(plan.OutputDir)), w, collectOptions{})
	if err != nil {
		return nil, nil, err
	}
	if err := cache.save(projectDir); err != nil {
		w.Systemf("Could not save the dependency cache: %v", err)
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
		w.Systemf("Release command %s runs once before the release takes traffic", quoteOr(kind.ReleaseCommand, ""))
	}

	projectDir := filepath.Join(ws.dir, ws.rootDir)
	cache, err := b.openCache(p.ID, projectDir, plan.Lockfile, "prod")
	if err != nil {
		return nil, nil, err
	}
	skipInstall := false
	switch {
	case d.NoCache:
		w.Systemf("Building without the dependency cache (--no-cache)")
	case plan.ProdOnly && cache.restore(projectDir):
		skipInstall = overrides.InstallCommand == nil
		w.Systemf("Restored node_modules from the cache (lockfile unchanged)")
	}
	ws.mounts = []sandbox.Mount{{Source: cache.pkgDir, Target: "/cache", Writable: true}}
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
	files, err := collect(ctx, b.cfg.Blobs, ws.dir, ws.rootDir, w, collectOptions{app: true})
	if err != nil {
		return nil, nil, err
	}
	if plan.ProdOnly {
		if err := cache.save(projectDir); err != nil {
			w.Systemf("Could not save the dependency cache: %v", err)
		}
	}
	return files, &apogee.AppBuild{StartCommand: kind.StartCommand, ReleaseCommand: kind.ReleaseCommand}, nil
}

func quoteOr(s, none string) string {
	if s == "" {
		return none
	}
	return "`" + s + "`"
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
	return append(env, vars...)
}

// workspace is where a build's steps run.
type workspace struct {
	dir     string // the checkout, /workspace in the sandbox
	rootDir string // the project's folder in it
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

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// cache is a project's dependency cache: package manager stores (mounted
// at /cache) and the node_modules of the last successful build, kept
// under the hash of the lockfile it was installed from.
type cache struct {
	dir    string // <Dir>/cache/<project>
	pkgDir string // mounted at /cache: npm, yarn, pnpm stores
	key    string // sha256 of the lockfile; "" without one
}

// openCache opens the project's cache; flavor tells node_modules
// installed differently from the same lockfile apart ("prod": without
// devDependencies).
func (b *Builder) openCache(projectID, projectDir, lockfile, flavor string) (*cache, error) {
	c := &cache{dir: filepath.Join(b.cfg.Dir, "cache", projectID)}
	c.pkgDir = filepath.Join(c.dir, "pkg")
	if err := os.MkdirAll(c.pkgDir, 0o755); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	if lockfile != "" {
		f, err := os.ReadFile(filepath.Join(projectDir, lockfile))
		if err == nil {
			sum := sha256.Sum256(f)
			c.key = hex.EncodeToString(sum[:])
			if flavor != "" {
				c.key += "-" + flavor
			}
		}
	}
	return c, nil
}

func (c *cache) modules() string { return filepath.Join(c.dir, "node_modules-"+c.key) }

// restore moves the cached node_modules into the project if it was
// installed from the same lockfile.
func (c *cache) restore(projectDir string) bool {
	if c.key == "" {
		return false
	}
	if _, err := os.Stat(filepath.Join(projectDir, "node_modules")); err == nil {
		return false // the repository ships its own
	}
	return moveDir(c.modules(), filepath.Join(projectDir, "node_modules")) == nil
}

// moveDir renames src to dst, or copies and removes it when they are on
// different file systems (a workspace on its own disk).
func moveDir(src, dst string) error {
	err := os.Rename(src, dst)
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	if _, err := os.Stat(src); err != nil {
		return err
	}
	cp := exec.Command("cp", "-a", "--", src, dst)
	cp.Env = []string{"PATH=/usr/bin:/bin"}
	if out, err := cp.CombinedOutput(); err != nil {
		os.RemoveAll(dst)
		return fmt.Errorf("copying %s: %w: %s", filepath.Base(src), err, strings.TrimSpace(string(out)))
	}
	return os.RemoveAll(src)
}

// save keeps the project's node_modules for the next build with the same
// lockfile, replacing older ones.
func (c *cache) save(projectDir string) error {
	if c.key == "" {
		return nil
	}
	nm := filepath.Join(projectDir, "node_modules")
	if _, err := os.Stat(nm); err != nil {
		return nil
	}
	old, _ := filepath.Glob(filepath.Join(c.dir, "node_modules-*"))
	for _, o := range old {
		os.RemoveAll(o)
	}
	return moveDir(nm, c.modules())
}
