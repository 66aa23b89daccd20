package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
)

var _ apogee.WebhookStore = (*Store)(nil)

const webhookCols = "id, project_id, team_id, url, secret, events, created_at, last_status, last_at, last_code, last_error"

func scanWebhook(row scanner) (*apogee.Webhook, error) {
	var h apogee.Webhook
	var events string
	var projectID, teamID sql.NullString
	err := row.Scan(&h.ID, &projectID, &teamID, &h.URL, &h.Secret, &events, timeCol{&h.CreatedAt},
		&h.LastStatus, nullTimeCol{&h.LastAt}, &h.LastCode, &h.LastError)
	h.ProjectID, h.TeamID = projectID.String, teamID.String
	h.Events = splitEvents(events)
	return &h, err
}

// splitEvents reads the comma-separated events column ("" = all).
func splitEvents(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// CreateWebhook inserts h in one transaction that first locks the row of
// its owner, the project or the team (on PostgreSQL; SQLite's writer
// holds the database), so the count checked against apogee.MaxWebhooks
// cannot be passed by concurrent calls.
func (s *Store) CreateWebhook(ctx context.Context, h *apogee.Webhook) error {
	if h.CreatedAt.IsZero() {
		h.CreatedAt = time.Now()
	}
	h.CreatedAt = normTime(h.CreatedAt)
	if h.Events == nil {
		h.Events = []string{}
	}
	if (h.ProjectID == "") == (h.TeamID == "") {
		return apogee.Errorf(apogee.EINVALID, "a webhook belongs to a project or to a team: give exactly one")
	}
	table, col, owner, what := "projects", "project_id", h.ProjectID, "project"
	if h.TeamID != "" {
		table, col, owner, what = "teams", "team_id", h.TeamID, "team"
	}
	return s.inTx(ctx, "create webhook", func(tx *sql.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, "SELECT id FROM "+table+" WHERE id = $1"+s.d.lockRow(), owner).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(what, owner)
		}
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM webhooks WHERE "+col+" = $1", owner).Scan(&n); err != nil {
			return err
		}
		if n >= apogee.MaxWebhooks {
			return apogee.Errorf(apogee.ETOOLARGE, "the %s has %d webhooks; the limit is %d: remove one before adding another", what, n, apogee.MaxWebhooks)
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO webhooks (id, project_id, team_id, url, secret, events, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
			h.ID, nullString(h.ProjectID), nullString(h.TeamID), h.URL, h.Secret, strings.Join(h.Events, ","), s.d.timeArg(h.CreatedAt))
		if isUnique(err) {
			return apogee.Errorf(apogee.ECONFLICT, "webhook %q exists already", h.ID)
		}
		return err
	})
}

func (s *Store) ListWebhooks(ctx context.Context, projectID string) ([]*apogee.Webhook, error) {
	rows, err := s.rdb.QueryContext(ctx,
		"SELECT "+webhookCols+" FROM webhooks WHERE project_id = $1 ORDER BY created_at, id", projectID)
	if err != nil {
		return nil, wrap("list webhooks", err)
	}
	hs, err := collect(rows, scanWebhook)
	return hs, wrap("list webhooks", err)
}

func (s *Store) WebhookByID(ctx context.Context, projectID, id string) (*apogee.Webhook, error) {
	h, err := scanWebhook(s.rdb.QueryRowContext(ctx,
		"SELECT "+webhookCols+" FROM webhooks WHERE project_id = $1 AND id = $2", projectID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("webhook", id)
	}
	if err != nil {
		return nil, wrap("webhook by id", err)
	}
	return h, nil
}

func (s *Store) DeleteWebhook(ctx context.Context, projectID, id string) error {
	n, err := s.exec(ctx, "DELETE FROM webhooks WHERE project_id = $1 AND id = $2", projectID, id)
	if err != nil {
		return wrap("delete webhook", err)
	}
	if n == 0 {
		return notFound("webhook", id)
	}
	return nil
}

func (s *Store) ListTeamWebhooks(ctx context.Context, teamID string) ([]*apogee.Webhook, error) {
	rows, err := s.rdb.QueryContext(ctx,
		"SELECT "+webhookCols+" FROM webhooks WHERE team_id = $1 ORDER BY created_at, id", teamID)
	if err != nil {
		return nil, wrap("list team webhooks", err)
	}
	hs, err := collect(rows, scanWebhook)
	return hs, wrap("list team webhooks", err)
}

func (s *Store) TeamWebhookByID(ctx context.Context, teamID, id string) (*apogee.Webhook, error) {
	h, err := scanWebhook(s.rdb.QueryRowContext(ctx,
		"SELECT "+webhookCols+" FROM webhooks WHERE team_id = $1 AND id = $2", teamID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("webhook", id)
	}
	if err != nil {
		return nil, wrap("team webhook by id", err)
	}
	return h, nil
}

func (s *Store) DeleteTeamWebhook(ctx context.Context, teamID, id string) error {
	n, err := s.exec(ctx, "DELETE FROM webhooks WHERE team_id = $1 AND id = $2", teamID, id)
	if err != nil {
		return wrap("delete team webhook", err)
	}
	if n == 0 {
		return notFound("webhook", id)
	}
	return nil
}

func (s *Store) Webhook(ctx context.Context, id string) (*apogee.Webhook, error) {
	h, err := scanWebhook(s.rdb.QueryRowContext(ctx, "SELECT "+webhookCols+" FROM webhooks WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("webhook", id)
	}
	if err != nil {
		return nil, wrap("webhook", err)
	}
	return h, nil
}

func (s *Store) RecordWebhookDelivery(ctx context.Context, id string, d apogee.WebhookDelivery) error {
	n, err := s.exec(ctx, "UPDATE webhooks SET last_status = $1, last_at = $2, last_code = $3, last_error = $4 WHERE id = $5",
		d.Status, s.d.timeArg(d.At), d.Code, d.Error, id)
	if err != nil {
		return wrap("record webhook delivery", err)
	}
	if n == 0 {
		return notFound("webhook", id)
	}
	return nil
}
