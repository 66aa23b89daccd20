package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/apogee-dev/apogee"
)

// Plans: see migration 00011. A user's plan is users.plan_id, or the one
// plan with is_default when it is NULL.

const planCols = "id, name, is_default, projects, concurrent_builds, build_minutes, storage_bytes, custom_domains, created_at, " +
	"app_memory_mb, app_cpus, app_pids, app_instances, releases_kept, runtime_log_bytes, runtime_log_days, dns_zones, dns_records, request_log_days, request_log_rows, audit_log_days"

// planSelect reads a plan with the number of people and of teams on it
// by choice (a team is a users row of kind 'team').
const planSelect = "SELECT " + planCols + ", (SELECT COUNT(*) FROM users WHERE users.plan_id = plans.id AND users.kind = 'user'), " +
	"(SELECT COUNT(*) FROM users WHERE users.plan_id = plans.id AND users.kind = 'team') FROM plans"

func scanPlan(row scanner) (*apogee.Plan, error) {
	var p apogee.Plan
	l := &p.Limits
	err := row.Scan(&p.ID, &p.Name, &p.Default, &l.Projects, &l.ConcurrentBuilds, &l.BuildMinutes,
		&l.StorageBytes, &l.CustomDomains, timeCol{&p.CreatedAt},
		&l.AppMemoryMB, &l.AppCPUs, &l.AppPids, &l.AppInstances, &l.ReleasesKept, &l.RuntimeLogBytes, &l.RuntimeLogDays,
		&l.DNSZones, &l.DNSRecords, &l.RequestLogDays, &l.RequestLogRows, &l.AuditLogDays, &p.Users, &p.Teams)
	return &p, err
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func errPlanName(name string) error {
	return apogee.Errorf(apogee.ECONFLICT, "a plan named %q exists already; choose another name", name)
}

// CreatePlan inserts p; if p.Default, it becomes the default plan in the
// same transaction.
func (s *Store) CreatePlan(ctx context.Context, p *apogee.Plan) error {
	if p.ID == "" {
		p.ID = apogee.NewID()
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Now()
	}
	p.CreatedAt = normTime(p.CreatedAt)
	return s.inTx(ctx, "create plan", func(tx *sql.Tx) error {
		if p.Default {
			if _, err := tx.ExecContext(ctx, "UPDATE plans SET is_default = $1 WHERE is_default = $2", false, true); err != nil {
				return err
			}
		}
		l := p.Limits
		_, err := tx.ExecContext(ctx, "INSERT INTO plans ("+planCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
			p.ID, p.Name, p.Default, l.Projects, l.ConcurrentBuilds, l.BuildMinutes, l.StorageBytes, l.CustomDomains,
			s.d.timeArg(p.CreatedAt),
			l.AppMemoryMB, l.AppCPUs, l.AppPids, l.AppInstances, l.ReleasesKept, l.RuntimeLogBytes, l.RuntimeLogDays,
			l.DNSZones, l.DNSRecords, l.RequestLogDays, l.RequestLogRows, l.AuditLogDays)
		if isUnique(err) {
			return errPlanName(p.Name)
		}
		return err
	})
}

// UpdatePlan writes p's name and limits and, if p.Default, makes it the
// default.
func (s *Store) UpdatePlan(ctx context.Context, p *apogee.Plan) error {
	return s.inTx(ctx, "update plan", func(tx *sql.Tx) error {
		var wasDefault bool
		err := tx.QueryRowContext(ctx, "SELECT is_default FROM plans WHERE id = $1"+s.d.lockRow(), p.ID).Scan(&wasDefault)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("plan", p.ID)
		}
		if err != nil {
			return err
		}
		if wasDefault && !p.Default {
			return apogee.Errorf(apogee.EINVALID, "plan %q is the default; make another plan the default instead", p.Name)
		}
		if p.Default && !wasDefault {
			if _, err := tx.ExecContext(ctx, "UPDATE plans SET is_default = $1 WHERE is_default = $2", false, true); err != nil {
				return err
			}
		}
		l := p.Limits
		_, err = tx.ExecContext(ctx, `UPDATE plans SET name = $2, is_default = $3, projects = $4, concurrent_builds = $5,
			build_minutes = $6, storage_bytes = $7, custom_domains = $8, app_memory_mb = $9, app_cpus = $10, app_pids = $11,
			app_instances = $12, releases_kept = $13, runtime_log_bytes = $14, runtime_log_days = $15,
			dns_zones = $16, dns_records = $17, request_log_days = $18, request_log_rows = $19, audit_log_days = $20 WHERE id = $1`,
			p.ID, p.Name, p.Default, l.Projects, l.ConcurrentBuilds, l.BuildMinutes, l.StorageBytes, l.CustomDomains,
			l.AppMemoryMB, l.AppCPUs, l.AppPids, l.AppInstances, l.ReleasesKept, l.RuntimeLogBytes, l.RuntimeLogDays,
			l.DNSZones, l.DNSRecords, l.RequestLogDays, l.RequestLogRows, l.AuditLogDays)
		if isUnique(err) {
			return errPlanName(p.Name)
		}
		return err
	})
}

// DeletePlan removes a plan no user is on that is not the default.
func (s *Store) DeletePlan(ctx context.Context, id string) error {
	return s.inTx(ctx, "delete plan", func(tx *sql.Tx) error {
		p, err := scanPlan(tx.QueryRowContext(ctx, planSelect+" WHERE id = $1"+s.d.lockRow(), id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("plan", id)
		}
		if err != nil {
			return err
		}
		if p.Default {
			return apogee.Errorf(apogee.ECONFLICT, "plan %q is the default; make another plan the default before deleting it", p.Name)
		}
		if p.Users > 0 {
			return apogee.Errorf(apogee.ECONFLICT, "%d users are on plan %q; move them to another plan first", p.Users, p.Name)
		}
		if p.Teams > 0 {
			return apogee.Errorf(apogee.ECONFLICT, "plan %q has %d team(s) on it; move them to another plan first (apogee admin users set-plan team:NAME PLAN)", p.Name, p.Teams)
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM plans WHERE id = $1", id)
		if isForeignKey(err) {
			// A user was put on it meanwhile (SQLite serializes; on
			// PostgreSQL the key check catches it).
			return apogee.Errorf(apogee.ECONFLICT, "users are on plan %q; move them to another plan first", p.Name)
		}
		return err
	})
}

// ListPlans returns every plan by name.
func (s *Store) ListPlans(ctx context.Context) ([]*apogee.Plan, error) {
	rows, err := s.rdb.QueryContext(ctx, planSelect+" ORDER BY name")
	if err != nil {
		return nil, wrap("list plans", err)
	}
	ps, err := collect(rows, scanPlan)
	return ps, wrap("list plans", err)
}

func (s *Store) plan(ctx context.Context, op, where string, args ...any) (*apogee.Plan, error) {
	p, err := scanPlan(s.rdb.QueryRowContext(ctx, planSelect+" WHERE "+where, args...))
	if err != nil {
		return nil, wrap(op, err)
	}
	return p, nil
}

// PlanByID returns one plan.
func (s *Store) PlanByID(ctx context.Context, id string) (*apogee.Plan, error) {
	p, err := s.plan(ctx, "plan by id", "id = $1", id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("plan", id)
	}
	return p, err
}

// DefaultPlan returns the default plan.
func (s *Store) DefaultPlan(ctx context.Context) (*apogee.Plan, error) {
	p, err := s.plan(ctx, "default plan", "is_default = $1", true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("plan", "default")
	}
	return p, err
}

// UserPlan returns the user's own plan or the default.
func (s *Store) UserPlan(ctx context.Context, userID string) (*apogee.Plan, error) {
	p, err := s.plan(ctx, "user plan",
		"id = (SELECT COALESCE(u.plan_id, (SELECT d.id FROM plans d WHERE d.is_default = $2)) FROM users u WHERE u.id = $1)",
		userID, true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user", userID)
	}
	return p, err
}

// SetUserPlan puts the user on planID ("" = the default).
func (s *Store) SetUserPlan(ctx context.Context, userID, planID string) error {
	n, err := s.exec(ctx, "UPDATE users SET plan_id = $2 WHERE id = $1", userID, nullString(planID))
	if isForeignKey(err) {
		return notFound("plan", planID)
	}
	return s.userUpdated("set user plan", userID, n, err)
}

// SetUserDisabled disables (at) or enables (nil) the user.
func (s *Store) SetUserDisabled(ctx context.Context, userID string, at *time.Time) error {
	n, err := s.exec(ctx, "UPDATE users SET disabled_at = $2 WHERE id = $1", userID, s.d.nullTimeArg(at))
	return s.userUpdated("set user disabled", userID, n, err)
}

// SetUserAdmin grants or removes the admin flag.
func (s *Store) SetUserAdmin(ctx context.Context, userID string, admin bool) error {
	n, err := s.exec(ctx, "UPDATE users SET admin = $2 WHERE id = $1", userID, admin)
	return s.userUpdated("set user admin", userID, n, err)
}

func (s *Store) userUpdated(op, userID string, n int64, err error) error {
	if err != nil {
		return wrap(op, err)
	}
	if n == 0 {
		return notFound("user", userID)
	}
	return nil
}

// Usage measures the user's use of their plan's limits.
func (s *Store) Usage(ctx context.Context, userID string, since, now time.Time) (*apogee.Usage, error) {
	var u apogee.Usage
	err := s.rdb.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM projects WHERE owner_id = $1),
		(SELECT COUNT(*) FROM deployments d JOIN projects p ON p.id = d.project_id WHERE p.owner_id = $1 AND d.status = $2),
		(SELECT COUNT(*) FROM deployments d JOIN projects p ON p.id = d.project_id WHERE p.owner_id = $1 AND d.status = $3),
		(SELECT COUNT(*) FROM domains m JOIN projects p ON p.id = m.project_id WHERE p.owner_id = $1)`,
		userID, apogee.StatusBuilding, apogee.StatusQueued).
		Scan(&u.Projects, &u.BuildsRunning, &u.BuildsQueued, &u.CustomDomains)
	if err != nil {
		return nil, wrap("usage", err)
	}
	// Storage: each blob once (a file, its variants, a ZIP that is also
	// a file counts as the file), then caches and logs.
	st := &u.Storage
	err = s.rdb.QueryRowContext(ctx, `WITH files AS (
			SELECT DISTINCT df.sha256, df.size FROM deployment_files df
			JOIN deployments d ON d.id = df.deployment_id JOIN projects p ON p.id = d.project_id
			WHERE p.owner_id = $1)
		SELECT
		(SELECT COALESCE(SUM(size), 0) FROM files),
		(SELECT COALESCE(SUM(v.size), 0) FROM (SELECT DISTINCT bv.variant_sha256, bv.size FROM blob_variants bv
			WHERE bv.sha256 IN (SELECT sha256 FROM files)) v),
		(SELECT COALESCE(SUM(z.size), 0) FROM (SELECT u.blob_sha256, MAX(u.size) AS size FROM uploads u
			JOIN projects p ON p.id = u.project_id
			WHERE p.owner_id = $1 AND u.used_at IS NOT NULL AND u.blob_sha256 NOT IN (SELECT sha256 FROM files)
			GROUP BY u.blob_sha256) z),
		(SELECT COALESCE(SUM(cache_bytes), 0) FROM projects WHERE owner_id = $1),
		(SELECT COALESCE(SUM(`+s.d.octets("l.text")+`), 0) FROM deployment_logs l
			JOIN deployments d ON d.id = l.deployment_id JOIN projects p ON p.id = d.project_id
			WHERE p.owner_id = $1)`, userID).
		Scan(&st.Files, &st.Variants, &st.Uploads, &st.Caches, &st.Logs)
	if err != nil {
		return nil, wrap("usage: storage", err)
	}
	u.StorageBytes = st.Total()
	// Build time: summed here rather than in SQL, where the two
	// dialects' time arithmetic differs; a month has few builds.
	rows, err := s.rdb.QueryContext(ctx, `SELECT d.build_started_at, d.build_finished_at FROM deployments d
		JOIN projects p ON p.id = d.project_id
		WHERE p.owner_id = $1 AND d.build_started_at IS NOT NULL AND d.build_started_at >= $2`,
		userID, s.d.timeArg(since))
	if err != nil {
		return nil, wrap("usage: build time", err)
	}
	defer rows.Close()
	var total time.Duration
	for rows.Next() {
		var start time.Time
		var end *time.Time
		if err := rows.Scan(timeCol{&start}, nullTimeCol{&end}); err != nil {
			return nil, wrap("usage: build time", err)
		}
		stop := now
		if end != nil {
			stop = *end
		}
		if stop.After(start) {
			total += stop.Sub(start)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("usage: build time", err)
	}
	u.BuildSeconds = int64(total.Round(time.Second) / time.Second)
	return &u, nil
}

// NewBytes sums the sizes of the files whose hashes none of the user's
// manifests hold yet.
func (s *Store) NewBytes(ctx context.Context, userID string, files []apogee.File) (int64, error) {
	sizes := make(map[string]int64, len(files))
	for _, f := range files {
		sizes[f.SHA256] = f.Size
	}
	hashes := make([]string, 0, len(sizes))
	for h := range sizes {
		hashes = append(hashes, h)
	}
	for chunk := range slices.Chunk(hashes, inListMax) {
		marks, args := inList(chunk)
		rows, err := s.rdb.QueryContext(ctx, `SELECT DISTINCT df.sha256 FROM deployment_files df
			JOIN deployments d ON d.id = df.deployment_id JOIN projects p ON p.id = d.project_id
			WHERE df.sha256 IN (`+marks+`) AND p.owner_id = $`+strconv.Itoa(len(chunk)+1),
			append(args, userID)...)
		if err != nil {
			return 0, wrap("new bytes", err)
		}
		held, err := collect(rows, func(r scanner) (string, error) {
			var h string
			return h, r.Scan(&h)
		})
		if err != nil {
			return 0, wrap("new bytes", err)
		}
		for _, h := range held {
			delete(sizes, h)
		}
	}
	var total int64
	for _, n := range sizes {
		total += n
	}
	return total, nil
}

// SetCacheBytes records a project's dependency cache size.
func (s *Store) SetCacheBytes(ctx context.Context, projectID string, n int64) error {
	k, err := s.exec(ctx, "UPDATE projects SET cache_bytes = $2 WHERE id = $1", projectID, n)
	if err != nil {
		return wrap("set cache bytes", err)
	}
	if k == 0 {
		return notFound("project", projectID)
	}
	return nil
}
