package sqlstore

import (
	"context"
	"strconv"
	"time"

	"github.com/apogee-dev/apogee"
)

var _ apogee.AuditStore = (*Store)(nil)

const auditCols = "id, at, owner_id, actor_id, actor, client_addr, action, target, project_id, project, detail"

// AddAudit appends e; its ID is the log's own sequence.
func (s *Store) AddAudit(ctx context.Context, e *apogee.AuditEntry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = normTime(e.At)
	err := s.db.QueryRowContext(ctx, "INSERT INTO audit_log (at, owner_id, actor_id, actor, client_addr, action, target, project_id, project, detail) "+
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
		s.d.timeArg(e.At), e.OwnerID, e.ActorID, e.Actor, e.ClientAddr, e.Action, e.Target, e.ProjectID, e.Project, e.Detail).Scan(&e.ID)
	return wrap("add audit entry", err)
}

// AuditLog returns the entries q selects, newest first.
func (s *Store) AuditLog(ctx context.Context, q apogee.AuditQuery) ([]*apogee.AuditEntry, error) {
	if !q.All && q.OwnerID == "" {
		return nil, apogee.Errorf(apogee.EINVALID, "an audit query names an owner or asks for all")
	}
	where, args := "1 = 1", []any{}
	arg := func(cond string, v any) {
		args = append(args, v)
		where += " AND " + cond + " $" + strconv.Itoa(len(args))
	}
	if !q.All {
		arg("owner_id =", q.OwnerID)
	}
	if q.ProjectID != "" {
		arg("project_id =", q.ProjectID)
	}
	if !q.Since.IsZero() {
		arg("at >=", s.d.timeArg(normTime(q.Since)))
	}
	if q.Before > 0 {
		arg("id <", q.Before)
	}
	limit := q.Limit
	if limit <= 0 || limit > apogee.MaxAuditPage {
		limit = apogee.MaxAuditPage
	}
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+auditCols+" FROM audit_log WHERE "+where+
		" ORDER BY id DESC LIMIT "+strconv.Itoa(limit), args...)
	if err != nil {
		return nil, wrap("audit log", err)
	}
	out, err := collect(rows, func(r scanner) (*apogee.AuditEntry, error) {
		var e apogee.AuditEntry
		err := r.Scan(&e.ID, timeCol{&e.At}, &e.OwnerID, &e.ActorID, &e.Actor, &e.ClientAddr, &e.Action, &e.Target,
			&e.ProjectID, &e.Project, &e.Detail)
		return &e, err
	})
	return out, wrap("audit log", err)
}

func (s *Store) AuditOwners(ctx context.Context) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT DISTINCT owner_id FROM audit_log ORDER BY owner_id")
	if err != nil {
		return nil, wrap("audit owners", err)
	}
	out, err := collect(rows, func(r scanner) (string, error) {
		var id string
		return id, r.Scan(&id)
	})
	return out, wrap("audit owners", err)
}

func (s *Store) PruneAudit(ctx context.Context, ownerID string, before time.Time) (int64, error) {
	n, err := s.exec(ctx, "DELETE FROM audit_log WHERE owner_id = $1 AND at < $2", ownerID, s.d.timeArg(normTime(before)))
	return n, wrap("prune audit log", err)
}
