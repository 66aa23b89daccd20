package sqlstore_test

import (
	"database/sql"
	"slices"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/sqlstore"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// TestRequestPartitions: on PostgreSQL the request log lives in one
// partition a day, made ahead by pruning; pruning past a day drops its
// partition whole, and rows outside every partition (the default one) go
// row by row.
func TestRequestPartitions(t *testing.T) {
	ctx := t.Context()
	url := testbed.PostgresURL(t)
	s, err := sqlstore.Open(ctx, url, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	if _, err := s.PruneRequests(ctx, now.Add(-7*24*time.Hour)); err != nil { // makes the partitions
		t.Fatal(err)
	}
	partitions := func() []string {
		t.Helper()
		var names []string
		rows, err := db.QueryContext(ctx, "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "+
			"WHERE i.inhparent = to_regclass('requests') ORDER BY 1")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			names = append(names, n)
		}
		return names
	}
	var want []string
	for d := -1; d <= 2; d++ {
		want = append(want, "requests_"+today.Add(time.Duration(d)*24*time.Hour).Format("20060102"))
	}
	want = append(want, "requests_default")
	if got := partitions(); !slices.Equal(got, want) {
		t.Fatalf("partitions = %v, want %v", got, want)
	}

	rec := func(at time.Time) apogee.Request {
		return apogee.Request{Time: at, ProjectID: "web", DeploymentID: "d", Host: "web.localhost", Method: "GET", Path: "/", Status: 200}
	}
	old := today.Add(-30 * 24 * time.Hour) // no partition: the default one
	if err := s.AppendRequests(ctx, []apogee.Request{rec(now), rec(now), rec(today.Add(-time.Hour)), rec(old)}); err != nil {
		t.Fatal(err)
	}
	var inDefault int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM requests_default").Scan(&inDefault); err != nil || inDefault != 1 {
		t.Fatalf("rows in the default partition = %d, %v; want 1", inDefault, err)
	}
	// Up to today: yesterday's partition goes whole (1 row), the old row
	// row by row; today's stays.
	n, err := s.PruneRequests(ctx, today)
	if err != nil || n != 2 {
		t.Fatalf("prune = %d, %v; want 2", n, err)
	}
	if got := partitions(); len(got) != 4 || got[0] != want[1] {
		t.Errorf("partitions after pruning = %v, want yesterday's gone", got)
	}
	if left, err := s.Requests(ctx, "web", apogee.RequestQuery{}); err != nil || len(left) != 2 {
		t.Errorf("records left = %d, %v; want today's 2", len(left), err)
	}
}
