package cluster

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/appproxy"
	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/sqlstore"
	"github.com/apogee-dev/apogee/internal/testbed"
)

func TestSpread(t *testing.T) {
	const gib = 1 << 30
	nodes := func(free ...int64) []apogee.Node {
		var out []apogee.Node
		for i, f := range free {
			out = append(out, apogee.Node{ID: fmt.Sprintf("n%d", i+1), FreeMemory: f})
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		nodes []apogee.Node
		have  map[string]int
		n     int
		want  map[string]int
	}{
		{"one each across equal nodes", nodes(4*gib, 4*gib, 4*gib), nil, 3, map[string]int{"n1": 1, "n2": 1, "n3": 1}},
		{"the freest first", nodes(1*gib, 8*gib, 4*gib), nil, 1, map[string]int{"n2": 1}},
		{"spread before memory", nodes(1*gib, 8*gib), nil, 2, map[string]int{"n1": 1, "n2": 1}},
		{"fill the node that has fewer", nodes(8*gib, 8*gib), map[string]int{"n1": 2}, 2, map[string]int{"n2": 2}},
		{"a full node last", nodes(gib/4, 8*gib), nil, 2, map[string]int{"n2": 2}},
		{"every node full: still placed", nodes(gib/4, gib/4), nil, 2, map[string]int{"n1": 1, "n2": 1}},
		{"no node", nil, nil, 2, map[string]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Spread(tc.nodes, tc.have, tc.n, DefaultInstanceMemory)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Spread = %v, want %v", got, tc.want)
			}
		})
	}
}

// stores returns the real stores the cluster runs on: SQLite and
// PostgreSQL.
func stores(t *testing.T) map[string]*sqlstore.Store {
	out := map[string]*sqlstore.Store{}
	for name, url := range map[string]string{
		"sqlite":   "sqlite://" + filepath.Join(t.TempDir(), "apogee.db"),
		"postgres": testbed.PostgresURL(t),
	} {
		s, err := sqlstore.Open(t.Context(), url, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out[name] = s
	}
	return out
}

func project(t *testing.T, s *sqlstore.Store) *apogee.Project {
	t.Helper()
	u := &apogee.User{ID: apogee.NewID(), Email: apogee.NewID() + "@example.com", Password: "$argon2id$v=19$x", CreatedAt: time.Now()}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	p := &apogee.Project{ID: apogee.NewID(), Name: "web", OwnerID: u.ID, CreatedAt: time.Now()}
	if err := s.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStore checks the registry and the placements on SQLite and
// PostgreSQL.
func TestStore(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			now := time.Now().UTC().Truncate(time.Millisecond)
			n := &apogee.Node{ID: "n1", Roles: []string{"edge", "runtime"}, Addr: "10.0.0.1:7946", FreeMemory: 3 << 30, Started: now, Heartbeat: now}
			if err := s.SaveNode(ctx, n); err != nil {
				t.Fatal(err)
			}
			n.Heartbeat, n.FreeMemory = now.Add(time.Second), 2<<30
			if err := s.SaveNode(ctx, n); err != nil {
				t.Fatal(err)
			}
			old := &apogee.Node{ID: "n0", Started: now.Add(-time.Hour), Heartbeat: now.Add(-time.Hour)}
			if err := s.SaveNode(ctx, old); err != nil {
				t.Fatal(err)
			}
			if err := s.SaveNode(ctx, &apogee.Node{}); apogee.ErrorCode(err) != apogee.EINVALID {
				t.Errorf("a node without id: %v, want EINVALID", err)
			}
			if err := s.DeleteNodesBefore(ctx, now.Add(-time.Minute)); err != nil {
				t.Fatal(err)
			}
			got, err := s.Nodes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].ID != "n1" || !got[0].HasRole("runtime") || got[0].FreeMemory != 2<<30 ||
				!got[0].Heartbeat.Equal(now.Add(time.Second)) || got[0].Addr != n.Addr {
				t.Errorf("Nodes = %+v, want n1 as last saved (n0 forgotten)", got)
			}

			p := project(t, s)
			hold := now.Add(time.Minute)
			for _, pl := range []apogee.Placement{
				{ReleaseID: "r1", NodeID: "n1", ProjectID: p.ID, Count: 2, HoldUntil: &hold},
				{ReleaseID: "r1", NodeID: "n2", ProjectID: p.ID, Count: 1},
			} {
				if err := s.SetPlacement(ctx, pl); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.SetPlacement(ctx, apogee.Placement{ReleaseID: "r1", NodeID: "n3", ProjectID: "nosuch", Count: 1}); !errors.Is(err, apogee.ErrNotFound) {
				t.Errorf("a placement of no project: %v, want not found", err)
			}
			if err := s.SetPlacement(ctx, apogee.Placement{ReleaseID: "r1", NodeID: "n3", ProjectID: p.ID}); apogee.ErrorCode(err) != apogee.EINVALID {
				t.Errorf("a placement of 0 instances: %v, want EINVALID", err)
			}
			if ok, err := s.ReportPlacement(ctx, "r1", "n1", []string{"i1", "i2"}, ""); err != nil || !ok {
				t.Fatalf("report: %v %v", ok, err)
			}
			if ok, err := s.ReportPlacement(ctx, "r1", "n2", nil, "exited with code 1"); err != nil || !ok {
				t.Fatalf("report: %v %v", ok, err)
			}
			if ok, err := s.ReportPlacement(ctx, "r9", "n1", nil, ""); err != nil || ok {
				t.Errorf("report of no placement: %v %v, want false", ok, err)
			}
			ps, err := s.Placements(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 2 || ps[0].NodeID != "n1" || ps[0].Count != 2 || strings.Join(ps[0].Ready, ",") != "i1,i2" ||
				ps[0].HoldUntil == nil || !ps[0].HoldUntil.Equal(hold) || ps[1].Error != "exited with code 1" || ps[1].HoldUntil != nil {
				t.Errorf("Placements = %+v", ps)
			}
			// A new count is a new try: the error goes, the ready stay.
			if err := s.SetPlacement(ctx, apogee.Placement{ReleaseID: "r1", NodeID: "n2", ProjectID: p.ID, Count: 2}); err != nil {
				t.Fatal(err)
			}
			files := []apogee.File{{Path: "server.js", SHA256: strings.Repeat("a", 64), Size: 10, Mode: 0o644}}
			if err := s.SavePlacedManifest(ctx, "r1", files); err != nil {
				t.Fatal(err)
			}
			if m, err := s.PlacedManifest(ctx, "r1"); err != nil || len(m) != 1 || m[0] != files[0] {
				t.Errorf("PlacedManifest = %+v, %v", m, err)
			}
			if m, err := s.PlacedManifest(ctx, "r2"); err != nil || m != nil {
				t.Errorf("PlacedManifest of none = %+v, %v", m, err)
			}
			// The manifest goes with the release's last placement.
			if err := s.DeletePlacement(ctx, "r1", "n1"); err != nil {
				t.Fatal(err)
			}
			if m, _ := s.PlacedManifest(ctx, "r1"); m == nil {
				t.Error("the manifest went with a placement that was not the last")
			}
			if err := s.DeletePlacement(ctx, "r1", "n2"); err != nil {
				t.Fatal(err)
			}
			if m, _ := s.PlacedManifest(ctx, "r1"); m != nil {
				t.Error("the manifest stayed after the release's last placement")
			}
			if ps, _ := s.Placements(ctx); len(ps) != 0 {
				t.Errorf("placements left: %+v", ps)
			}
			// A manifest kept for a promotion that placed nothing goes
			// once stale; one of a placed release stays.
			for _, id := range []string{"r2", "r3"} {
				if err := s.SavePlacedManifest(ctx, id, files); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.SetPlacement(ctx, apogee.Placement{ReleaseID: "r3", NodeID: "n1", ProjectID: p.ID, Count: 1}); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteStalePlacedManifests(ctx, time.Now().Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
			if m, _ := s.PlacedManifest(ctx, "r2"); m == nil {
				t.Error("a fresh manifest was removed")
			}
			if err := s.DeleteStalePlacedManifests(ctx, time.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if m, _ := s.PlacedManifest(ctx, "r2"); m != nil {
				t.Error("a stale manifest of a release placed nowhere stayed")
			}
			if m, _ := s.PlacedManifest(ctx, "r3"); m == nil {
				t.Error("the manifest of a placed release was removed")
			}
		})
	}
}

// instance is an app instance served by a real HTTP server (the
// supervisor's are tested in internal/server's TestAppsAcrossNodes).
type instance struct {
	apps.Instance
	id, addr string
}

func (i *instance) ID() string  { return i.id }
func (i *instance) Ready() bool { return true }
func (i *instance) Dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", i.addr)
}

// local is a node's runtime with one instance.
type local struct {
	Local
	in *instance
}

func (l *local) Instance(id string) apps.Instance {
	if id == l.in.id {
		return l.in
	}
	return nil
}

// TestListener checks the node listener: it refuses requests without
// the secret, with a wrong one, without the upgrade, for an instance the
// node does not run, and on a node without runtime; with all in order,
// the tunnel carries HTTP to the instance and back, twice on one
// connection.
func TestListener(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "instance answers %s", r.URL.Path)
	}))
	t.Cleanup(app.Close)
	const secret = "0123456789abcdef-secret"
	newNode := func(l Local) string {
		st := stores(t)["sqlite"]
		bus := events.NewLocal(slog.New(slog.DiscardHandler))
		c, err := New(Config{ID: "n1", Addr: "x:1", Secret: secret, Store: st, Bus: bus, Local: l, Proxy: appproxy.New(appproxy.Options{})})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(c.Handler())
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	addr := newNode(&local{in: &instance{id: "i1", addr: strings.TrimPrefix(app.URL, "http://")}})
	bare := newNode(nil)

	for _, tc := range []struct {
		name, addr, secret, instance, want string
	}{
		{"no secret", addr, "", "i1", "401 Unauthorized: refused: no valid node secret"},
		{"wrong secret", addr, secret + "x", "i1", "401 Unauthorized"},
		{"unknown instance", addr, secret, "i2", `404 Not Found: refused: no instance "i2" runs on node n1`},
		{"node without runtime", bare, secret, "i1", "404 Not Found: refused: node n1 runs no apps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Dial(t.Context(), tc.addr, tc.secret, tc.instance)
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Dial: %v, want %q", err, tc.want)
			}
		})
	}
	// A plain request (no upgrade), and one to another path.
	for path, want := range map[string]string{"/v1/instances/i1": "400 Bad Request", "/v1/other": "404 Not Found"} {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.Status != want || !strings.Contains(string(b), "refused") && !strings.Contains(string(b), "private listener") {
			t.Errorf("GET %s: %s %q, want %s and a reason", path, res.Status, b, want)
		}
	}

	conn, err := Dial(t.Context(), addr, secret, "i1")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for _, path := range []string{"/one", "/two"} {
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: app\r\n\r\n", path)
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != "instance answers "+path {
			t.Errorf("through the tunnel: %q", b)
		}
	}
	// A canceled context ends the dial.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Dial(ctx, addr, secret, "i1"); err == nil {
		t.Error("Dial with a canceled context succeeded")
	}
}

// TestNodeCerts: two nodes that share the seed trust each other's
// certificates; a node of another seed is refused, and a tunnel runs
// over mutual TLS.
func TestNodeCerts(t *testing.T) {
	seed := []byte("0123456789abcdef0123456789abcdef")
	a, err := NodeCerts(seed, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := NodeCerts(seed, "b")
	if err != nil {
		t.Fatal(err)
	}
	other, err := NodeCerts(make([]byte, 32), "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NodeCerts(seed[:8], "a"); err == nil {
		t.Error("a short seed was taken")
	}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "over tls") }))
	t.Cleanup(app.Close)
	const secret = "0123456789abcdef-secret"
	c, err := New(Config{ID: "a", Addr: "x:1", Secret: secret, Store: stores(t)["sqlite"], Bus: events.NewLocal(slog.New(slog.DiscardHandler)),
		Local: &local{in: &instance{id: "i1", addr: strings.TrimPrefix(app.URL, "http://")}}, Proxy: appproxy.New(appproxy.Options{}), Certs: a})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(c.Handler())
	srv.TLS = a.ServerConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "https://")
	for name, tc := range map[string]*tls.Config{"another CA": other.ClientConfig(), "plain TCP": nil} {
		if conn, err := DialWith(t.Context(), addr, secret, "i1", tc); err == nil {
			conn.Close()
			t.Errorf("%s: tunnel opened", name)
		}
	}
	conn, err := DialWith(t.Context(), addr, secret, "i1", b.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if string(body) != "over tls" {
		t.Errorf("through the TLS tunnel: %q", body)
	}
}
