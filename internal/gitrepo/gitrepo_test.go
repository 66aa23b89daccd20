package gitrepo_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/gitrepo"
	"github.com/apogee-dev/apogee/internal/testbed"
)

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Dev", "-c", "user.email=dev@example.com"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit makes a commit on branch in work and returns it.
func commit(t *testing.T, work, branch, body string) string {
	t.Helper()
	run(t, work, "checkout", "-q", "-B", branch)
	os.WriteFile(filepath.Join(work, "f"), []byte(body), 0o644)
	run(t, work, "add", ".")
	run(t, work, "commit", "-q", "-m", body)
	return run(t, work, "rev-parse", "HEAD")
}

// pushFrom is a receive that fetches branch from work into the copy, as
// git receive-pack would take a push.
func pushFrom(work, branch string) func(ctx context.Context, dir string) error {
	return func(ctx context.Context, dir string) error {
		cmd := exec.CommandContext(ctx, "git", "--git-dir", dir, "fetch", "-q", work, "+refs/heads/"+branch+":refs/heads/"+branch)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
}

// failingStore fails SaveGitRepo when fail is set.
type failingStore struct {
	apogee.GitRepoStore
	fail bool
}

func (f *failingStore) SaveGitRepo(ctx context.Context, r *apogee.GitRepo, holder string) error {
	if f.fail {
		return errors.New("the database is away")
	}
	return f.GitRepoStore.SaveGitRepo(ctx, r, holder)
}

// TestTwoNodes: two nodes' Repos over one store (SQLite and PostgreSQL)
// and one blob folder. What one takes, the other serves; pushes to both
// at once are all kept; after CompactAfter bundles a push stores the
// whole repository; a push that cannot be stored is undone.
func TestTwoNodes(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			dir := t.TempDir()
			st := testbed.Store(t, dir)
			var store apogee.Store = st
			if db == "postgres" {
				store = testbed.PostgresStore(t)
			}
			bl := testbed.Blobs(t, dir)
			ctx := t.Context()
			u := &apogee.User{ID: apogee.NewID(), Email: "a@example.com", CreatedAt: time.Now()}
			if err := store.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			p := &apogee.Project{ID: apogee.NewID(), Name: "web", OwnerID: u.ID, CreatedAt: time.Now()}
			if err := store.CreateProject(ctx, p); err != nil {
				t.Fatal(err)
			}
			fs := &failingStore{GitRepoStore: store}
			node := func(name string) *gitrepo.Repos {
				r, err := gitrepo.New(gitrepo.Config{Root: filepath.Join(dir, name), Store: fs, Blobs: bl, Node: name,
					CompactAfter: 4, Log: testbed.Quiet})
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			a, b := node("a"), node("b")
			work := t.TempDir()
			run(t, work, "init", "-q", "-b", "main")
			one := commit(t, work, "main", "one")
			if err := a.Push(ctx, p.ID, pushFrom(work, "main")); err != nil {
				t.Fatal(err)
			}
			bdir, exists, err := b.Sync(ctx, p.ID)
			if err != nil || !exists {
				t.Fatalf("Sync on b: %v, exists %v", err, exists)
			}
			if got := run(t, bdir, "rev-parse", "refs/heads/main"); got != one {
				t.Fatalf("b's copy has main at %s, want %s", got, one)
			}

			// At once, to both nodes, a branch each.
			var wg sync.WaitGroup
			want := map[string]string{"main": one}
			for i := range 6 {
				branch := fmt.Sprintf("b%d", i)
				w := t.TempDir()
				run(t, w, "clone", "-q", work, ".")
				want[branch] = commit(t, w, branch, branch)
				n := a
				if i%2 == 1 {
					n = b
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := n.Push(ctx, p.ID, pushFrom(w, branch)); err != nil {
						t.Errorf("push %s: %v", branch, err)
					}
				}()
			}
			wg.Wait()
			rec, err := store.GitRepo(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Version != 7 {
				t.Errorf("version %d after 7 pushes", rec.Version)
			}
			if len(rec.Bundles) > 4 {
				t.Errorf("%d bundles, more than CompactAfter (4)", len(rec.Bundles))
			}
			// A third node starts from nothing.
			for _, n := range []*gitrepo.Repos{a, b, node("c")} {
				d, _, err := n.Sync(ctx, p.ID)
				if err != nil {
					t.Fatal(err)
				}
				for branch, sha := range want {
					if got := run(t, d, "rev-parse", "refs/heads/"+branch); got != sha {
						t.Errorf("%s has %s at %s, want %s", d, branch, got, sha)
					}
				}
				run(t, d, "fsck", "--no-progress")
			}

			// A push that cannot be stored fails and is undone.
			fs.fail = true
			two := commit(t, work, "main", "two")
			if err := b.Push(ctx, p.ID, pushFrom(work, "main")); err == nil {
				t.Fatal("a push that could not be stored succeeded")
			}
			if got := run(t, b.Dir(p.ID), "rev-parse", "refs/heads/main"); got != one {
				t.Errorf("after a failed push b's main is %s, want %s", got, one)
			}
			fs.fail = false
			if err := b.Push(ctx, p.ID, pushFrom(work, "main")); err != nil {
				t.Fatal(err)
			}
			d, _, err := a.Sync(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got := run(t, d, "rev-parse", "refs/heads/main"); got != two {
				t.Errorf("a's main is %s after b took %s", got, two)
			}
		})
	}
}

// TestPrune: a node deletes its copies of deleted projects' repositories
// and, after they went unused for the idle time, the copies the store can
// give back (synced again on the next use); it keeps a copy in use, a
// recent one, and a copy with no record in the store, which is the
// repository itself.
func TestPrune(t *testing.T) {
	dir := t.TempDir()
	store := testbed.Store(t, dir)
	bl := testbed.Blobs(t, dir)
	ctx := t.Context()
	u := &apogee.User{ID: apogee.NewID(), Email: "a@example.com", CreatedAt: time.Now()}
	if err := store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	project := func(name string) *apogee.Project {
		p := &apogee.Project{ID: apogee.NewID(), Name: name, OwnerID: u.ID, CreatedAt: time.Now()}
		if err := store.CreateProject(ctx, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stored, deleted, legacy, recent := project("stored"), project("deleted"), project("legacy"), project("recent")
	now := time.Now()
	clock := func() time.Time { return now }
	root := filepath.Join(dir, "git")
	repos, err := gitrepo.New(gitrepo.Config{Root: root, Store: store, Blobs: bl, Node: "a", Log: testbed.Quiet, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	// A copy from before the store held repositories: no record.
	local, err := gitrepo.New(gitrepo.Config{Root: root, Log: testbed.Quiet, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	run(t, work, "init", "-q", "-b", "main")
	head := commit(t, work, "main", "one")
	for _, p := range []*apogee.Project{stored, deleted, recent} {
		if err := repos.Push(ctx, p.ID, pushFrom(work, "main")); err != nil {
			t.Fatal(err)
		}
	}
	if err := local.Push(ctx, legacy.ID, pushFrom(work, "main")); err != nil {
		t.Fatal(err)
	}
	if err := store.DeleteProject(ctx, deleted.ID); err != nil {
		t.Fatal(err)
	}

	exists := func(ctx context.Context, id string) (bool, error) {
		_, err := store.ProjectByID(ctx, id)
		if apogee.ErrorCode(err) == apogee.ENOTFOUND {
			return false, nil
		}
		return err == nil, err
	}
	has := func(p *apogee.Project) bool {
		_, err := os.Stat(repos.Dir(p.ID))
		return err == nil
	}
	// Nothing is idle yet: only the deleted project's copy goes.
	if n, err := repos.Prune(ctx, time.Hour, exists); err != nil || n != 1 {
		t.Fatalf("first Prune = %d, %v; want 1 (the deleted project's copy)", n, err)
	}
	if has(deleted) || !has(stored) || !has(legacy) || !has(recent) {
		t.Fatalf("after the first Prune: deleted %v stored %v legacy %v recent %v", has(deleted), has(stored), has(legacy), has(recent))
	}

	// Two hours on, recent is used; stored is idle and goes; legacy stays.
	now = now.Add(2 * time.Hour)
	if _, ok, err := repos.Sync(ctx, recent.ID); err != nil || !ok {
		t.Fatalf("Sync recent: %v, %v", ok, err)
	}
	if n, err := repos.Prune(ctx, time.Hour, exists); err != nil || n != 1 {
		t.Fatalf("second Prune = %d, %v; want 1 (the idle stored copy)", n, err)
	}
	if has(stored) || !has(legacy) || !has(recent) {
		t.Fatalf("after the second Prune: stored %v legacy %v recent %v", has(stored), has(legacy), has(recent))
	}
	// The pruned copy comes back from the store when it is used.
	d, ok, err := repos.Sync(ctx, stored.ID)
	if err != nil || !ok {
		t.Fatalf("Sync after prune: %v, %v", ok, err)
	}
	if got := run(t, d, "rev-parse", "refs/heads/main"); got != head {
		t.Fatalf("the copy synced again has main at %s, want %s", got, head)
	}
	// A project whose existence cannot be told keeps its copy, and says so.
	boom := errors.New("the database is away")
	if _, err := repos.Prune(ctx, time.Hour, func(context.Context, string) (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Fatalf("Prune with a failing exists = %v, want it wrapped", err)
	}
	if !has(stored) || !has(legacy) || !has(recent) {
		t.Fatal("a failed Prune deleted a copy")
	}
}
