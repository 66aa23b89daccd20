package server

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql's "pgx", for PostgreSQL's statistics
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/events/natstest"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// The benchmarks of issue 16 (scale out): how fast a promotion reaches
// every edge node, and what an edge-only node serves next to one with
// every role. docs/scale-out.md derives its capacity plan from them.

// fleet starts one server per entry of roles on 127.0.0.1, sharing a
// fresh PostgreSQL schema, a blob folder, a secret key and the bus at
// events: one platform of len(roles) nodes (nil roles: all). It returns
// an API token of an admin and the nodes' addresses.
func fleet(tb testing.TB, events string, roles ...[]string) (token string, addrs []string) {
	_, token, addrs = fleetServers(tb, events, roles...)
	return token, addrs
}

// fleetServers is fleet, returning the first node too.
func fleetServers(tb testing.TB, events string, roles ...[]string) (first *Server, token string, addrs []string) {
	tb.Helper()
	database, blobs := testbed.PostgresURL(tb), "file://"+filepath.Join(tb.TempDir(), "blobs")
	for i, r := range roles {
		s, addr := startServer(tb, Config{
			Roles: r, Database: database, Blobs: blobs, Events: events,
			SecretKey: strings.Repeat("ab", 32), Data: tb.TempDir(),
		})
		if i == 0 {
			first, token = s, userToken(tb, s.Store(), "admin@example.com", "password", true)
		}
		addrs = append(addrs, addr)
	}
	return first, token, addrs
}

// benchBuses are the buses of a fleet: NATS (embedded, with JetStream as
// a fleet runs it) and Kafka (kfake, the wire protocol in process).
var benchBuses = []struct {
	name string
	url  func(tb testing.TB) string
}{
	{"nats", func(tb testing.TB) string {
		return natstest.StartJetStream(tb).URL() + "?subject=apogee.bench." + apogee.NewID()
	}},
	{"kafka", func(tb testing.TB) string {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(c.Close)
		return "kafka://" + c.ListenAddrs()[0] + "?topic=apogee-bench-" + apogee.NewID()
	}},
}

// BenchmarkPromoteVisible: three nodes (api+edge, edge, edge) on one
// database and one bus; each iteration promotes the other of two ready
// deployments through the API of the first and waits until every node's
// edge serves it. It reports the time from sending the promotion to the
// last node serving it: p50, p99 and max (ms; target p99 ≤ 100 ms).
// Each node is polled every millisecond, so figures are ±1 ms.
//
//	go test -run '^$' -bench BenchmarkPromoteVisible -benchtime 200x ./internal/server/
func BenchmarkPromoteVisible(b *testing.B) {
	for _, bus := range benchBuses {
		b.Run(bus.name, func(b *testing.B) {
			token, addrs := fleet(b, bus.url(b), []string{RoleAPI, RoleEdge}, []string{RoleEdge}, []string{RoleEdge})
			ctx := context.Background()
			c := client.New(addrs[0], token)
			if _, err := c.CreateProject(ctx, "web"); err != nil {
				b.Fatal(err)
			}
			var ids [2]string
			for i, body := range []string{"zero", "one"} {
				res, err := c.Deploy(ctx, site(b, body), client.DeployOptions{Project: "web", Production: true})
				if err != nil {
					b.Fatal(err)
				}
				ids[i] = res.Deployment.ID
			}
			for _, addr := range addrs {
				waitFor(b, addr, "web.localhost", "one")
			}
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				want := []string{"zero", "one"}[i%2]
				start := time.Now()
				if _, err := c.Promote(ctx, "web", ids[i%2]); err != nil {
					b.Fatal(err)
				}
				var wg sync.WaitGroup
				seen := make([]time.Duration, len(addrs))
				for n, addr := range addrs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						seen[n] = pollUntil(b, hc, addr, "web.localhost", want, start)
					}()
				}
				wg.Wait()
				lat = append(lat, slices.Max(seen))
			}
			b.StopTimer()
			slices.Sort(lat)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
			b.ReportMetric(ms(lat[(len(lat)*99)/100]), "p99-ms")
			b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
			b.ReportMetric(0, "ns/op") // the promotions' own time is not the figure
		})
	}
}

// pollUntil GETs host on addr every millisecond until it serves body and
// returns how long after start it first did; it fails after 10 s.
func pollUntil(tb testing.TB, hc *http.Client, addr, host, body string, start time.Time) time.Duration {
	deadline := start.Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequest("GET", addr+"/", nil)
		req.Host = host
		if res, err := hc.Do(req); err == nil {
			got, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == 200 && string(got) == body {
				return time.Since(start)
			}
		}
		if time.Now().After(deadline) {
			tb.Errorf("%s on %s did not serve %q within 10 s", host, addr, body)
			return 10 * time.Second
		}
		<-tick.C
	}
}

var requestsPerSec = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// BenchmarkEdgeRoles: the edge throughput of an edge-only node against a
// node with every role, in the same run: two nodes of one platform serve
// the same 5 KB page to wrk (keep-alive, 64 connections), alternating,
// and which goes first alternating too (the second of a pair measured
// 15% lower when it was always the edge-only node), 4 rounds of 5 s each;
// it reports the median requests/s of each and their ratio. Both nodes
// are in this process, and wrk shares the machine's cores with them: a
// relative figure.
//
//	go test -run '^$' -bench BenchmarkEdgeRoles -benchtime 1x ./internal/server/
func BenchmarkEdgeRoles(b *testing.B) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		b.Fatal("wrk is not installed: apt-get install wrk")
	}
	token, addrs := fleet(b, natstest.StartJetStream(b).URL()+"?subject=apogee.bench."+apogee.NewID(), nil, []string{RoleEdge})
	ctx := context.Background()
	c := client.New(addrs[0], token)
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		b.Fatal(err)
	}
	page := strings.Repeat("apogee edge benchmark page\n", 5120/27+1)[:5120]
	if _, err := c.Deploy(ctx, site(b, page), client.DeployOptions{Project: "web", Production: true}); err != nil {
		b.Fatal(err)
	}
	for _, addr := range addrs {
		waitFor(b, addr, "web.localhost", page)
	}
	run := func(addr, d string) float64 {
		out, err := exec.CommandContext(ctx, wrk, "-t2", "-c64", "-d"+d, "-H", "Host: web.localhost", addr+"/").CombinedOutput()
		if err != nil {
			b.Fatalf("wrk: %v\n%s", err, out)
		}
		m := requestsPerSec.FindSubmatch(out)
		if m == nil {
			b.Fatalf("no Requests/sec in wrk's output:\n%s", out)
		}
		rps, _ := strconv.ParseFloat(string(m[1]), 64)
		return rps
	}
	for _, addr := range addrs {
		run(addr, "1s") // warm up
	}
	b.ResetTimer()
	var all, edge []float64
	for i := range b.N * 4 { // which goes first alternates too
		if i%2 == 0 {
			all = append(all, run(addrs[0], "5s"))
			edge = append(edge, run(addrs[1], "5s"))
		} else {
			edge = append(edge, run(addrs[1], "5s"))
			all = append(all, run(addrs[0], "5s"))
		}
	}
	b.StopTimer()
	median := func(xs []float64) float64 { slices.Sort(xs); return xs[len(xs)/2] }
	ma, me := median(all), median(edge)
	b.ReportMetric(ma, "all-roles-req/s")
	b.ReportMetric(me, "edge-only-req/s")
	b.ReportMetric(me/ma, "edge/all")
	b.ReportMetric(0, "ns/op")
	b.Log(fmt.Sprintf("all roles %v req/s, edge only %v req/s", all, edge))
}

// BenchmarkDeployDatabase: what the database sees of one deploy of a
// 20-file folder through the API and of one promotion, on PostgreSQL:
// rows written (inserted, updated, deleted) and table scans (index and
// sequential), from PostgreSQL's own statistics of the test's schema,
// read once they have settled (a backend reports them when idle, at
// most once a second). Background work of the node (route checks, the
// janitor) is in the figures too.
//
//	go test -run '^$' -bench BenchmarkDeployDatabase -benchtime 10x ./internal/server/
func BenchmarkDeployDatabase(b *testing.B) {
	database := testbed.PostgresURL(b)
	u, err := url.Parse(database)
	if err != nil {
		b.Fatal(err)
	}
	schema := u.Query().Get("search_path")
	db, err := sql.Open("pgx", database)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s, addr := startServer(b, Config{Database: database, Data: b.TempDir(), NoAccessLog: true})
	c := client.New(addr, userToken(b, s.Store(), "admin@example.com", "password", true))
	ctx := context.Background()
	if _, err := c.CreateProject(ctx, "web"); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	for i := range 20 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("page%d.html", i)), []byte(fmt.Sprint("page ", i)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	stats := func() (writes, scans int64) {
		// Settled: two reads 1.1 s apart agree on the rows written (the
		// node's route checks keep scanning meanwhile).
		last := [2]int64{-1, -1}
		for range 20 {
			var w, r int64
			if err := db.QueryRowContext(ctx, "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0), coalesce(sum(coalesce(idx_scan, 0) + seq_scan), 0) "+
				"FROM pg_stat_user_tables WHERE schemaname = $1", schema).Scan(&w, &r); err != nil {
				b.Fatal(err)
			}
			if w == last[0] {
				return w, r
			}
			last = [2]int64{w, r}
			time.Sleep(1100 * time.Millisecond)
		}
		b.Fatal("PostgreSQL's statistics of the schema did not settle within 20 s")
		return 0, 0
	}
	var deployW, deployS, promoteW, promoteS int64
	var ids []string
	b.ResetTimer()
	for i := range b.N {
		if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(fmt.Sprint("version ", i)), 0o644); err != nil {
			b.Fatal(err)
		}
		w0, s0 := stats()
		res, err := c.Deploy(ctx, dir, client.DeployOptions{Project: "web"})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, res.Deployment.ID)
		w1, s1 := stats()
		if _, err := c.Promote(ctx, "web", res.Deployment.ID); err != nil {
			b.Fatal(err)
		}
		w2, s2 := stats()
		deployW, deployS = deployW+w1-w0, deployS+s1-s0
		promoteW, promoteS = promoteW+w2-w1, promoteS+s2-s1
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(deployW)/n, "deploy-rows-written")
	b.ReportMetric(float64(deployS)/n, "deploy-scans")
	b.ReportMetric(float64(promoteW)/n, "promote-rows-written")
	b.ReportMetric(float64(promoteS)/n, "promote-scans")
	b.ReportMetric(0, "ns/op")
}
