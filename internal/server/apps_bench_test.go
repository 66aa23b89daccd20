package server

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// untilServes waits, polling without a pause, until host answers body;
// it returns how long that took.
func untilServes(b *testing.B, addr, host, body string, start time.Time) time.Duration {
	b.Helper()
	deadline := start.Add(2 * time.Minute)
	for {
		if code, got, _ := request(b, addr, "GET", host, "/", ""); code == 200 && got == body {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s never served %q", host, body)
		}
	}
}

// BenchmarkAppRollback measures a rollback (a promote of the other of
// two releases, the same gate) from the API call to the edge serving the
// other release: warm, where the previous release's instance still runs
// (--app-keep-warm 1), and cold, where it boots (--app-keep-warm 0).
// Targets: 50 ms warm, one instance's boot + 0.5 s cold.
func BenchmarkAppRollback(b *testing.B) {
	for _, tt := range []struct {
		name string
		keep int
	}{{"warm", 1}, {"cold", 0}} {
		b.Run(tt.name, func(b *testing.B) {
			_, c, addr, _ := appServerWith(b, tt.keep)
			if _, err := c.CreateProject(b.Context(), "api"); err != nil {
				b.Fatal(err)
			}
			ids := make([]string, 2)
			for i, body := range []string{"one", "two"} {
				d, log := zipBuild(b, c, "api", map[string]string{
					"Procfile":  "web: node server.js",
					"server.js": `require('http').createServer((q, s) => s.end('` + body + `')).listen(process.env.PORT)`,
				})
				if d.Status != apogee.StatusReady {
					b.Fatalf("build %s: %s\n%s", body, d.Error, log)
				}
				ids[i] = d.ID
			}
			bodies := []string{"one", "two"}
			b.ResetTimer()
			var total time.Duration
			for i := range b.N {
				to := i % 2 // production is "two" first
				start := time.Now()
				if _, err := c.Promote(b.Context(), "api", ids[to]); err != nil {
					b.Fatal(err)
				}
				total += untilServes(b, addr, "api.localhost", bodies[to], start)
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/rollback")
		})
	}
}

// BenchmarkAppRedeploy measures the deploy of a changed app with
// unchanged dependencies (the Express app from a ZIP: node_modules from
// the cache, no install), from queueing the build to the edge serving
// the new release, and how that splits: the build (to "Build completed"
// in its log), the instance's boot ("ready in" of the release line), and
// the rest. Target: the rest ≤ 1 s.
func BenchmarkAppRedeploy(b *testing.B) {
	_, c, addr, _ := appServer(b)
	if _, err := c.CreateProject(b.Context(), "api"); err != nil {
		b.Fatal(err)
	}
	if d, log := zipBuild(b, c, "api", expressApp(b, nil)); d.Status != apogee.StatusReady {
		b.Fatalf("first build: %s\n%s", d.Error, log)
	}
	readyIn := regexp.MustCompile(`ready in ([0-9.]+)(ms|s)`)
	var total, build, boot time.Duration
	b.ResetTimer()
	for i := range b.N {
		body := "hello from build " + strconv.Itoa(i)
		files := expressApp(b, nil)
		files["server.js"] = strings.Replace(files["server.js"], "`hello from ${process.env.GREETING || 'express'}`", "'"+body+"'", 1)
		start := time.Now()
		d, log := zipBuild(b, c, "api", files)
		if d.Status != apogee.StatusReady || !strings.Contains(log, "Restored node_modules") {
			b.Fatalf("redeploy %d: %s (%s)\n%s", i, d.Status, d.Error, log)
		}
		total += untilServes(b, addr, "api.localhost", body, start)
		lines, err := c.Logs(b.Context(), d.ID, 0)
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range lines.Lines {
			if strings.HasPrefix(l.Text, "Build completed") {
				build += l.Time.Sub(lines.Lines[0].Time)
			}
			if m := readyIn.FindStringSubmatch(l.Text); m != nil {
				v, _ := strconv.ParseFloat(m[1], 64)
				if m[2] == "s" {
					v *= 1000
				}
				boot += time.Duration(v * float64(time.Millisecond))
			}
		}
	}
	n := float64(b.N)
	b.ReportMetric(total.Seconds()/n, "s/deploy")
	b.ReportMetric(build.Seconds()/n, "s-build")
	b.ReportMetric(boot.Seconds()/n, "s-boot")
	b.ReportMetric((total-build-boot).Seconds()/n, "s-rest")
}
