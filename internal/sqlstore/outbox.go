package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
)

var _ apogee.WebhookOutboxStore = (*Store)(nil)

const outboxCols = "id, webhook_id, project_id, event, body, attempts, due_at, lease_holder, lease_until, created_at"

func (s *Store) QueueWebhookDeliveries(ctx context.Context, items []*apogee.WebhookOutboxItem) error {
	now := normTime(time.Now())
	return s.inTx(ctx, "queue webhook deliveries", func(tx *sql.Tx) error {
		for _, it := range items {
			if it.CreatedAt.IsZero() {
				it.CreatedAt = now
			}
			if it.DueAt.IsZero() {
				it.DueAt = it.CreatedAt
			}
			it.CreatedAt, it.DueAt = normTime(it.CreatedAt), normTime(it.DueAt)
			_, err := tx.ExecContext(ctx, `INSERT INTO webhook_outbox (id, webhook_id, project_id, event, body, attempts, due_at, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				it.ID, it.WebhookID, it.ProjectID, it.Event, string(it.Body), it.Attempts, s.d.timeArg(it.DueAt), s.d.timeArg(it.CreatedAt))
			if isForeignKey(err) {
				return notFound("webhook", it.WebhookID)
			}
			if isUnique(err) {
				return apogee.Errorf(apogee.ECONFLICT, "delivery %q is queued already", it.ID)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// ClaimWebhookDeliveries: PostgreSQL skips rows other servers are
// claiming (FOR UPDATE SKIP LOCKED); SQLite has one writer.
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, holder string, now, until time.Time, limit int) ([]*apogee.WebhookOutboxItem, error) {
	if holder == "" || limit <= 0 {
		return nil, apogee.Errorf(apogee.EINVALID, "a claim needs a holder and a limit above 0")
	}
	skip := ""
	if s.d == dialectPostgres {
		skip = " FOR UPDATE SKIP LOCKED"
	}
	var items []*apogee.WebhookOutboxItem
	err := s.inTx(ctx, "claim webhook deliveries", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT seq FROM webhook_outbox
			WHERE due_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
			ORDER BY due_at, seq LIMIT `+strconv.Itoa(limit)+skip, s.d.timeArg(now))
		if err != nil {
			return err
		}
		seqs, err := collect(rows, func(row scanner) (n int64, err error) {
			err = row.Scan(&n)
			return n, err
		})
		if err != nil || len(seqs) == 0 {
			return err
		}
		marks := make([]string, len(seqs))
		args := []any{holder, s.d.timeArg(until)}
		for i, n := range seqs {
			marks[i] = "$" + strconv.Itoa(i+3)
			args = append(args, n)
		}
		rows, err = tx.QueryContext(ctx, "UPDATE webhook_outbox SET lease_holder = $1, lease_until = $2 WHERE seq IN ("+
			strings.Join(marks, ", ")+") RETURNING "+outboxCols+", seq", args...)
		if err != nil {
			return err
		}
		type withSeq struct {
			it  *apogee.WebhookOutboxItem
			seq int64
		}
		got, err := collect(rows, func(row scanner) (withSeq, error) {
			var it apogee.WebhookOutboxItem
			var body string
			var until *time.Time
			var seq int64
			err := row.Scan(&it.ID, &it.WebhookID, &it.ProjectID, &it.Event, &body, &it.Attempts, timeCol{&it.DueAt},
				&it.LeaseHolder, nullTimeCol{&until}, timeCol{&it.CreatedAt}, &seq)
			it.Body = []byte(body)
			if until != nil {
				it.LeaseUntil = *until
			}
			return withSeq{&it, seq}, err
		})
		if err != nil {
			return err
		}
		// RETURNING comes in no promised order: put it back in the claim's.
		for _, n := range seqs {
			for _, g := range got {
				if g.seq == n {
					items = append(items, g.it)
				}
			}
		}
		return nil
	})
	return items, err
}

func (s *Store) RetryWebhookDelivery(ctx context.Context, id string, attempts int, due time.Time) error {
	n, err := s.exec(ctx, "UPDATE webhook_outbox SET attempts = $2, due_at = $3, lease_holder = '', lease_until = NULL WHERE id = $1",
		id, attempts, s.d.timeArg(due))
	if err != nil {
		return wrap("retry webhook delivery", err)
	}
	if n == 0 {
		return notFound("webhook delivery", id)
	}
	return nil
}

func (s *Store) FinishWebhookDelivery(ctx context.Context, id string) error {
	_, err := s.exec(ctx, "DELETE FROM webhook_outbox WHERE id = $1", id)
	return wrap("finish webhook delivery", err)
}

func (s *Store) PendingWebhookDeliveries(ctx context.Context) (int, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, "SELECT COUNT(*) FROM webhook_outbox").Scan(&n)
	return n, wrap("pending webhook deliveries", err)
}
