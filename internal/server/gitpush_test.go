package server

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/events/natstest"
)

// git runs git in dir and returns its trimmed output.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := gitErr(dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func gitErr(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-c", "user.name=Dev", "-c", "user.email=dev@example.com"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestTwoServersGitPush: a repository pushed to one server is built by
// the other's builder and served by both; a clone from the other server
// has it, a push to the other server is fetched from the first, and
// pushes to both at once are all kept (issue 16: nothing on one node's
// disk). A has no builder; B builds; each has its own data folder.
func TestTwoServersGitPush(t *testing.T) {
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Fatal("bwrap is missing: apt-get install bubblewrap")
	}
	ns := natstest.Start(t)
	_, b, addrA, addrB := twoServersWith(t, ns, Config{}, Config{BuildWorkers: 1, Sandbox: "bwrap"})
	ctx := t.Context()
	token := userToken(t, b.Store(), "dev@example.com", "password", false)
	c := client.New(addrA, token, client.WithTimeout(time.Minute))
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	remote := func(addr string) string {
		return strings.Replace(addr, "http://", "http://x:"+token+"@", 1) + "/git/web.git"
	}

	// Push to A (which cannot build): B's builder builds it from the
	// store, and A's edge serves it.
	work := t.TempDir()
	git(t, work, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(work, "index.html"), []byte("one"), 0o644)
	git(t, work, "add", ".")
	git(t, work, "commit", "-q", "-m", "one")
	git(t, work, "push", "-q", remote(addrA), "main")
	one := git(t, work, "rev-parse", "HEAD")
	d := lastBuild(t, c, "web", one)
	if d.Status != apogee.StatusReady {
		t.Fatalf("the build of the push to A is %s: %s", d.Status, d.Error)
	}
	waitFor(t, addrA, "web.localhost", "one")
	waitFor(t, addrB, "web.localhost", "one")

	// Clone from B: the same commit.
	clone := filepath.Join(t.TempDir(), "clone")
	git(t, t.TempDir(), "clone", "-q", remote(addrB), clone)
	if got := git(t, clone, "rev-parse", "HEAD"); got != one {
		t.Fatalf("a clone from B is at %s, want %s", got, one)
	}
	// Push the next commit to B; A serves it to a fetch.
	os.WriteFile(filepath.Join(clone, "index.html"), []byte("two"), 0o644)
	git(t, clone, "commit", "-q", "-am", "two")
	git(t, clone, "push", "-q", "origin", "main")
	two := git(t, clone, "rev-parse", "HEAD")
	git(t, work, "pull", "-q", remote(addrA), "main")
	if got := git(t, work, "rev-parse", "HEAD"); got != two {
		t.Fatalf("after a pull from A the work tree is at %s, want %s (pushed to B)", got, two)
	}
	if d := lastBuild(t, c, "web", two); d.Status != apogee.StatusReady {
		t.Fatalf("the build of the push to B is %s: %s", d.Status, d.Error)
	}
	waitFor(t, addrA, "web.localhost", "two")

	// Pushes to both servers at once, each to a branch of its own: every
	// one is acknowledged and kept (they wait for each other's lease).
	// A push answers once its build ended: B builds two at once.
	const each = 3
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	want := map[string]string{}
	var mu sync.Mutex
	for i := range 2 * each {
		addr := addrA
		if i%2 == 1 {
			addr = addrB
		}
		dir := filepath.Join(t.TempDir(), "w")
		git(t, t.TempDir(), "clone", "-q", remote(addrA), dir)
		branch := fmt.Sprintf("b%d", i)
		git(t, dir, "checkout", "-q", "-b", branch)
		os.WriteFile(filepath.Join(dir, "index.html"), []byte(branch), 0o644)
		git(t, dir, "commit", "-q", "-am", branch)
		mu.Lock()
		want["refs/heads/"+branch] = git(t, dir, "rev-parse", "HEAD")
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := gitErr(dir, "push", "-q", remote(addr), branch); err != nil {
				errs <- fmt.Errorf("push %s to %s: %v\n%s", branch, addr, err, out)
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	t.Logf("%d concurrent pushes (each followed its build) took %s", 2*each, time.Since(start).Round(time.Millisecond))
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want["refs/heads/main"] = two
	for _, addr := range []string{addrA, addrB} {
		got := map[string]string{}
		for _, line := range strings.Split(git(t, work, "ls-remote", "--heads", remote(addr)), "\n") {
			sha, ref, _ := strings.Cut(line, "\t")
			got[ref] = sha
		}
		for ref, sha := range want {
			if got[ref] != sha {
				t.Errorf("%s has %s at %q, want %s (every acknowledged push kept)", addr, ref, got[ref], sha)
			}
		}
	}
	rec, err := b.Store().GitRepo(ctx, lastBuild(t, c, "web", two).ProjectID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("repository record: version %d, %d bundles", rec.Version, len(rec.Bundles))
	if rec.Version != 2+2*each {
		t.Errorf("the record's version is %d after %d pushes", rec.Version, 2+2*each)
	}
}

// lastBuild waits for the build of commit in project and follows it to
// its end.
func lastBuild(t *testing.T, c *client.Client, project, commit string) *apogee.DeploymentView {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, err := c.ListDeployments(t.Context(), project, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.Commit == commit && d.Branch == "main" {
				got, log := followBuild(t, c, d.ID)
				if got.Status != apogee.StatusReady {
					t.Logf("build log:\n%s", log)
				}
				return got
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no build of %s within 20 s", commit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
