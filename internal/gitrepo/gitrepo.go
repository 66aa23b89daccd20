// Package gitrepo keeps the repositories pushed to the platform with
// `git push` off any one node's disk (issue 16). The truth of a
// repository is its record in the store (apogee.GitRepo: its refs and a
// version) and a chain of git bundles in the blob store; each node keeps
// a bare copy under its data folder (<data>/git/<project id>.git) as a
// cache, brought up to date from the record before it serves a push or a
// fetch or builds.
//
// A push takes the repository's lease in the store (waiting while another
// node holds it, so pushes to one repository are serialized across
// nodes), brings the local copy up to date, lets git receive the push,
// and then stores a bundle of what the push added (objects reachable from
// the new refs and not from the old ones) in the blob store and the new
// refs in the record, compared and set on the version. Only then is the
// push acknowledged: a push whose bundle or record could not be stored is
// refused to the pusher and undone locally, so no acknowledged push is
// lost. After every CompactAfter bundles a push stores one bundle of the
// whole repository instead of another increment.
//
// Without a Store (tests, a single node's tools) the local copy is the
// repository, as it was before the store held them.
package gitrepo

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apogee-dev/apogee"
)

// Config is what Repos needs. Root is required; Store and Blobs go
// together.
type Config struct {
	// Root holds the node's copies (<data>/git).
	Root string
	// Store keeps the records; nil: the local copies are the
	// repositories.
	Store apogee.GitRepoStore
	Blobs apogee.Blobs
	// Node names this process as a lease holder (host and data folder).
	Node string
	// Git is the git binary (default "git" on $PATH).
	Git string
	// LeaseTTL is how long a push's lease lasts unless renewed (default
	// 1 min; renewed every third of it while the push runs).
	LeaseTTL time.Duration
	// LeaseWait bounds the wait for another node's push (default 5 min).
	LeaseWait time.Duration
	// CompactAfter is how many bundles a repository may have before a
	// push stores the whole repository as one (default 16).
	CompactAfter int
	Log          *slog.Logger
	Now          func() time.Time
}

// Repos is the node's view of the pushed repositories. Safe for
// concurrent use.
type Repos struct {
	cfg    Config
	log    *slog.Logger
	holder string

	mu    sync.Mutex
	locks map[string]*sync.Mutex // per repository, in this process
}

// New returns Repos; it checks that git can be found and makes Root.
func New(cfg Config) (*Repos, error) {
	if cfg.Root == "" {
		return nil, errors.New("gitrepo: Root is required")
	}
	if (cfg.Store == nil) != (cfg.Blobs == nil) {
		return nil, errors.New("gitrepo: Store and Blobs go together")
	}
	if cfg.Git == "" {
		cfg.Git = "git"
	}
	git, err := exec.LookPath(cfg.Git)
	if err != nil {
		return nil, fmt.Errorf("gitrepo: pushed repositories need the git binary: %w", err)
	}
	cfg.Git = git
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = time.Minute
	}
	if cfg.LeaseWait <= 0 {
		cfg.LeaseWait = 5 * time.Minute
	}
	if cfg.CompactAfter <= 0 {
		cfg.CompactAfter = 16
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("gitrepo: root: %w", err)
	}
	cfg.Root = root
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, fmt.Errorf("gitrepo: %w", err)
	}
	// A restarted process is another holder: its predecessor's lease
	// lapses on its own.
	var b [6]byte
	_, _ = rand.Read(b[:])
	node := cfg.Node
	if node == "" {
		node, _ = os.Hostname()
	}
	return &Repos{cfg: cfg, log: cfg.Log, holder: node + "/" + hex.EncodeToString(b[:]), locks: map[string]*sync.Mutex{}}, nil
}

// Root is the folder of the node's copies.
func (r *Repos) Root() string { return r.cfg.Root }

// Dir is the node's copy of project id's repository.
func (r *Repos) Dir(projectID string) string {
	return filepath.Join(r.cfg.Root, projectID+".git")
}

// URL is the file:// URL of the node's copy: what a project that adopts
// the platform's repository records as its Git URL.
func (r *Repos) URL(projectID string) string {
	return "file://" + filepath.ToSlash(r.Dir(projectID))
}

// IsPlatform reports whether url names project id's pushed repository,
// as recorded by whichever node took its first push (data folders differ
// between nodes; the project id does not).
func IsPlatform(url, projectID string) bool {
	return projectID != "" && strings.HasPrefix(url, "file://") && strings.HasSuffix(url, "/"+projectID+".git")
}

func (r *Repos) lock(id string) *sync.Mutex {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.locks[id]
	if l == nil {
		l = &sync.Mutex{}
		r.locks[id] = l
	}
	return l
}

// Sync brings the node's copy of project id's repository up to date and
// returns its folder; exists is false when there is no repository (never
// pushed).
func (r *Repos) Sync(ctx context.Context, projectID string) (dir string, exists bool, err error) {
	l := r.lock(projectID)
	l.Lock()
	defer l.Unlock()
	dir = r.Dir(projectID)
	if r.cfg.Store != nil {
		rec, err := r.cfg.Store.GitRepo(ctx, projectID)
		switch {
		case apogee.ErrorCode(err) == apogee.ENOTFOUND:
			// Never pushed through the store: a copy made before it is
			// the repository (one node).
		case err != nil:
			return "", false, fmt.Errorf("gitrepo: read the record of %s: %w", projectID, err)
		default:
			if err := r.sync(ctx, dir, rec); err != nil {
				return "", false, err
			}
		}
	}
	_, err = os.Stat(filepath.Join(dir, "HEAD"))
	if err == nil {
		touch(dir, r.cfg.Now())
	}
	return dir, err == nil, nil
}

// touch marks the copy at dir as used at now (its folder's modification
// time): Prune keeps copies in use.
func touch(dir string, now time.Time) {
	_ = os.Chtimes(dir, now, now)
}

// Prune deletes the node's copies that are only a cache and are not
// needed: those of projects that no longer exist (exists reports false),
// and, with a Store, those whose repository is recorded in it and that
// went unused for idle (a later Sync brings the copy back from the
// store). A copy with no record (pushed before the store held
// repositories) is the repository itself and is kept while its project
// exists. A copy in use in this process is skipped. It returns how many
// copies it deleted.
func (r *Repos) Prune(ctx context.Context, idle time.Duration, exists func(ctx context.Context, projectID string) (bool, error)) (int, error) {
	entries, err := os.ReadDir(r.cfg.Root)
	if err != nil {
		return 0, fmt.Errorf("gitrepo: list copies: %w", err)
	}
	n := 0
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".git")
		if !ok || !e.IsDir() || id == "" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
		pruned, err := r.prune(ctx, id, idle, exists)
		if err != nil {
			return n, err
		}
		if pruned {
			n++
		}
	}
	return n, nil
}

// prune deletes project id's copy when Prune would.
func (r *Repos) prune(ctx context.Context, id string, idle time.Duration, exists func(ctx context.Context, projectID string) (bool, error)) (bool, error) {
	l := r.lock(id)
	if !l.TryLock() {
		return false, nil // in use now
	}
	defer l.Unlock()
	dir := r.Dir(id)
	live, err := exists(ctx, id)
	if err != nil {
		return false, fmt.Errorf("gitrepo: does project %s exist: %w", id, err)
	}
	if live {
		if r.cfg.Store == nil {
			return false, nil
		}
		info, err := os.Stat(dir)
		if err != nil || r.cfg.Now().Sub(info.ModTime()) < idle {
			return false, nil
		}
		switch _, err := r.cfg.Store.GitRepo(ctx, id); {
		case apogee.ErrorCode(err) == apogee.ENOTFOUND:
			return false, nil // the copy is the repository
		case err != nil:
			return false, fmt.Errorf("gitrepo: read the record of %s: %w", id, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return false, fmt.Errorf("gitrepo: delete the copy of %s: %w", id, err)
	}
	r.log.Info("git: deleted a cached repository copy", "project_id", id, "project_exists", live)
	return true, nil
}

// Open is Sync that makes the repository when there is none yet (an
// empty one, as git's advertisement to a first push needs).
func (r *Repos) Open(ctx context.Context, projectID string) (string, error) {
	dir, exists, err := r.Sync(ctx, projectID)
	if err != nil || exists {
		return dir, err
	}
	l := r.lock(projectID)
	l.Lock()
	defer l.Unlock()
	return dir, r.initRepo(ctx, dir)
}

// Push runs receive (git receiving a push into dir) with the repository
// leased to this node and its copy up to date, then stores what the push
// changed. An error from receive is returned as it is; any other error
// means the push was not stored and has been undone in the local copy:
// the pusher must be told it failed.
func (r *Repos) Push(ctx context.Context, projectID string, receive func(ctx context.Context, dir string) error) error {
	l := r.lock(projectID)
	l.Lock()
	defer l.Unlock()
	dir := r.Dir(projectID)
	if r.cfg.Store == nil {
		if err := r.initRepo(ctx, dir); err != nil {
			return err
		}
		return receive(ctx, dir)
	}
	rec, err := r.lease(ctx, projectID)
	if err != nil {
		return err
	}
	stop := r.renew(ctx, projectID)
	defer func() {
		stop()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := r.cfg.Store.ReleaseGitRepo(rctx, projectID, r.holder); err != nil {
			r.log.Warn("git: release the repository's lease (it lapses on its own)", "project_id", projectID, "err", err)
		}
	}()
	if err := r.initRepo(ctx, dir); err != nil {
		return err
	}
	if err := r.sync(ctx, dir, rec); err != nil {
		return err
	}
	before, err := r.refs(ctx, dir)
	if err != nil {
		return err
	}
	if err := receive(ctx, dir); err != nil {
		r.undo(dir, before)
		return err
	}
	// The push is in the local copy; it counts once it is stored.
	sctx := context.WithoutCancel(ctx)
	if err := r.store(sctx, dir, rec); err != nil {
		r.undo(dir, before)
		return fmt.Errorf("gitrepo: store the push to %s: %w", projectID, err)
	}
	touch(dir, r.cfg.Now())
	return nil
}

// lease takes the repository's lease, waiting while another node holds
// it, and returns the record.
func (r *Repos) lease(ctx context.Context, projectID string) (*apogee.GitRepo, error) {
	deadline := r.cfg.Now().Add(r.cfg.LeaseWait)
	wait := 50 * time.Millisecond
	for {
		now := r.cfg.Now()
		rec, err := r.cfg.Store.LeaseGitRepo(ctx, projectID, r.holder, now.Add(r.cfg.LeaseTTL), now)
		if err == nil {
			return rec, nil
		}
		if apogee.ErrorCode(err) != apogee.ECONFLICT {
			return nil, fmt.Errorf("gitrepo: lease the repository of %s: %w", projectID, err)
		}
		if now.After(deadline) {
			return nil, apogee.Errorf(apogee.ECONFLICT, "another push to this project has held its repository for over %s: push again later", r.cfg.LeaseWait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, time.Second)
	}
}

// renew keeps the lease while a push runs; the returned func stops it.
func (r *Repos) renew(ctx context.Context, projectID string) func() {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(r.cfg.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				now := r.cfg.Now()
				if _, err := r.cfg.Store.LeaseGitRepo(ctx, projectID, r.holder, now.Add(r.cfg.LeaseTTL), now); err != nil && ctx.Err() == nil {
					r.log.Warn("git: renew the repository's lease", "project_id", projectID, "err", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// state is what the node's copy holds of the record: its version and
// the bundles applied to it. It is kept in the copy's folder.
type state struct {
	Version int64    `json:"version"`
	Applied []string `json:"applied"`
}

const stateFile = "apogee-state.json"

func readState(dir string) state {
	var st state
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err == nil {
		_ = json.Unmarshal(b, &st)
	}
	return st
}

func writeState(dir string, st state) error {
	b, _ := json.Marshal(st)
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return fmt.Errorf("gitrepo: write state: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, stateFile))
}

// sync brings the copy at dir to rec: the bundles it lacks, then the refs
// exactly as recorded. The caller holds the repository's local lock.
func (r *Repos) sync(ctx context.Context, dir string, rec *apogee.GitRepo) error {
	st := readState(dir)
	if rec.Version == 0 || rec.Version == st.Version {
		return nil
	}
	if err := r.initRepo(ctx, dir); err != nil {
		return err
	}
	start := r.cfg.Now()
	refs := parseRefs(rec.Refs)
	fetched := 0
	if !r.hasAll(ctx, dir, refs) {
		for _, h := range rec.Bundles {
			if slices.Contains(st.Applied, h) {
				continue
			}
			if err := r.unbundle(ctx, dir, h); err != nil {
				return err
			}
			st.Applied = append(st.Applied, h)
			fetched++
		}
	} else {
		// Every object is here already (this node made the bundles, or
		// a compaction repeats what was applied).
		for _, h := range rec.Bundles {
			if !slices.Contains(st.Applied, h) {
				st.Applied = append(st.Applied, h)
			}
		}
	}
	if err := r.setRefs(ctx, dir, refs); err != nil {
		return err
	}
	st.Version = rec.Version
	st.Applied = keep(st.Applied, rec.Bundles)
	if err := writeState(dir, st); err != nil {
		return err
	}
	r.log.Info("git: repository brought up to date from the store", "project_id", rec.ProjectID, "version", rec.Version,
		"bundles_fetched", fetched, "took", r.cfg.Now().Sub(start).Round(time.Millisecond))
	return nil
}

// keep returns those of applied that are in bundles.
func keep(applied, bundles []string) []string {
	out := applied[:0]
	for _, h := range applied {
		if slices.Contains(bundles, h) {
			out = append(out, h)
		}
	}
	return out
}

// store saves what the push changed: a bundle of the new objects (or of
// all of them, when compacting) in the blob store, then the record.
func (r *Repos) store(ctx context.Context, dir string, rec *apogee.GitRepo) error {
	refs, err := r.refs(ctx, dir)
	if err != nil {
		return err
	}
	text := formatRefs(refs)
	if text == rec.Refs && rec.Version > 0 {
		return nil // nothing moved (a refused push)
	}
	bundles := slices.Clone(rec.Bundles)
	if len(refs) > 0 {
		var prev []string
		full := len(bundles)+1 > r.cfg.CompactAfter
		if !full {
			for _, sha := range parseRefs(rec.Refs) {
				prev = append(prev, sha)
			}
		}
		h, err := r.bundle(ctx, dir, refs, prev)
		if err != nil {
			return err
		}
		switch {
		case h == "":
		case full:
			bundles = []string{h}
		default:
			bundles = append(bundles, h)
		}
	}
	next := &apogee.GitRepo{ProjectID: rec.ProjectID, Version: rec.Version + 1, Refs: text, Bundles: bundles, UpdatedAt: r.cfg.Now()}
	if err := r.cfg.Store.SaveGitRepo(ctx, next, r.holder); err != nil {
		return err
	}
	st := readState(dir)
	st.Version = next.Version
	for _, h := range bundles {
		if !slices.Contains(st.Applied, h) {
			st.Applied = append(st.Applied, h)
		}
	}
	st.Applied = keep(st.Applied, bundles)
	return writeState(dir, st)
}

// undo sets the copy's refs back to before, as they were when the push
// began, after a push that was not stored (its objects stay,
// unreferenced).
func (r *Repos) undo(dir string, before map[string]string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.setRefs(ctx, dir, before); err != nil {
		r.log.Error("git: undo a push that was not stored", "dir", dir, "err", err)
	}
}

// bundle writes a bundle of the objects reachable from refs and not from
// prev into the blob store and returns its hash; "" when there is no new
// object (a branch moved to a commit the repository had).
func (r *Repos) bundle(ctx context.Context, dir string, refs map[string]string, prev []string) (string, error) {
	var in bytes.Buffer
	names := make([]string, 0, len(refs))
	for name := range refs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, n := range names {
		in.WriteString(n + "\n")
	}
	for _, p := range prev {
		in.WriteString("^" + p + "\n")
	}
	out, err := r.gitIn(ctx, bytes.NewReader(in.Bytes()), "--git-dir", dir, "rev-list", "--objects", "--max-count=1", "--stdin")
	if err != nil {
		return "", fmt.Errorf("gitrepo: rev-list: %w: %s", err, bytes.TrimSpace(out))
	}
	if len(bytes.TrimSpace(out)) == 0 {
		return "", nil
	}
	f, err := os.CreateTemp(r.cfg.Root, ".bundle-*")
	if err != nil {
		return "", fmt.Errorf("gitrepo: %w", err)
	}
	path := f.Name()
	f.Close()
	defer os.Remove(path)
	if out, err := r.gitIn(ctx, bytes.NewReader(in.Bytes()), "--git-dir", dir, "bundle", "create", "--quiet", path, "--stdin"); err != nil {
		return "", fmt.Errorf("gitrepo: bundle create: %w: %s", err, bytes.TrimSpace(out))
	}
	f, err = os.Open(path)
	if err != nil {
		return "", fmt.Errorf("gitrepo: %w", err)
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return "", fmt.Errorf("gitrepo: hash bundle: %w", err)
	}
	h := hex.EncodeToString(sum.Sum(nil))
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("gitrepo: %w", err)
	}
	if _, err := r.cfg.Blobs.Put(ctx, h, f, 0); err != nil {
		return "", fmt.Errorf("gitrepo: store bundle: %w", err)
	}
	return h, nil
}

// unbundle fetches bundle h from the blob store and adds its objects to
// the copy at dir.
func (r *Repos) unbundle(ctx context.Context, dir, h string) error {
	rc, err := r.cfg.Blobs.Open(ctx, h, 0, -1)
	if err != nil {
		return fmt.Errorf("gitrepo: read bundle %s: %w", h, err)
	}
	defer rc.Close()
	f, err := os.CreateTemp(r.cfg.Root, ".bundle-*")
	if err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = io.Copy(f, rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("gitrepo: read bundle %s: %w", h, err)
	}
	if out, err := r.git(ctx, "--git-dir", dir, "bundle", "unbundle", f.Name()); err != nil {
		return fmt.Errorf("gitrepo: unbundle %s: %w: %s", h, err, bytes.TrimSpace(out))
	}
	return nil
}

// hasAll reports whether every object refs name is in the copy.
func (r *Repos) hasAll(ctx context.Context, dir string, refs map[string]string) bool {
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err != nil {
		return false
	}
	var in bytes.Buffer
	for _, sha := range refs {
		in.WriteString(sha + "\n")
	}
	out, err := r.gitIn(ctx, &in, "--git-dir", dir, "cat-file", "--batch-check")
	return err == nil && !bytes.Contains(out, []byte(" missing"))
}

// refs returns every ref of the copy (not HEAD) by name.
func (r *Repos) refs(ctx context.Context, dir string) (map[string]string, error) {
	out, err := r.git(ctx, "--git-dir", dir, "for-each-ref", "--format=%(objectname) %(refname)")
	if err != nil {
		return nil, fmt.Errorf("gitrepo: list refs: %w: %s", err, bytes.TrimSpace(out))
	}
	return parseRefs(string(out)), nil
}

// setRefs makes the copy's refs exactly want, in one transaction.
func (r *Repos) setRefs(ctx context.Context, dir string, want map[string]string) error {
	have, err := r.refs(ctx, dir)
	if err != nil {
		return err
	}
	var in bytes.Buffer
	for name, sha := range want {
		if have[name] != sha {
			fmt.Fprintf(&in, "update %s %s\n", name, sha)
		}
	}
	for name := range have {
		if _, ok := want[name]; !ok {
			fmt.Fprintf(&in, "delete %s\n", name)
		}
	}
	if in.Len() == 0 {
		return nil
	}
	if out, err := r.gitIn(ctx, &in, "--git-dir", dir, "update-ref", "--stdin"); err != nil {
		return fmt.Errorf("gitrepo: set refs: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// parseRefs reads "<sha> <ref>" lines.
func parseRefs(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		sha, name, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && name != "" {
			m[name] = sha
		}
	}
	return m
}

// formatRefs writes refs as "<sha> <ref>" lines sorted by ref.
func formatRefs(refs map[string]string) string {
	names := make([]string, 0, len(refs))
	for n := range refs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(refs[n] + " " + n + "\n")
	}
	return b.String()
}

// initRepo makes the bare repository at dir unless it exists. Force
// pushes are allowed: deployments are immutable, so rewriting a branch
// changes only what the next build builds.
func (r *Repos) initRepo(ctx context.Context, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
		return nil
	}
	steps := [][]string{
		{"init", "--bare", "--quiet", "--initial-branch=main", dir},
		{"--git-dir", dir, "config", "http.receivepack", "true"},
		{"--git-dir", dir, "config", "receive.denyNonFastForwards", "false"},
		{"--git-dir", dir, "config", "receive.denyDeletes", "false"},
		{"--git-dir", dir, "config", "receive.fsckObjects", "true"},
		// The copy is a cache of the store: never pack away objects a
		// bundle not yet applied elsewhere might name.
		{"--git-dir", dir, "config", "gc.auto", "0"},
	}
	for _, args := range steps {
		if out, err := r.git(ctx, args...); err != nil {
			os.RemoveAll(dir)
			return fmt.Errorf("gitrepo: git %s: %w: %s", args[0], err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// Git runs git with the environment of the platform's repositories.
func (r *Repos) git(ctx context.Context, args ...string) ([]byte, error) {
	return r.gitIn(ctx, nil, args...)
}

func (r *Repos) gitIn(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, r.cfg.Git, args...)
	cmd.Env = []string{"GIT_CONFIG_NOSYSTEM=1", "HOME=" + r.cfg.Root, "PATH=" + os.Getenv("PATH")}
	cmd.Stdin = stdin
	return cmd.CombinedOutput()
}
