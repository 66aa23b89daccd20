package api_test

import (
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/traffic"
)

func TestTraffic(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.user("alice@example.com"), e.user("bob@example.com")
	e.must(e.call("POST", "/api/v1/projects", alice, apogee.CreateProjectRequest{Name: "web"}), 201, nil)
	p, err := e.store.ProjectByName(t.Context(), "web")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var rs []apogee.Request
	for i := range 30 { // 30 requests in the last 30 minutes, every third a 500 on /api/x
		r := apogee.Request{Time: now.Add(-time.Duration(i+1) * time.Minute), ProjectID: p.ID, DeploymentID: "d1",
			Host: "web.localhost", Method: "GET", Path: "/", Status: 200, Bytes: 10, Duration: time.Millisecond,
			Device: apogee.DeviceDesktop, Visitor: "v"}
		if i%3 == 0 {
			r.Path, r.Status = "/api/x", 500
		}
		rs = append(rs, r)
	}
	if err := e.store.AppendRequests(t.Context(), rs); err != nil {
		t.Fatal(err)
	}
	if err := traffic.Save(t.Context(), e.store, "test", rs); err != nil {
		t.Fatal(err)
	}

	var tr apogee.Traffic
	e.must(e.call("GET", "/api/v1/projects/web/analytics?since=1h", alice, nil), 200, &tr)
	if tr.Requests != 30 || tr.Visitors != 1 || tr.Bytes != 300 || tr.Status["5xx"] != 10 || len(tr.Series) == 0 {
		t.Errorf("analytics = %+v", tr)
	}
	var got []apogee.Request
	e.must(e.call("GET", "/api/v1/projects/web/requests?since=1h&status=5xx&path=/api/*", alice, nil), 200, &got)
	if len(got) != 10 {
		t.Errorf("5xx of /api/*: %d records, want 10", len(got))
	}
	e.must(e.call("GET", "/api/v1/projects/web/requests?limit=5", alice, nil), 200, &got)
	if len(got) != 5 {
		t.Errorf("limit 5: %d records", len(got))
	}

	for _, tt := range []struct {
		name, path, token string
		status            int
	}{
		{"another user", "/api/v1/projects/web/analytics", bob, 404},
		{"another user's log", "/api/v1/projects/web/requests", bob, 404},
		{"no token", "/api/v1/projects/web/analytics", "", 401},
		{"bad bucket", "/api/v1/projects/web/analytics?bucket=2m", alice, 400},
		{"too long", "/api/v1/projects/web/analytics?since=40d", alice, 400},
		{"bad status", "/api/v1/projects/web/requests?status=6xx", alice, 400},
		{"bad limit", "/api/v1/projects/web/requests?limit=0", alice, 400},
	} {
		if r := e.call("GET", tt.path, tt.token, nil); r.status != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, r.status, tt.status, r.body)
		}
	}
}
