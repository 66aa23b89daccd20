package server

import (
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/events/natstest"
	"github.com/apogee-dev/apogee/internal/sqlstore"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// freeAddr returns a loopback address no one listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// node is an `apogee server` process of TestAppsAcrossNodeProcesses.
type node struct {
	name, addr, nodeAddr, data string
	cmd                        *exec.Cmd
	done                       chan struct{}
}

// TestAppsAcrossNodeProcesses is TestAppsAcrossNodes with real `apogee
// server` processes and a real kill -9: A (api, builder), B (edge), C
// (edge, runtime) and D (runtime) on PostgreSQL, a blob folder and NATS.
// An app of two instances deployed through A runs one on C and one on
// D and is served by B; C is killed with SIGKILL while clients keep
// asking B, and its instance is started on D. The failed requests are
// counted. C is started again on its data folder at the end, which
// kills the instance its killed process left.
func TestAppsAcrossNodeProcesses(t *testing.T) {
	needAppTools(t)
	bin := filepath.Join(t.TempDir(), "apogee")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/apogee").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ns := natstest.Start(t)
	database, blobs := testbed.PostgresURL(t), "file://"+filepath.Join(t.TempDir(), "blobs")
	events := ns.URL() + "?subject=apogee.test." + apogee.NewID()
	nodeDir := testbed.NodeDir(t)
	env := append(os.Environ(), "APOGEE_NODE_SECRET=node-secret-of-this-test-0123456789", "APOGEE_SECRET_KEY="+strings.Repeat("ab", 32))
	logs := t.TempDir()
	start := func(name, data string, args ...string) *node {
		n := &node{name: name, addr: freeAddr(t), nodeAddr: freeAddr(t), data: data, done: make(chan struct{})}
		n.cmd = exec.Command(bin, append([]string{"server", "--data", data, "--listen", n.addr, "--database", database,
			"--blobs", blobs, "--events", events, "--node-listen", n.nodeAddr, "--node-dir", nodeDir, "--log-level", "warn"}, args...)...)
		n.cmd.Env = env
		f, err := os.Create(filepath.Join(logs, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		n.cmd.Stdout, n.cmd.Stderr = f, f
		if err := n.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			n.cmd.Wait()
			f.Close()
			close(n.done)
		}()
		t.Cleanup(func() {
			n.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-n.done:
			case <-time.After(30 * time.Second):
				n.cmd.Process.Kill()
				<-n.done
			}
		})
		waitUntil(t, time.Minute, name+" ready at /readyz", func() bool {
			select {
			case <-n.done:
				b, _ := os.ReadFile(filepath.Join(logs, name+".log"))
				t.Fatalf("%s exited:\n%s", name, b)
			default:
			}
			req, _ := http.NewRequest("GET", "http://"+n.addr+"/readyz", nil)
			req.Host = "localhost"
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return false
			}
			res.Body.Close()
			return res.StatusCode == 200
		})
		return n
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"A", "B", "C", "D", "C again"} {
				if b, err := os.ReadFile(filepath.Join(logs, name+".log")); err == nil {
					t.Logf("%s's log:\n%s", name, b)
				}
			}
		}
	})
	a := start("A", t.TempDir(), "--roles", "api,builder", "--build-workers", "1", "--sandbox", "bwrap")
	b := start("B", t.TempDir(), "--roles", "edge")
	c := start("C", t.TempDir(), "--roles", "edge,runtime", "--app-sandbox", "bwrap")
	start("D", t.TempDir(), "--roles", "runtime", "--app-sandbox", "bwrap")

	ctx := t.Context()
	st, err := sqlstore.Open(ctx, database, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	names := func() map[string]string { // node id → A, B, C or D
		ns, err := st.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, n := range ns {
			switch n.Addr {
			case a.nodeAddr:
				out[n.ID] = "A"
			case b.nodeAddr:
				out[n.ID] = "B"
			case c.nodeAddr:
				out[n.ID] = "C"
			default:
				out[n.ID] = "D"
			}
		}
		return out
	}
	token := userToken(t, st, "dev@example.com", "password", false)
	cl := client.New("http://"+a.addr, token, client.WithTimeout(3*time.Minute))
	if _, err := cl.CreateProject(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.UpdateProjectSettings(ctx, "web", map[string]map[string]any{"app": {"instances": 2}}); err != nil {
		t.Fatal(err)
	}
	dep, log := zipBuild(t, cl, "web", expressApp(t, nil))
	if dep.Status != apogee.StatusReady {
		t.Fatalf("the deploy through A is %s: %s\n%s", dep.Status, dep.Error, log)
	}
	placed := func() map[string][2]int {
		ps, err := st.Placements(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids := names()
		out := map[string][2]int{}
		for _, p := range ps {
			if p.ReleaseID == dep.ID {
				out[ids[p.NodeID]] = [2]int{p.Count, len(p.Ready)}
			}
		}
		return out
	}
	if got := placed(); got["C"] != [2]int{1, 1} || got["D"] != [2]int{1, 1} || len(got) != 2 {
		t.Fatalf("placements after the deploy: %v, want one ready instance on C and one on D", got)
	}
	serves(t, "http://"+b.addr, "web.localhost", "/", "hello from express")

	l := startLoad(4, "http://"+b.addr+"/", "web.localhost", "hello from express")
	ok, failed, firstErr := &l.ok, &l.failed, &l.firstErr
	waitUntil(t, 10*time.Second, "requests served before the kill", func() bool { return ok.Load() >= 50 })
	before := ok.Load()
	killed := time.Now()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-c.done
	waitUntil(t, 30*time.Second, "C's instance placed and ready on D", func() bool {
		got := placed()
		return got["D"] == [2]int{2, 2} && len(got) == 1
	})
	failover := time.Since(killed)
	after := ok.Load()
	waitUntil(t, 10*time.Second, "requests served after the failover", func() bool { return ok.Load() >= after+50 })
	l.stop()
	t.Logf("kill -9 of C: its instance ready on D %s later; requests through B: %d served before, %d during, %d after, %d failed (first: %v)",
		failover.Round(time.Millisecond), before, after-before, ok.Load()-after, failed.Load(), firstErr.Load())
	if total := ok.Load() + failed.Load(); failed.Load()*20 > total {
		t.Errorf("%d of %d requests failed during the failover, want under 5%%", failed.Load(), total)
	}
	serves(t, "http://"+b.addr, "web.localhost", "/", "hello from express")
	// The killed process left its instance running (its sandbox is not
	// its child's child any more); C again on its data folder kills it.
	if left := procsWith(t, c.data, 0); len(left) == 0 {
		t.Error("no process of C's instance left after its kill -9 (the check below would prove nothing)")
	}
	again := start("C again", c.data, "--roles", "edge,runtime", "--app-sandbox", "bwrap")
	waitUntil(t, 10*time.Second, "the killed C's instance gone", func() bool {
		return len(procsWith(t, c.data, again.cmd.Process.Pid)) == 0
	})
}

// procsWith returns the processes whose command line names dir, but
// except.
func procsWith(t *testing.T, dir string, except int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == except {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), dir) {
			out = append(out, pid)
		}
	}
	return out
}
