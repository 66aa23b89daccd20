package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
)

// Request records: see migration 00034. Times are Unix milliseconds
// (at_ms) and durations microseconds, the same on both databases.

var _ apogee.RequestStore = (*Store)(nil)

const requestCols = 14

// AppendRequests stores rs in one transaction, in chunks of one INSERT.
func (s *Store) AppendRequests(ctx context.Context, rs []apogee.Request) error {
	if len(rs) == 0 {
		return nil
	}
	return s.inTx(ctx, "append requests", func(tx *sql.Tx) error {
		args := make([]any, 0, requestCols*min(len(rs), logsPerInsert))
		for chunk := range slices.Chunk(rs, logsPerInsert) {
			args = args[:0]
			for _, r := range chunk {
				args = append(args, r.ProjectID, r.DeploymentID, r.Time.UnixMilli(), r.Host, r.Method, r.Path,
					r.Status, r.Bytes, r.Duration.Microseconds(), r.CacheHit, r.Referrer, r.Country, r.Device, r.Visitor)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO requests (project_id, deployment_id, at_ms, host, method, path, "+
				"status, bytes, duration_us, cache_hit, referrer, country, device, visitor) VALUES "+
				s.d.rowsSQL(len(chunk), requestCols), args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// requestFilter builds the WHERE clause shared by Requests and Traffic.
type requestFilter struct {
	b    strings.Builder
	args []any
}

func (f *requestFilter) arg(v any) string {
	f.args = append(f.args, v)
	return fmt.Sprintf("$%d", len(f.args))
}

func newRequestFilter(projectID string, since, until time.Time, deploymentID string) *requestFilter {
	f := &requestFilter{}
	f.b.WriteString(" WHERE project_id = " + f.arg(projectID))
	if !since.IsZero() {
		f.b.WriteString(" AND at_ms >= " + f.arg(since.UnixMilli()))
	}
	if !until.IsZero() {
		f.b.WriteString(" AND at_ms < " + f.arg(until.UnixMilli()))
	}
	if deploymentID != "" {
		f.b.WriteString(" AND deployment_id = " + f.arg(deploymentID))
	}
	return f
}

// Requests returns the most recent Limit records q selects, oldest first.
func (s *Store) Requests(ctx context.Context, projectID string, q apogee.RequestQuery) ([]apogee.Request, error) {
	f := newRequestFilter(projectID, q.Since, q.Until, q.DeploymentID)
	if q.AfterID > 0 {
		f.b.WriteString(" AND id > " + f.arg(q.AfterID))
	}
	if q.StatusClass > 0 {
		f.b.WriteString(" AND status >= " + f.arg(q.StatusClass*100) + " AND status < " + f.arg(q.StatusClass*100+100))
	}
	if prefix, ok := strings.CutSuffix(q.Path, "*"); ok {
		if prefix != "" {
			f.b.WriteString(" AND substr(path, 1, " + f.arg(len(prefix)) + ") = " + f.arg(prefix))
		}
	} else if q.Path != "" {
		f.b.WriteString(" AND path = " + f.arg(q.Path))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 1000
	}
	query := "SELECT id, project_id, deployment_id, at_ms, host, method, path, status, bytes, duration_us, cache_hit, " +
		"referrer, country, device FROM requests" + f.b.String() + " ORDER BY id DESC LIMIT " + f.arg(limit)
	rows, err := s.rdb.QueryContext(ctx, query, f.args...)
	if err != nil {
		return nil, wrap("requests", err)
	}
	rs, err := collect(rows, func(row scanner) (r apogee.Request, err error) {
		var at, us int64
		err = row.Scan(&r.ID, &r.ProjectID, &r.DeploymentID, &at, &r.Host, &r.Method, &r.Path, &r.Status, &r.Bytes, &us,
			&r.CacheHit, &r.Referrer, &r.Country, &r.Device)
		r.Time = time.UnixMilli(at).UTC()
		r.Duration = time.Duration(us) * time.Microsecond
		return r, err
	})
	slices.Reverse(rs)
	return rs, wrap("requests", err)
}

// Traffic sums the project's records in q's range with a handful of
// aggregate queries over the (project_id, at_ms) index.
func (s *Store) Traffic(ctx context.Context, projectID string, q apogee.TrafficQuery) (apogee.Traffic, error) {
	if q.Until.IsZero() {
		q.Until = time.Now()
	}
	if q.Top <= 0 {
		q.Top = 10
	}
	if q.Bucket <= 0 {
		q.Bucket = time.Hour
	}
	t := apogee.Traffic{Since: q.Since.UTC(), Until: q.Until.UTC(), Status: map[string]int64{}}
	filter := func() *requestFilter { return newRequestFilter(projectID, q.Since, q.Until, q.DeploymentID) }
	err := func() error {
		f := filter()
		err := s.rdb.QueryRowContext(ctx, "SELECT COUNT(*), COUNT(DISTINCT visitor), COALESCE(SUM(bytes), 0), "+
			"COALESCE(SUM(CASE WHEN cache_hit THEN 1 ELSE 0 END), 0) FROM requests"+f.b.String(), f.args...).
			Scan(&t.Requests, &t.Visitors, &t.Bytes, &t.CacheHits)
		if err != nil || t.Requests == 0 {
			return err
		}
		f = filter()
		rows, err := s.rdb.QueryContext(ctx, "SELECT status / 100, COUNT(*) FROM requests"+f.b.String()+" GROUP BY 1", f.args...)
		if err != nil {
			return err
		}
		classes, err := collect(rows, func(row scanner) (c [2]int64, err error) {
			err = row.Scan(&c[0], &c[1])
			return c, err
		})
		if err != nil {
			return err
		}
		for _, c := range classes {
			t.Status[fmt.Sprintf("%dxx", c[0])] = c[1]
		}
		for _, p := range []struct {
			q   float64
			out *time.Duration
		}{{0.50, &t.P50}, {0.95, &t.P95}, {0.99, &t.P99}} {
			// The nearest-rank percentile: the ceil(q·n)-th smallest.
			rank := int64(p.q*float64(t.Requests)+0.999999) - 1
			f = filter()
			var us int64
			if err := s.rdb.QueryRowContext(ctx, "SELECT duration_us FROM requests"+f.b.String()+
				" ORDER BY duration_us LIMIT 1 OFFSET "+f.arg(max(rank, 0)), f.args...).Scan(&us); err != nil {
				return fmt.Errorf("p%d: %w", int(p.q*100), err)
			}
			*p.out = time.Duration(us) * time.Microsecond
		}
		f = filter()
		step := f.arg(q.Bucket.Milliseconds())
		rows, err = s.rdb.QueryContext(ctx, "SELECT (at_ms / "+step+") * "+step+", COUNT(*), COUNT(DISTINCT visitor), SUM(bytes), "+
			"SUM(CASE WHEN status >= 500 THEN 1 ELSE 0 END) FROM requests"+f.b.String()+" GROUP BY 1 ORDER BY 1", f.args...)
		if err != nil {
			return err
		}
		if t.Series, err = collect(rows, func(row scanner) (p apogee.TrafficPoint, err error) {
			var at int64
			err = row.Scan(&at, &p.Requests, &p.Visitors, &p.Bytes, &p.Errors)
			p.Time = time.UnixMilli(at).UTC()
			return p, err
		}); err != nil {
			return err
		}
		for _, tb := range []struct {
			col, cond string
			out       *[]apogee.Count
		}{
			{"path", "", &t.Paths},
			{"referrer", " AND referrer <> ''", &t.Referrers},
			{"path", " AND status = 404", &t.NotFound},
			{"country", " AND country <> ''", &t.Countries},
			{"device", "", &t.Devices},
		} {
			if *tb.out, err = s.top(ctx, filter(), tb.col, tb.cond, q.Top); err != nil {
				return err
			}
		}
		return nil
	}()
	return t, wrap("traffic", err)
}

// top returns the most frequent values of col among the rows f selects
// and cond narrows.
func (s *Store) top(ctx context.Context, f *requestFilter, col, cond string, n int) ([]apogee.Count, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+col+", COUNT(*) FROM requests"+f.b.String()+cond+
		" GROUP BY "+col+" ORDER BY 2 DESC, 1 LIMIT "+f.arg(n), f.args...)
	if err != nil {
		return nil, fmt.Errorf("top %s: %w", col, err)
	}
	return collect(rows, func(row scanner) (c apogee.Count, err error) {
		err = row.Scan(&c.Key, &c.Count)
		return c, err
	})
}

// PruneRequests deletes records older than before, in batches so that
// pruning never holds the writer for long.
func (s *Store) PruneRequests(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		n, err := s.exec(ctx, "DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE at_ms < $1 LIMIT $2)",
			before.UnixMilli(), pruneBatch)
		if err != nil {
			return total, wrap("prune requests", err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}
