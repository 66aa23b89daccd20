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

// Runtime logs: see migration 00020. runtime_log_heads numbers a
// project's lines and keeps their count and size; runtime_logs holds them.

var _ apogee.RuntimeLogStore = (*Store)(nil)

// pruneBatch is how many lines one pruning transaction deletes at most,
// so that pruning a large log never holds the writer for long.
const pruneBatch = 5000

// AppendRuntimeLogs numbers lines after the project's last and stores
// them. The upsert of the head row serializes appends to one project (a
// row lock on PostgreSQL, the one writer on SQLite) until commit.
func (s *Store) AppendRuntimeLogs(ctx context.Context, projectID string, lines []apogee.LogLine) ([]apogee.LogLine, apogee.RuntimeLogStats, error) {
	if len(lines) == 0 {
		st, err := s.RuntimeLogStats(ctx, projectID)
		return nil, st, err
	}
	out := make([]apogee.LogLine, len(lines))
	var bytes int64
	for i, l := range lines {
		l.Time = normTime(l.Time)
		out[i] = l
		bytes += apogee.RuntimeLogSize(l)
	}
	n := int64(len(lines))
	st := apogee.RuntimeLogStats{ProjectID: projectID}
	err := s.inTx(ctx, "append runtime logs", func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO runtime_log_heads (project_id, last_seq, lines, bytes) VALUES ($1, $2, $3, $4)
			ON CONFLICT (project_id) DO UPDATE SET last_seq = runtime_log_heads.last_seq + excluded.last_seq,
				lines = runtime_log_heads.lines + excluded.lines, bytes = runtime_log_heads.bytes + excluded.bytes
			RETURNING last_seq, lines, bytes`, projectID, n, n, bytes).Scan(&st.LastSeq, &st.Lines, &st.Bytes)
		if isForeignKey(err) {
			return notFound("project", projectID)
		}
		if err != nil {
			return err
		}
		seq := st.LastSeq - n
		args := make([]any, 0, 7*min(len(out), logsPerInsert))
		for chunk := range slices.Chunk(out, logsPerInsert) {
			args = args[:0]
			for i := range chunk {
				seq++
				l := &chunk[i]
				l.Seq = seq
				args = append(args, projectID, l.Seq, s.d.timeArg(l.Time), l.Stream, l.Instance, l.Text, apogee.RuntimeLogSize(*l))
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO runtime_logs (project_id, seq, at, stream, instance, text, size) VALUES "+
				s.d.rowsSQL(len(chunk), 7), args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, apogee.RuntimeLogStats{}, err
	}
	return out, st, nil
}

// RuntimeLogs returns the lines q selects, in seq order.
func (s *Store) RuntimeLogs(ctx context.Context, projectID string, q apogee.RuntimeLogQuery) ([]apogee.LogLine, error) {
	var b strings.Builder
	args := []any{projectID}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	b.WriteString("SELECT seq, at, stream, instance, text FROM runtime_logs WHERE project_id = $1")
	if q.AfterSeq > 0 {
		b.WriteString(" AND seq > " + arg(q.AfterSeq))
	}
	if q.BeforeSeq > 0 {
		b.WriteString(" AND seq < " + arg(q.BeforeSeq))
	}
	if !q.Since.IsZero() {
		b.WriteString(" AND at >= " + arg(s.d.timeArg(q.Since)))
	}
	if !q.Until.IsZero() {
		b.WriteString(" AND at < " + arg(s.d.timeArg(q.Until)))
	}
	if q.Instance != "" {
		b.WriteString(" AND instance = " + arg(q.Instance))
	}
	if q.Search != "" {
		b.WriteString(" AND " + s.d.containsASCIIFold("text", arg(lowerASCII(q.Search))))
	}
	if q.Tail {
		b.WriteString(" ORDER BY seq DESC")
	} else {
		b.WriteString(" ORDER BY seq")
	}
	if q.Limit > 0 {
		b.WriteString(" LIMIT " + arg(q.Limit))
	}
	rows, err := s.rdb.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, wrap("runtime logs", err)
	}
	lines, err := collect(rows, func(row scanner) (l apogee.LogLine, err error) {
		err = row.Scan(&l.Seq, timeCol{&l.Time}, &l.Stream, &l.Instance, &l.Text)
		return l, err
	})
	if q.Tail {
		slices.Reverse(lines)
	}
	return lines, wrap("runtime logs", err)
}

// containsASCIIFold is the condition "col contains sub", sub being
// lower-case already, ignoring the case of ASCII letters only (SQLite's
// lower() folds only those; PostgreSQL's would fold more, so it
// translates just A-Z).
func (d dialect) containsASCIIFold(col, sub string) string {
	if d == dialectPostgres {
		return "strpos(translate(" + col + ", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), " + sub + ") > 0"
	}
	return "instr(lower(" + col + "), " + sub + ") > 0"
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

const runtimeLogStatsSelect = `SELECT h.project_id, p.owner_id, h.last_seq, h.lines, h.bytes
	FROM runtime_log_heads h JOIN projects p ON p.id = h.project_id`

func scanRuntimeLogStats(row scanner) (st apogee.RuntimeLogStats, err error) {
	err = row.Scan(&st.ProjectID, &st.OwnerID, &st.LastSeq, &st.Lines, &st.Bytes)
	return st, err
}

// RuntimeLogStats returns the size of a project's runtime log.
func (s *Store) RuntimeLogStats(ctx context.Context, projectID string) (apogee.RuntimeLogStats, error) {
	st, err := scanRuntimeLogStats(s.rdb.QueryRowContext(ctx, runtimeLogStatsSelect+" WHERE h.project_id = $1", projectID))
	if errors.Is(err, sql.ErrNoRows) {
		return apogee.RuntimeLogStats{ProjectID: projectID}, nil
	}
	return st, wrap("runtime log stats", err)
}

// RuntimeLogProjects returns the size of every runtime log with lines.
func (s *Store) RuntimeLogProjects(ctx context.Context) ([]apogee.RuntimeLogStats, error) {
	rows, err := s.rdb.QueryContext(ctx, runtimeLogStatsSelect+" WHERE h.lines > 0 ORDER BY h.project_id")
	if err != nil {
		return nil, wrap("runtime log projects", err)
	}
	out, err := collect(rows, scanRuntimeLogStats)
	return out, wrap("runtime log projects", err)
}

// PruneRuntimeLogs deletes lines older than before, then the oldest until
// at most maxBytes are left, pruneBatch lines per transaction.
func (s *Store) PruneRuntimeLogs(ctx context.Context, projectID string, before time.Time, maxBytes int64) (lines, bytes int64, err error) {
	for _, byAge := range []bool{true, false} {
		if byAge && before.IsZero() || !byAge && maxBytes < 0 {
			continue
		}
		for {
			n, b, more, err := s.pruneBatch(ctx, projectID, byAge, before, maxBytes)
			lines, bytes = lines+n, bytes+b
			if err != nil {
				return lines, bytes, err
			}
			if !more {
				break
			}
		}
	}
	return lines, bytes, nil
}

// pruneBatch deletes up to pruneBatch of the oldest lines (by seq): with
// byAge, those before before; else as many as it takes to leave at most
// maxBytes. more reports whether another batch is due.
func (s *Store) pruneBatch(ctx context.Context, projectID string, byAge bool, before time.Time, maxBytes int64) (lines, bytes int64, more bool, err error) {
	err = s.inTx(ctx, "prune runtime logs", func(tx *sql.Tx) error {
		var stored int64
		err := tx.QueryRowContext(ctx, "SELECT bytes FROM runtime_log_heads WHERE project_id = $1"+s.d.lockRow(), projectID).Scan(&stored)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		q := "SELECT seq, size FROM runtime_logs WHERE project_id = $1"
		args := []any{projectID}
		excess := stored - maxBytes
		if byAge {
			q += " AND at < $2"
			args = append(args, s.d.timeArg(before))
		} else if excess <= 0 {
			return nil
		}
		rows, err := tx.QueryContext(ctx, q+fmt.Sprintf(" ORDER BY seq LIMIT %d", pruneBatch), args...)
		if err != nil {
			return err
		}
		type row struct{ seq, size int64 }
		got, err := collect(rows, func(r scanner) (v row, err error) {
			err = r.Scan(&v.seq, &v.size)
			return v, err
		})
		if err != nil {
			return err
		}
		cut := int64(0)
		for _, r := range got {
			if !byAge && bytes >= excess {
				break
			}
			cut, lines, bytes = r.seq, lines+1, bytes+r.size
		}
		if lines == 0 {
			return nil
		}
		// Every line before cut that the batch selects is in got, since it
		// took the lowest seqs: the delete removes exactly those.
		del := "DELETE FROM runtime_logs WHERE project_id = $1 AND seq <= $2"
		dargs := []any{projectID, cut}
		if byAge {
			del += " AND at < $3"
			dargs = append(dargs, s.d.timeArg(before))
		}
		if _, err := tx.ExecContext(ctx, del, dargs...); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE runtime_log_heads SET lines = lines - $2, bytes = bytes - $3 WHERE project_id = $1",
			projectID, lines, bytes); err != nil {
			return err
		}
		more = len(got) == pruneBatch && (byAge || bytes < excess)
		return nil
	})
	if err != nil {
		return 0, 0, false, err
	}
	return lines, bytes, more, nil
}
