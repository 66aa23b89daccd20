package sqlstore

import (
	"context"
	"database/sql"
	"errors"
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

// SaveTraffic upserts rollups and replaces top tables in one transaction.
func (s *Store) SaveTraffic(ctx context.Context, rollups []apogee.TrafficRollup, tops []apogee.TrafficTops) error {
	if len(rollups) == 0 && len(tops) == 0 {
		return nil
	}
	return s.inTx(ctx, "save traffic", func(tx *sql.Tx) error {
		const cols = 15
		args := make([]any, 0, cols*min(len(rollups), logsPerInsert))
		for chunk := range slices.Chunk(rollups, logsPerInsert/2) {
			args = args[:0]
			for _, r := range chunk {
				args = append(args, r.ProjectID, r.DeploymentID, int64(r.Period/time.Second), r.Start.Unix(), r.Writer,
					r.Requests, r.Bytes, r.CacheHits, r.Status[0], r.Status[1], r.Status[2], r.Status[3], r.Status[4],
					r.Visitors, r.Latency)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO traffic_rollups (project_id, deployment_id, period_s, start_s, writer, "+
				"requests, bytes, cache_hits, s1, s2, s3, s4, s5, visitors, latency) VALUES "+s.d.rowsSQL(len(chunk), cols)+
				" ON CONFLICT (project_id, period_s, start_s, deployment_id, writer) DO UPDATE SET requests = excluded.requests, "+
				"bytes = excluded.bytes, cache_hits = excluded.cache_hits, s1 = excluded.s1, s2 = excluded.s2, s3 = excluded.s3, "+
				"s4 = excluded.s4, s5 = excluded.s5, visitors = excluded.visitors, latency = excluded.latency", args...); err != nil {
				return fmt.Errorf("rollups: %w", err)
			}
		}
		for _, t := range tops {
			period := int64(t.Period / time.Second)
			if _, err := tx.ExecContext(ctx, "DELETE FROM traffic_tops WHERE project_id = $1 AND kind = $2 AND period_s = $3 "+
				"AND start_s = $4 AND deployment_id = $5 AND writer = $6", t.ProjectID, t.Kind, period, t.Start.Unix(), t.DeploymentID, t.Writer); err != nil {
				return fmt.Errorf("tops: %w", err)
			}
			const cols = 8
			for chunk := range slices.Chunk(t.Keys, logsPerInsert) {
				args = args[:0]
				for _, k := range chunk {
					args = append(args, t.ProjectID, t.Kind, period, t.Start.Unix(), t.DeploymentID, t.Writer, k.Key, k.Count)
				}
				if _, err := tx.ExecContext(ctx, "INSERT INTO traffic_tops (project_id, kind, period_s, start_s, deployment_id, writer, key, count) "+
					"VALUES "+s.d.rowsSQL(len(chunk), cols), args...); err != nil {
					return fmt.Errorf("tops: %w", err)
				}
			}
		}
		return nil
	})
}

// rollupFilter is the WHERE clause of Rollups and TopCounts.
func rollupFilter(projectID string, q apogee.RollupQuery) *requestFilter {
	f := &requestFilter{}
	f.b.WriteString(" WHERE project_id = " + f.arg(projectID) + " AND period_s = " + f.arg(int64(q.Period/time.Second)))
	if !q.Since.IsZero() {
		f.b.WriteString(" AND start_s >= " + f.arg(q.Since.Unix()))
	}
	if !q.Until.IsZero() {
		f.b.WriteString(" AND start_s < " + f.arg(q.Until.Unix()))
	}
	if q.DeploymentID != "" {
		f.b.WriteString(" AND deployment_id = " + f.arg(q.DeploymentID))
	}
	return f
}

// Rollups returns the project's rollups of q's period in its range.
func (s *Store) Rollups(ctx context.Context, projectID string, q apogee.RollupQuery) ([]apogee.TrafficRollup, error) {
	f := rollupFilter(projectID, q)
	rows, err := s.rdb.QueryContext(ctx, "SELECT project_id, deployment_id, period_s, start_s, writer, requests, bytes, cache_hits, "+
		"s1, s2, s3, s4, s5, visitors, latency FROM traffic_rollups"+f.b.String()+" ORDER BY start_s", f.args...)
	if err != nil {
		return nil, wrap("rollups", err)
	}
	rs, err := collect(rows, func(row scanner) (r apogee.TrafficRollup, err error) {
		var period, start int64
		err = row.Scan(&r.ProjectID, &r.DeploymentID, &period, &start, &r.Writer, &r.Requests, &r.Bytes, &r.CacheHits,
			&r.Status[0], &r.Status[1], &r.Status[2], &r.Status[3], &r.Status[4], &r.Visitors, &r.Latency)
		r.Period, r.Start = time.Duration(period)*time.Second, time.Unix(start, 0).UTC()
		return r, err
	})
	return rs, wrap("rollups", err)
}

// TopCounts sums the top tables of kind over q's periods.
func (s *Store) TopCounts(ctx context.Context, projectID string, q apogee.RollupQuery, kind string, n int) ([]apogee.Count, error) {
	f := rollupFilter(projectID, q)
	f.b.WriteString(" AND kind = " + f.arg(kind))
	rows, err := s.rdb.QueryContext(ctx, "SELECT key, SUM(count) FROM traffic_tops"+f.b.String()+
		" GROUP BY key ORDER BY 2 DESC, 1 LIMIT "+f.arg(n), f.args...)
	if err != nil {
		return nil, wrap("top "+kind, err)
	}
	cs, err := collect(rows, func(row scanner) (c apogee.Count, err error) {
		err = row.Scan(&c.Key, &c.Count)
		return c, err
	})
	return cs, wrap("top "+kind, err)
}

// PruneTraffic deletes rollups and top tables of period older than
// before.
func (s *Store) PruneTraffic(ctx context.Context, period time.Duration, before time.Time) (int64, error) {
	n, err := s.exec(ctx, "DELETE FROM traffic_rollups WHERE period_s = $1 AND start_s < $2", int64(period/time.Second), before.Unix())
	if err != nil {
		return n, wrap("prune traffic", err)
	}
	m, err := s.exec(ctx, "DELETE FROM traffic_tops WHERE period_s = $1 AND start_s < $2", int64(period/time.Second), before.Unix())
	return n + m, wrap("prune traffic", err)
}

// PruneRequests deletes records older than before, in batches so that
// pruning never holds the writer for long. On PostgreSQL it first makes
// the partitions of the days around now and drops the partitions of the
// days that ended by before, whole.
func (s *Store) PruneRequests(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	if s.d == dialectPostgres {
		n, err := s.partitionRequests(ctx, time.Now(), before)
		if err != nil {
			return 0, wrap("prune requests", err)
		}
		total = n
	}
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

// PruneProjectRequests deletes one project's records older than before
// and those past its newest maxRows, in batches.
func (s *Store) PruneProjectRequests(ctx context.Context, projectID string, before time.Time, maxRows int64) (int64, error) {
	cut := int64(-1) // records with at_ms <= cut go
	if !before.IsZero() {
		cut = before.UnixMilli() - 1
	}
	if maxRows >= 0 {
		var at int64
		err := s.rdb.QueryRowContext(ctx, "SELECT at_ms FROM requests WHERE project_id = $1 ORDER BY at_ms DESC LIMIT 1 OFFSET $2",
			projectID, maxRows).Scan(&at)
		switch {
		case errors.Is(err, sql.ErrNoRows): // not that many
		case err != nil:
			return 0, wrap("prune requests of "+projectID, err)
		default:
			cut = max(cut, at)
		}
	}
	if cut < 0 {
		return 0, nil
	}
	var total int64
	for {
		n, err := s.exec(ctx, "DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE project_id = $1 AND at_ms <= $2 LIMIT $3)",
			projectID, cut, pruneBatch)
		if err != nil {
			return total, wrap("prune requests of "+projectID, err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

// requestPartitionsAhead is how many days after today have their
// partition made in advance: pruning runs every hour, so a day's
// partition is there long before its first request.
const requestPartitionsAhead = 2

// partitionRequests makes the day partitions of the request log from
// yesterday to requestPartitionsAhead days after now (a day whose rows
// are in the default partition already keeps them there) and drops the
// partitions of the days that ended by before, returning how many rows
// went with them.
func (s *Store) partitionRequests(ctx context.Context, now, before time.Time) (int64, error) {
	const day = 24 * time.Hour
	today := now.UTC().Truncate(day)
	for d := today.Add(-day); !d.After(today.Add(requestPartitionsAhead * day)); d = d.Add(day) {
		name := "requests_" + d.Format("20060102")
		var exists bool
		if err := s.db.QueryRowContext(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&exists); err != nil {
			return 0, err
		}
		if exists || !d.Add(day).After(before) {
			continue
		}
		_, err := s.db.ExecContext(ctx, fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s PARTITION OF requests FOR VALUES FROM (%d) TO (%d)",
			name, d.UnixMilli(), d.Add(day).UnixMilli()))
		if err != nil {
			// Rows of that day in the default partition: the day stays there.
			s.log.Warn("request log: no partition for a day", "day", d.Format(time.DateOnly), "err", err)
		}
	}
	rows, err := s.db.QueryContext(ctx, "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "+
		"WHERE i.inhparent = to_regclass('requests') AND c.relname <> 'requests_default'")
	if err != nil {
		return 0, err
	}
	names, err := collect(rows, func(row scanner) (name string, err error) {
		err = row.Scan(&name)
		return name, err
	})
	if err != nil {
		return 0, err
	}
	var dropped int64
	for _, name := range names {
		d, err := time.Parse("20060102", strings.TrimPrefix(name, "requests_"))
		if err != nil || d.Add(day).After(before) {
			continue
		}
		var n int64
		if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+name).Scan(&n); err != nil {
			return dropped, err
		}
		if _, err := s.db.ExecContext(ctx, "DROP TABLE "+name); err != nil {
			return dropped, fmt.Errorf("drop %s: %w", name, err)
		}
		dropped += n
	}
	return dropped, nil
}
