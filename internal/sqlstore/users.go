package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
)

const userCols = "id, email, password, admin, created_at, plan_id, disabled_at"

func scanUser(row scanner) (*apogee.User, error) {
	var u apogee.User
	var plan sql.NullString
	err := row.Scan(&u.ID, &u.Email, &u.Password, &u.Admin, timeCol{&u.CreatedAt}, &plan, nullTimeCol{&u.DisabledAt})
	u.PlanID = plan.String
	return &u, err
}

// CreateUser inserts u. It stores the email lower-case and fills in an
// empty ID and a zero CreatedAt; u is updated to what was stored.
func (s *Store) CreateUser(ctx context.Context, u *apogee.User) error {
	if u.ID == "" {
		u.ID = apogee.NewID()
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now()
	}
	u.Email = strings.ToLower(u.Email)
	u.CreatedAt = normTime(u.CreatedAt)
	_, err := s.exec(ctx, "INSERT INTO users ("+userCols+") VALUES ($1, $2, $3, $4, $5, $6, $7)",
		u.ID, u.Email, u.Password, u.Admin, s.d.timeArg(u.CreatedAt), nullString(u.PlanID), s.d.nullTimeArg(u.DisabledAt))
	if isUnique(err) {
		return apogee.Errorf(apogee.ECONFLICT, "a user with email %q exists already", u.Email)
	}
	return wrap("create user", err)
}

// UserByEmail returns the user with email, compared case-insensitively.
func (s *Store) UserByEmail(ctx context.Context, email string) (*apogee.User, error) {
	email = strings.ToLower(email)
	u, err := scanUser(s.rdb.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE email = $1 AND kind = 'user'", email))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user", email)
	}
	if err != nil {
		return nil, wrap("user by email", err)
	}
	return u, nil
}

func (s *Store) UserByID(ctx context.Context, id string) (*apogee.User, error) {
	u, err := scanUser(s.rdb.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user", id)
	}
	if err != nil {
		return nil, wrap("user by id", err)
	}
	return u, nil
}

// ListUsers returns every user ordered by email; teams, which are
// accounts too, are not users.
func (s *Store) ListUsers(ctx context.Context) ([]*apogee.User, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+userCols+" FROM users WHERE kind = 'user' ORDER BY email")
	if err != nil {
		return nil, wrap("list users", err)
	}
	users, err := collect(rows, scanUser)
	return users, wrap("list users", err)
}

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
