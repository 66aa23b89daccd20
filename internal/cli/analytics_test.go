package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/traffic"
)

// TestAnalyticsCommands: `apogee analytics` and `apogee logs --requests`
// print exactly what the store holds of the project's requests.
func TestAnalyticsCommands(t *testing.T) {
	st, _ := buildAPI(t)
	p, err := st.ProjectByName(t.Context(), "web")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var rs []apogee.Request
	for i := range 12 { // 12 requests in the last hour; 4 are 502s of /api/x
		r := apogee.Request{Time: now.Add(-time.Duration(i+1) * 4 * time.Minute), ProjectID: p.ID, DeploymentID: "d1", Host: "web.localhost",
			Method: "GET", Path: "/", Status: 200, Bytes: 1000, Duration: 2 * time.Millisecond, Device: apogee.DeviceMobile,
			Referrer: "news.example", Visitor: []string{"a", "b"}[i%2]}
		if i%3 == 0 {
			r.Path, r.Status = "/api/x", 502
		}
		rs = append(rs, r)
	}
	rs = append(rs, apogee.Request{Time: now.Add(-48 * time.Hour), ProjectID: p.ID, Path: "/old", Status: 200, Visitor: "c"})
	if err := st.AppendRequests(t.Context(), rs); err != nil {
		t.Fatal(err)
	}
	if err := traffic.Save(t.Context(), st, "test", rs); err != nil {
		t.Fatal(err)
	}

	r := run(t, "", "analytics", "--project", "web").ok(t)
	for _, want := range []string{"requests   12\n", "visitors   2\n", "bandwidth  11.7 KiB", "2xx 8  3xx 0  4xx 0  5xx 4", "p50 2.0", // the latency sketch is within 1%
		"news.example", "mobile"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("analytics lacks %q:\n%s", want, r.stdout)
		}
	}
	r = run(t, "", "analytics", "--project", "web", "--since", "7d", "--json").ok(t)
	var tr apogee.Traffic
	if err := json.Unmarshal([]byte(r.stdout), &tr); err != nil || tr.Requests != 13 || tr.Visitors != 3 {
		t.Errorf("--since 7d --json: %+v, %v", tr, err)
	}

	r = run(t, "", "logs", "--requests", "--project", "web", "--status", "5xx", "--path", "/api/*", "--since", "1h").ok(t)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 4 || !strings.Contains(lines[0], " GET 502 web.localhost /api/x 1000 2ms") {
		t.Errorf("5xx of /api/*:\n%s", r.stdout)
	}
	r = run(t, "", "logs", "--requests", "--project", "web", "--since", "1h", "--json").ok(t)
	var got []apogee.Request
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 12 {
		t.Errorf("--json: %d records, %v", len(got), err)
	}
	if r := run(t, "", "logs", "--requests", "--project", "web", "--status", "6xx"); r.code == 0 || !strings.Contains(r.stderr, `"6xx": a class, 1xx to 5xx`) {
		t.Errorf("a bad status class: %+v", r)
	}
}
