package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
)

// dayOf returns the SQL expression of the UTC day ("2026-03-01") of a
// time column.
func (d dialect) dayOf(col string) string {
	if d == dialectPostgres {
		return "to_char(" + col + " AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
	}
	return "substr(" + col + ", 1, 10)" // times are stored as 2006-01-02T…Z
}

// storedBytesSQL sums each distinct blob a record refers to once: the
// files of manifests, the compressed variants that paid off, and uploaded
// ZIPs. UNION (not UNION ALL) drops a blob that two of them share.
const storedBytesSQL = `SELECT COALESCE(SUM(size), 0) FROM (
	SELECT sha256 AS h, MAX(size) AS size FROM deployment_files GROUP BY sha256
	UNION
	SELECT variant_sha256, MAX(size) FROM blob_variants WHERE variant_sha256 <> '' GROUP BY variant_sha256
	UNION
	SELECT blob_sha256, MAX(size) FROM uploads WHERE blob_sha256 <> '' GROUP BY blob_sha256
) AS blobs`

// SystemFigures counts the platform's records for the admin view. The
// counts are read one after another, not in one snapshot: figures for a
// person to read, not for accounting.
func (s *Store) SystemFigures(ctx context.Context, since time.Time) (*apogee.SystemFigures, error) {
	f := &apogee.SystemFigures{DeploymentsPerDay: []apogee.DayCount{}}
	err := s.rdb.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM users WHERE kind = 'user'),
		(SELECT COUNT(*) FROM projects),
		(SELECT COUNT(*) FROM deployments),
		(SELECT COUNT(*) FROM deployments WHERE status = $1),
		(SELECT COUNT(*) FROM deployments WHERE status = $2)`,
		apogee.StatusBuilding, apogee.StatusQueued,
	).Scan(&f.Users, &f.Projects, &f.Deployments, &f.BuildsRunning, &f.BuildsQueued)
	if err != nil {
		return nil, wrap("system figures", err)
	}
	// SUM of BIGINT is NUMERIC on PostgreSQL: scan it as text.
	var stored sql.NullString
	if err := s.rdb.QueryRowContext(ctx, storedBytesSQL).Scan(&stored); err != nil {
		return nil, wrap("system figures: stored bytes", err)
	}
	if stored.Valid {
		if f.StoredBytes, err = strconv.ParseInt(stored.String, 10, 64); err != nil {
			return nil, wrap("system figures: stored bytes", err)
		}
	}
	day := s.d.dayOf("created_at")
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+day+" AS day, COUNT(*) FROM deployments WHERE created_at >= $1 GROUP BY "+day+" ORDER BY day",
		s.d.timeArg(since))
	if err != nil {
		return nil, wrap("system figures: deployments per day", err)
	}
	days, err := collect(rows, func(r scanner) (apogee.DayCount, error) {
		var c apogee.DayCount
		err := r.Scan(&c.Day, &c.Count)
		return c, err
	})
	if err != nil {
		return nil, wrap("system figures: deployments per day", err)
	}
	f.DeploymentsPerDay = append(f.DeploymentsPerDay, days...)
	return f, nil
}

// ProjectSummaries returns every project by name with its owner's email
// ("team:<name>" for a team's) and newest deployment, in one query.
func (s *Store) ProjectSummaries(ctx context.Context) ([]*apogee.ProjectSummary, error) {
	// A team's project shows "team:<name>", the key admins use for it.
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+prefixed("p.", projectCols)+", COALESCE('team:' || t.name, u.email), "+prefixed("d.", deploymentCols)+`
		FROM projects p
		JOIN users u ON u.id = p.owner_id
		LEFT JOIN teams t ON t.id = p.owner_id
		LEFT JOIN deployments d ON d.id = (
			SELECT l.id FROM deployments l WHERE l.project_id = p.id ORDER BY l.created_at DESC, l.id DESC LIMIT 1)
		ORDER BY p.name`)
	if err != nil {
		return nil, wrap("project summaries", err)
	}
	out, err := collect(rows, scanProjectSummary)
	return out, wrap("project summaries", err)
}

// scanProjectSummary scans a project's columns, the owner's email and a
// deployment's columns that are all NULL when the project has none.
func scanProjectSummary(row scanner) (*apogee.ProjectSummary, error) {
	var ps apogee.ProjectSummary
	var d nullDeployment
	p, err := scanProject(scanFunc(func(projectDest ...any) error {
		dest := append(projectDest, &ps.OwnerEmail)
		return row.Scan(append(dest, d.dest()...)...)
	}))
	if err != nil {
		return nil, err
	}
	ps.Project = p
	ps.Last = d.deployment()
	return &ps, nil
}

// scanFunc adapts a function to the scanner interface.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// prefixed qualifies each column of a deploymentCols-style list:
// prefixed("d.", "id, name") is "d.id, d.name".
func prefixed(prefix, cols string) string {
	parts := strings.Split(cols, ", ")
	for i, c := range parts {
		parts[i] = prefix + c
	}
	return strings.Join(parts, ", ")
}

// nullDeployment scans the deploymentCols of an outer join, which are all
// NULL when no deployment matched.
type nullDeployment struct {
	id, projectID, status, target, host         sql.NullString
	createdBy, source, branch, commit, errorMsg sql.NullString
	sourceBlob, message, author, commitURL      sql.NullString
	framework, nodeVersion, forkRepo, diffBase  sql.NullString
	files, size, prNumber                       sql.NullInt64
	noCache, skipped                            sql.NullBool
	createdAt                                   *time.Time
	d                                           apogee.Deployment
}

func (n *nullDeployment) dest() []any {
	return []any{&n.id, &n.projectID, &n.status, &n.target, &n.host, &n.files, &n.size,
		&n.createdBy, nullTimeCol{&n.createdAt}, nullTimeCol{&n.d.ReadyAt},
		&n.source, &n.branch, &n.commit, &n.errorMsg, nullTimeCol{&n.d.BuildStartedAt}, nullTimeCol{&n.d.BuildFinishedAt},
		&n.noCache, &n.sourceBlob, &n.message, &n.author, &n.commitURL, warningsCol{&n.d.Warnings}, &n.framework, &n.nodeVersion,
		&n.prNumber, &n.forkRepo, &n.skipped, &n.diffBase}
}

func (n *nullDeployment) deployment() *apogee.Deployment {
	if !n.id.Valid || n.createdAt == nil {
		return nil
	}
	d := n.d
	d.ID, d.ProjectID, d.Status, d.Target, d.Host = n.id.String, n.projectID.String, apogee.Status(n.status.String), n.target.String, n.host.String
	d.Files, d.Size, d.CreatedAt = int(n.files.Int64), n.size.Int64, *n.createdAt
	d.CreatedBy, d.Source, d.Branch, d.Commit, d.Error = n.createdBy.String, n.source.String, n.branch.String, n.commit.String, n.errorMsg.String
	d.NoCache, d.SourceBlob = n.noCache.Bool, n.sourceBlob.String
	d.CommitMessage, d.CommitAuthor, d.CommitURL = n.message.String, n.author.String, n.commitURL.String
	d.Framework, d.NodeVersion = n.framework.String, n.nodeVersion.String
	d.PullRequest, d.ForkRepo = int(n.prNumber.Int64), n.forkRepo.String
	d.Skipped, d.DiffBase = n.skipped.Bool, n.diffBase.String
	return &d
}

// RecentDeployments returns the newest deployments of every project.
func (s *Store) RecentDeployments(ctx context.Context, limit int) ([]*apogee.Deployment, error) {
	q := "SELECT " + deploymentCols + " FROM deployments ORDER BY created_at DESC, id DESC"
	var args []any
	if limit > 0 {
		q += " LIMIT $1"
		args = append(args, limit)
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap("recent deployments", err)
	}
	ds, err := collect(rows, scanDeployment)
	return ds, wrap("recent deployments", err)
}
