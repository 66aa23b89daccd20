package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/cluster"
	"github.com/apogee-dev/apogee/internal/events/natstest"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// TestAppsAcrossNodes is issue 16's apps across nodes with four whole
// servers on loopback sharing PostgreSQL, a blob folder and NATS, each
// with a node listener: A (api, builder) takes the deploy and builds,
// B (edge only) serves the app, C (edge, runtime) and D (runtime) run
// its two instances, one each (the scheduler spreads them). B reaches
// them through C's and D's node listeners, which refuse a connection
// without the node secret and one for an instance they do not run. Then
// C is stopped hard (no deregistration: its heartbeat lapses) while
// clients keep asking B: its instance is placed on D and started there,
// and the failed requests are counted.
//
// It runs on each event bus: NATS and Kafka (kfake, in process, speaks
// Kafka's wire protocol).
func TestAppsAcrossNodes(t *testing.T) {
	needAppTools(t)
	t.Run("nats", func(t *testing.T) {
		ns := natstest.Start(t)
		appsAcrossNodes(t, ns.URL()+"?subject=apogee.test."+apogee.NewID(), false)
	})
	// On Kafka the nodes also speak mutual TLS (--node-tls).
	t.Run("kafka+tls", func(t *testing.T) {
		k, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(k.Close)
		appsAcrossNodes(t, "kafka://"+strings.Join(k.ListenAddrs(), ",")+"?topic=apogee-test-"+apogee.NewID(), true)
	})
}

func appsAcrossNodes(t *testing.T, events string, nodeTLS bool) {
	database, blobs := testbed.PostgresURL(t), "file://"+filepath.Join(t.TempDir(), "blobs")
	const secret = "node-secret-of-this-test-0123456789"
	start := func(cfg Config) (*Server, string, func()) {
		cfg.Database, cfg.Blobs, cfg.Events, cfg.SecretKey = database, blobs, events, strings.Repeat("ab", 32)
		cfg.Data, cfg.NodeListen, cfg.NodeSecret, cfg.NodeTLS = t.TempDir(), "127.0.0.1:0", secret, nodeTLS
		ctx, cancel := context.WithCancel(context.Background())
		s, addr, done := startStoppable(t, ctx, cfg)
		stop := sync.OnceFunc(func() {
			cancel()
			<-done
		})
		t.Cleanup(stop)
		return s, addr, stop
	}
	a, addrA, _ := start(Config{Roles: []string{"api", "builder"}, BuildWorkers: 1, Sandbox: "bwrap"})
	b, addrB, _ := start(Config{Roles: []string{"edge"}})
	c, _, stopC := start(Config{Roles: []string{"edge", "runtime"}, AppSandbox: "bwrap"})
	d, _, _ := start(Config{Roles: []string{"runtime"}, AppSandbox: "bwrap"})
	ids := map[string]string{a.Node().ID(): "A", b.Node().ID(): "B", c.Node().ID(): "C", d.Node().ID(): "D"}
	waitUntil(t, 10*time.Second, "every node live in A's registry", func() bool {
		_, live := a.Node().Nodes()
		for id := range ids {
			if !live[id] {
				return false
			}
		}
		return true
	})

	ctx := t.Context()
	token := userToken(t, a.Store(), "dev@example.com", "password", false)
	cl := client.New(addrA, token, client.WithTimeout(3*time.Minute))
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
	placed := func() map[string][2]int { // node → count, ready
		ps, err := a.Store().(cluster.Store).Placements(ctx)
		if err != nil {
			t.Fatal(err)
		}
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
	// A, which runs no apps, shows them on their nodes.
	status := func() map[string]int { // node → ready instances
		st, err := cl.AppStatus(ctx, "web")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, in := range st.Running {
			if in.Release == dep.ID && in.Healthy && in.State == "ready" && in.ID != "" {
				out[ids[in.Node]]++
			}
		}
		return out
	}
	if got := status(); got["C"] != 1 || got["D"] != 1 || len(got) != 2 {
		t.Errorf("A's app status: ready instances by node %v, want one on C and one on D", got)
	}
	serves(t, addrB, "web.localhost", "/", "hello from express")
	_, _, hdr := request(t, addrB, "GET", "web.localhost", "/", "")
	if hdr.Get("X-Apogee-Deployment") != dep.ID {
		t.Errorf("B's answer names release %q, want %s", hdr.Get("X-Apogee-Deployment"), dep.ID)
	}

	// C's listener: refused without the secret, refused for an instance
	// it does not run, a tunnel to its own instance with it.
	nodes, _ := a.Node().Nodes()
	var addrC string
	for _, n := range nodes {
		if n.ID == c.Node().ID() {
			addrC = n.Addr
		}
	}
	inst := c.apps.host.ReleaseInstances(dep.ID)
	if len(inst) != 1 {
		t.Fatalf("C runs %d instances of the release, want 1", len(inst))
	}
	var tc *tls.Config // the tunnels' TLS: a certificate of the platform's node CA
	if nodeTLS {
		certs, err := cluster.NodeCerts(a.nodeSeed, "test")
		if err != nil {
			t.Fatal(err)
		}
		tc = certs.ClientConfig()
		// Without TLS, or with a certificate of another CA, no tunnel.
		other, err := cluster.NodeCerts(make([]byte, 32), "intruder")
		if err != nil {
			t.Fatal(err)
		}
		for name, conf := range map[string]*tls.Config{"plain TCP": nil, "another CA": other.ClientConfig()} {
			if conn, err := cluster.DialWith(ctx, addrC, secret, inst[0].ID(), conf); err == nil {
				conn.Close()
				t.Errorf("a tunnel over %s to a node with --node-tls was opened", name)
			}
		}
	}
	for _, tc2 := range []struct {
		name, secret, instance, want string
	}{
		{"no secret", "", inst[0].ID(), "401 Unauthorized: refused: no valid node secret"},
		{"wrong secret", strings.Repeat("x", len(secret)), inst[0].ID(), "401 Unauthorized: refused: no valid node secret"},
		{"unknown instance", secret, "nope", `404 Not Found: refused: no instance "nope" runs on node`},
		{"D's instance", secret, d.apps.host.ReleaseInstances(dep.ID)[0].ID(), "404 Not Found: refused: no instance"},
	} {
		_, err := cluster.DialWith(ctx, addrC, tc2.secret, tc2.instance, tc)
		if !errors.Is(err, cluster.ErrRefused) || !strings.Contains(err.Error(), tc2.want) {
			t.Errorf("%s: tunnel error %v, want %q", tc2.name, err, tc2.want)
		}
	}
	conn, err := cluster.DialWith(ctx, addrC, secret, inst[0].ID(), tc)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /env/APOGEE_RELEASE_ID HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	conn.Close()
	if res.StatusCode != 200 || string(body) != dep.ID {
		t.Errorf("through the tunnel: %d %q, want 200 %q", res.StatusCode, body, dep.ID)
	}

	// Clients keep asking B while C dies.
	l := startLoad(4, addrB+"/", "web.localhost", "hello from express")
	ok, failed, firstErr := &l.ok, &l.failed, &l.firstErr
	waitUntil(t, 10*time.Second, "requests served before the kill", func() bool { return ok.Load() >= 50 })
	before := ok.Load()
	killed := time.Now()
	stopC()
	stopped := time.Since(killed)
	waitUntil(t, 30*time.Second, "C's instance placed and ready on D", func() bool {
		got := placed()
		return got["D"] == [2]int{2, 2} && len(got) == 1
	})
	failover := time.Since(killed)
	after := ok.Load()
	waitUntil(t, 10*time.Second, "requests served after the failover", func() bool { return ok.Load() >= after+50 })
	l.stop()
	t.Logf("failover: C stopped in %s; its instance ready on D %s after the stop; requests through B: %d served before, %d during, %d after, %d failed (first: %v)",
		stopped.Round(time.Millisecond), failover.Round(time.Millisecond), before, after-before, ok.Load()-after, failed.Load(), firstErr.Load())
	if got := status(); got["D"] != 2 || len(got) != 1 {
		t.Errorf("A's app status after the failover: ready instances by node %v, want two on D", got)
	}
	if n := len(d.apps.host.ReleaseInstances(dep.ID)); n != 2 {
		t.Errorf("D runs %d instances after the failover, want 2", n)
	}
	if total := ok.Load() + failed.Load(); failed.Load()*20 > total {
		t.Errorf("%d of %d requests failed during the failover, want under 5%%", failed.Load(), total)
	}
	if nodes, live := a.Node().Nodes(); live[c.Node().ID()] || !slices.ContainsFunc(nodes, func(n apogee.Node) bool { return n.ID == c.Node().ID() }) {
		t.Errorf("C is live %v in A's registry after its stop, want recorded and dead", live[c.Node().ID()])
	}

	// A release that cannot start on its node is refused with the node's
	// reason and the app's last lines; the release that served keeps
	// serving.
	bad, log := zipBuild(t, cl, "web", map[string]string{"Procfile": "web: node server.js", "server.js": `console.error('boom'); process.exit(3)`})
	if bad.Status != apogee.StatusError || bad.Production {
		t.Fatalf("the crashing release: %s (production %v), want error:\n%s", bad.Status, bad.Production, log)
	}
	for _, want := range []string{"did not start on node " + d.Node().ID(), "exited with code 3", "boom"} {
		if !strings.Contains(bad.Error, want) {
			t.Errorf("the refusal %q does not say %q", bad.Error, want)
		}
	}
	serves(t, addrB, "web.localhost", "/", "hello from express")
	waitUntil(t, 10*time.Second, "the refused release unplaced", func() bool {
		ps, _ := a.Store().(cluster.Store).Placements(ctx)
		return !slices.ContainsFunc(ps, func(p apogee.Placement) bool { return p.ReleaseID == bad.ID })
	})

	// The next release replaces it on every node: B serves it, and the
	// old release's instances stop once it no longer serves.
	next, log := zipBuild(t, cl, "web", map[string]string{"Procfile": "web: node server.js",
		"server.js": `require('http').createServer((q, s) => s.end('next')).listen(process.env.PORT)`})
	if next.Status != apogee.StatusReady {
		t.Fatalf("the next release: %s (%s)\n%s", next.Status, next.Error, log)
	}
	serves(t, addrB, "web.localhost", "/", "next")
	waitUntil(t, 20*time.Second, "the old release's instances stopped on D", func() bool {
		return len(placed()) == 0 && len(d.apps.host.ReleaseInstances(dep.ID)) == 0
	})

	// apps scale through A, which runs no apps: the scheduler places the
	// count on the runtime nodes alive (D alone now), and takes it back.
	placedNext := func() (count, ready int) {
		ps, err := a.Store().(cluster.Store).Placements(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.ReleaseID == next.ID {
				count, ready = count+p.Count, ready+len(p.Ready)
			}
		}
		return count, ready
	}
	for _, n := range []int{3, 1} {
		if _, err := cl.ScaleApp(ctx, "web", apogee.ScaleRequest{Instances: n}); err != nil {
			t.Fatalf("scale to %d: %v", n, err)
		}
		waitUntil(t, 30*time.Second, fmt.Sprintf("%d instances of the next release placed, ready and running on D", n), func() bool {
			count, ready := placedNext()
			return count == n && ready == n && len(d.apps.host.ReleaseInstances(next.ID)) == n
		})
		serves(t, addrB, "web.localhost", "/", "next")
	}
	// Autoscaling does not act across nodes yet: refused, nothing saved.
	lo, hi := 1, 3
	_, err = cl.ScaleApp(ctx, "web", apogee.ScaleRequest{Min: &lo, Max: &hi})
	if apogee.ErrorCode(err) != apogee.ECONFLICT || !strings.Contains(apogee.ErrorMessage(err), "fixed number") {
		t.Errorf("autoscaling across nodes: %v, want a conflict saying to scale to a fixed number", err)
	}
	if p, err := a.Store().ProjectByID(ctx, next.ProjectID); err != nil || p.Settings.App.Scale().Max != 1 {
		t.Errorf("the refused autoscaling was saved: %+v, %v", p.Settings.App.Scale(), err)
	}
}

// load keeps clients asking url (with host) and counts the answers that
// are want and the others, until stop.
type load struct {
	ok, failed atomic.Int64
	firstErr   atomic.Value
	stopCh     chan struct{}
	wg         sync.WaitGroup
}

func startLoad(clients int, url, host, want string) *load {
	l := &load{stopCh: make(chan struct{})}
	for range clients {
		l.wg.Go(func() {
			hc := &http.Client{Timeout: 20 * time.Second}
			for {
				select {
				case <-l.stopCh:
					return
				default:
				}
				req, _ := http.NewRequestWithContext(context.Background(), "GET", url, nil)
				req.Host = host
				res, err := hc.Do(req)
				if err == nil {
					body, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode != 200 || string(body) != want {
						err = fmt.Errorf("%d %q", res.StatusCode, body)
					}
				}
				if err != nil {
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				l.ok.Add(1)
			}
		})
	}
	return l
}

func (l *load) stop() {
	close(l.stopCh)
	l.wg.Wait()
}

// waitUntil waits for cond, checked every 20 ms, up to timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNodeFlags checks --node-listen's requirements: each missing piece
// is refused with what to add.
func TestNodeFlags(t *testing.T) {
	const secret = "0123456789abcdef"
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" for accepted
	}{
		{"off", Config{}, ""},
		{"advertise without listen", Config{NodeAdvertise: "10.0.0.5:7946"}, "--node-advertise and --node-tls need --node-listen"},
		{"tls without listen", Config{NodeTLS: true}, "need --node-listen"},
		{"no port", Config{NodeListen: "10.0.0.5", NodeSecret: secret}, "give host:port"},
		{"no secret", Config{NodeListen: "10.0.0.5:7946"}, "needs --node-secret"},
		{"short secret", Config{NodeListen: "10.0.0.5:7946", NodeSecret: "short"}, "at least 16 characters"},
		{"local events", Config{NodeListen: "10.0.0.5:7946", NodeSecret: secret, Database: "postgres://x/y"}, "--events nats://"},
		{"sqlite", Config{NodeListen: "10.0.0.5:7946", NodeSecret: secret, Events: "nats://n:4222"}, "--database postgres://"},
		{"bad advertise", Config{NodeListen: ":7946", NodeSecret: secret, Events: "nats://n:4222", Database: "postgres://x/y", NodeAdvertise: "x"}, "--node-advertise"},
		{"complete", Config{NodeListen: ":7946", NodeSecret: secret, Events: "nats://n:4222", Database: "postgres://x/y", NodeAdvertise: "10.0.0.5:7946"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.normalizeNodes()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want EINVALID with %q", err, tc.want)
			}
		})
	}
}
