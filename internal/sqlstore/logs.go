package sqlstore

import (
	"context"
	"database/sql"
	"slices"

	"github.com/apogee-dev/apogee"
)

// logsPerInsert is how many log lines one INSERT carries.
const logsPerInsert = 500

// AppendLogs stores lines; lines whose seq is stored already are skipped.
func (s *Store) AppendLogs(ctx context.Context, deploymentID string, lines []apogee.LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	return s.inTx(ctx, "append logs", func(tx *sql.Tx) error {
		args := make([]any, 0, 5*min(len(lines), logsPerInsert))
		for chunk := range slices.Chunk(lines, logsPerInsert) {
			args = args[:0]
			for _, l := range chunk {
				args = append(args, deploymentID, l.Seq, s.d.timeArg(l.Time), l.Stream, l.Text)
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO deployment_logs (deployment_id, seq, at, stream, text) VALUES "+
				s.d.rowsSQL(len(chunk), 5)+" ON CONFLICT (deployment_id, seq) DO NOTHING", args...)
			if isForeignKey(err) {
				return notFound("deployment", deploymentID)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// Logs returns up to limit lines after afterSeq, in order.
func (s *Store) Logs(ctx context.Context, deploymentID string, afterSeq int64, limit int) ([]apogee.LogLine, error) {
	q := "SELECT seq, at, stream, text FROM deployment_logs WHERE deployment_id = $1 AND seq > $2 ORDER BY seq"
	args := []any{deploymentID, afterSeq}
	if limit > 0 {
		q += " LIMIT $3"
		args = append(args, limit)
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap("logs", err)
	}
	lines, err := collect(rows, func(row scanner) (l apogee.LogLine, err error) {
		err = row.Scan(&l.Seq, timeCol{&l.Time}, &l.Stream, &l.Text)
		return l, err
	})
	return lines, wrap("logs", err)
}
