package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
)

const deploymentCols = "id, project_id, status, target, host, files, size, created_by, created_at, ready_at, " +
	"source, branch, commit_sha, error, build_started_at, build_finished_at, build_no_cache, source_blob, " +
	"commit_message, commit_author, commit_url, rule_warnings, framework, node_version, pr_number, fork_repo, skipped, diff_base"

func scanDeployment(row scanner) (*apogee.Deployment, error) {
	var d apogee.Deployment
	err := row.Scan(&d.ID, &d.ProjectID, &d.Status, &d.Target, &d.Host, &d.Files, &d.Size,
		&d.CreatedBy, timeCol{&d.CreatedAt}, nullTimeCol{&d.ReadyAt},
		&d.Source, &d.Branch, &d.Commit, &d.Error, nullTimeCol{&d.BuildStartedAt}, nullTimeCol{&d.BuildFinishedAt},
		&d.NoCache, &d.SourceBlob, &d.CommitMessage, &d.CommitAuthor, &d.CommitURL, warningsCol{&d.Warnings}, &d.Framework, &d.NodeVersion,
		&d.PullRequest, &d.ForkRepo, &d.Skipped, &d.DiffBase)
	return &d, err
}

// filesPerInsert is how many manifest rows one INSERT carries: few
// statements for a big manifest, and 5×1000 parameters stay far below the
// limits of both databases (32766 and 65535).
const filesPerInsert = 1000

// insertFilesSQL returns an INSERT of n manifest rows.
func (d dialect) insertFilesSQL(n int) string {
	return "INSERT INTO deployment_files (deployment_id, path, sha256, size, mode) VALUES " + d.rowsSQL(n, 5)
}

// rowsSQL returns the placeholders of n rows of cols values each:
// "(?, ?), (?, ?)" or "($1, $2), ($3, $4)". SQLite gets anonymous ?
// parameters: it looks numbered and named ones up in a list, which makes
// preparing and binding thousands of them quadratic.
func (d dialect) rowsSQL(n, cols int) string {
	var b strings.Builder
	b.Grow(n * cols * 5)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteString(", ")
			}
			if d == dialectSQLite {
				b.WriteByte('?')
			} else {
				fmt.Fprintf(&b, "$%d", 1+i*cols+c)
			}
		}
		b.WriteByte(')')
	}
	return b.String()
}

// insertFullBatchSQL holds each dialect's INSERT of filesPerInsert rows.
var insertFullBatchSQL = [...]string{
	dialectSQLite:   dialectSQLite.insertFilesSQL(filesPerInsert),
	dialectPostgres: dialectPostgres.insertFilesSQL(filesPerInsert),
}

// CreateDeployment inserts d with its manifest in one transaction. It
// sets d.Status to uploading and d.Files and d.Size from files, and fills
// in an empty ID, a zero CreatedAt and an empty Host (with
// apogee.DeploymentHost); d is updated to what was stored. ErrNotFound if
// the project does not exist; ECONFLICT if the ID or host is taken.
func (s *Store) CreateDeployment(ctx context.Context, d *apogee.Deployment, files []apogee.File) error {
	return s.createDeployment(ctx, d, files, apogee.StatusUploading)
}

// createDeployment inserts d with status and its manifest.
func (s *Store) createDeployment(ctx context.Context, d *apogee.Deployment, files []apogee.File, status apogee.Status) error {
	if err := prepareDeployment(d, files, status); err != nil {
		return err
	}
	return s.inTx(ctx, "create deployment", func(tx *sql.Tx) error { return s.insertNew(ctx, tx, d, files) })
}

// prepareDeployment checks d's target and sets what a new deployment
// starts with: an id and creation time if it has none, status, and no
// outcome yet.
func prepareDeployment(d *apogee.Deployment, files []apogee.File, status apogee.Status) error {
	if d.Target != apogee.TargetProduction && d.Target != apogee.TargetPreview {
		return apogee.Errorf(apogee.EINVALID, "deployment target %q is neither %q nor %q",
			d.Target, apogee.TargetProduction, apogee.TargetPreview)
	}
	if d.ID == "" {
		d.ID = apogee.NewID()
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = time.Now()
	}
	d.CreatedAt = normTime(d.CreatedAt)
	d.ReadyAt = nil
	if d.Source == "" {
		d.Source = apogee.SourceUpload
	}
	d.BuildStartedAt, d.BuildFinishedAt = nil, nil
	if d.Skipped {
		// A push that did not touch the project: recorded as it ended.
		status = apogee.StatusCanceled
		d.BuildFinishedAt = &d.CreatedAt
	} else {
		d.Error = ""
	}
	d.Status = status
	d.Framework, d.NodeVersion = "", "" // the build records them (SetBuildInfo)
	d.Files = len(files)
	d.Size = 0
	for _, f := range files {
		d.Size += f.Size
	}
	return nil
}

// insertNew inserts a prepared deployment and its manifest in tx.
func (s *Store) insertNew(ctx context.Context, tx *sql.Tx, d *apogee.Deployment, files []apogee.File) error {
	var project string
	err := tx.QueryRowContext(ctx, "SELECT name FROM projects WHERE id = $1", d.ProjectID).Scan(&project)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("project", d.ProjectID)
	}
	if err != nil {
		return err
	}
	if d.Host == "" {
		d.Host = apogee.DeploymentHost(project, d.ID)
	}
	err = s.insertDeployment(ctx, tx, d)
	switch {
	case isUnique(err):
		return apogee.Errorf(apogee.ECONFLICT, "deployment %q or host %q exists already", d.ID, d.Host)
	case isForeignKey(err):
		return notFound("project", d.ProjectID)
	case err != nil:
		return err
	}
	err = s.insertFiles(ctx, tx, d.ID, files)
	if isUnique(err) {
		return apogee.Errorf(apogee.EINVALID, "the manifest lists a path twice")
	}
	return err
}

// insertDeployment inserts d's row (no files).
func (s *Store) insertDeployment(ctx context.Context, tx *sql.Tx, d *apogee.Deployment) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO deployments ("+deploymentCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10, $11, $12, $22, NULL, $23, $13, $14, $15, $16, $17, '', '', '', $18, $19, $20, $21)",
		d.ID, d.ProjectID, d.Status, d.Target, d.Host, d.Files, d.Size, d.CreatedBy, s.d.timeArg(d.CreatedAt),
		d.Source, d.Branch, d.Commit, d.NoCache, d.SourceBlob, d.CommitMessage, d.CommitAuthor, d.CommitURL,
		d.PullRequest, d.ForkRepo, d.Skipped, d.DiffBase, d.Error, s.d.nullTimeArg(d.BuildFinishedAt))
	return err
}

// insertFiles inserts a manifest in statements of filesPerInsert rows.
func (s *Store) insertFiles(ctx context.Context, tx *sql.Tx, deploymentID string, files []apogee.File) error {
	if len(files) == 0 {
		return nil
	}
	args := make([]any, 0, 5*min(len(files), filesPerInsert))
	batch := func(files []apogee.File) []any {
		args = args[:0]
		for _, f := range files {
			args = append(args, deploymentID, f.Path, f.SHA256, f.Size, int64(f.Mode))
		}
		return args
	}
	if len(files) >= filesPerInsert {
		stmt, err := tx.PrepareContext(ctx, insertFullBatchSQL[s.d])
		if err != nil {
			return err
		}
		defer stmt.Close()
		for len(files) >= filesPerInsert {
			if _, err := stmt.ExecContext(ctx, batch(files[:filesPerInsert])...); err != nil {
				return err
			}
			files = files[filesPerInsert:]
		}
	}
	if len(files) > 0 {
		if _, err := tx.ExecContext(ctx, s.d.insertFilesSQL(len(files)), batch(files)...); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) DeploymentByID(ctx context.Context, id string) (*apogee.Deployment, error) {
	d, err := scanDeployment(s.rdb.QueryRowContext(ctx, "SELECT "+deploymentCols+" FROM deployments WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("deployment", id)
	}
	if err != nil {
		return nil, wrap("deployment by id", err)
	}
	return d, nil
}

// DeploymentFiles returns the manifest ordered by path (byte order). An
// expired deployment has an empty manifest.
func (s *Store) DeploymentFiles(ctx context.Context, id string) ([]apogee.File, error) {
	rows, err := s.rdb.QueryContext(ctx,
		"SELECT path, sha256, size, mode FROM deployment_files WHERE deployment_id = $1 ORDER BY path", id)
	if err != nil {
		return nil, wrap("deployment files", err)
	}
	files, err := collect(rows, func(row scanner) (apogee.File, error) {
		var f apogee.File
		var mode int64
		err := row.Scan(&f.Path, &f.SHA256, &f.Size, &mode)
		f.Mode = uint32(mode)
		return f, err
	})
	if err != nil {
		return nil, wrap("deployment files", err)
	}
	if len(files) == 0 {
		if err := s.deploymentExists(ctx, id); err != nil {
			return nil, wrap("deployment files", err)
		}
	}
	return files, nil
}

func (s *Store) deploymentExists(ctx context.Context, id string) error {
	var one int
	err := s.rdb.QueryRowContext(ctx, "SELECT 1 FROM deployments WHERE id = $1", id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("deployment", id)
	}
	return err
}

// HasFile reports whether hash is in the deployment's manifest;
// ErrNotFound if the deployment does not exist.
func (s *Store) HasFile(ctx context.Context, deploymentID, hash string) (bool, error) {
	var one int
	err := s.rdb.QueryRowContext(ctx,
		"SELECT 1 FROM deployment_files WHERE deployment_id = $1 AND sha256 = $2 LIMIT 1",
		deploymentID, hash).Scan(&one)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, wrap("has file", err)
	}
	return false, wrap("has file", s.deploymentExists(ctx, deploymentID))
}

// ListDeployments returns the project's deployments, newest first. An
// unknown project has none.
func (s *Store) ListDeployments(ctx context.Context, projectID string, limit int) ([]*apogee.Deployment, error) {
	q := "SELECT " + deploymentCols + " FROM deployments WHERE project_id = $1 ORDER BY created_at DESC, id DESC"
	args := []any{projectID}
	if limit > 0 {
		q += " LIMIT $2"
		args = append(args, limit)
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap("list deployments", err)
	}
	deployments, err := collect(rows, scanDeployment)
	return deployments, wrap("list deployments", err)
}

// lockProject locks the project row for the rest of tx and returns its
// name and production deployment id ("" for none).
func (s *Store) lockProject(ctx context.Context, tx *sql.Tx, id string) (name, productionID string, err error) {
	var prod sql.NullString
	err = tx.QueryRowContext(ctx,
		"SELECT name, production_id FROM projects WHERE id = $1"+s.d.lockRow(), id).Scan(&name, &prod)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", notFound("project", id)
	}
	return name, prod.String, err
}

func setProduction(ctx context.Context, tx *sql.Tx, projectID, deploymentID string) error {
	_, err := tx.ExecContext(ctx, "UPDATE projects SET production_id = $2 WHERE id = $1", projectID, deploymentID)
	return err
}

// FinalizeDeployment turns the uploading deployment ready at at and, if
// promote, makes it its project's production deployment.
func (s *Store) FinalizeDeployment(ctx context.Context, id string, at time.Time, promote bool) (*apogee.Deployment, error) {
	return s.makeReady(ctx, "finalize deployment", id, apogee.StatusUploading, at, nil, promote)
}

// makeReady turns deployment id, now in status from, ready at at, and,
// if promote, its project's production deployment, in one transaction
// that bumps the route version. A build (from building) gets output as
// its manifest and its end time; an upload has its manifest already.
// Finalizing an upload and finishing a build both come here.
func (s *Store) makeReady(ctx context.Context, op, id string, from apogee.Status, at time.Time, output []apogee.File, promote bool) (*apogee.Deployment, error) {
	set, args := "status = $2, ready_at = $3", []any{id, apogee.StatusReady, s.d.timeArg(at), from}
	if from == apogee.StatusBuilding {
		var size int64
		for _, f := range output {
			size += f.Size
		}
		set += ", build_finished_at = $3, files = $5, size = $6"
		args = append(args, len(output), size)
	}
	var d *apogee.Deployment
	err := s.inTx(ctx, op, func(tx *sql.Tx) error {
		var projectID string
		err := tx.QueryRowContext(ctx, "SELECT project_id FROM deployments WHERE id = $1", id).Scan(&projectID)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("deployment", id)
		}
		if err != nil {
			return err
		}
		// Lock the project before the deployment, as every transaction
		// that moves the alias does.
		if _, _, err := s.lockProject(ctx, tx, projectID); err != nil {
			if errors.Is(err, apogee.ErrNotFound) {
				return notFound("deployment", id) // deleted with its project meanwhile
			}
			return err
		}
		d, err = scanDeployment(tx.QueryRowContext(ctx,
			"UPDATE deployments SET "+set+" WHERE id = $1 AND status = $4 RETURNING "+deploymentCols, args...))
		if errors.Is(err, sql.ErrNoRows) {
			return s.notIn(ctx, tx, id, from)
		}
		if err != nil {
			return err
		}
		if from == apogee.StatusBuilding {
			// A source folder's manifest gives way to the output.
			if _, err := tx.ExecContext(ctx, "DELETE FROM deployment_files WHERE deployment_id = $1", id); err != nil {
				return err
			}
		}
		if err := s.insertFiles(ctx, tx, id, output); err != nil {
			if isUnique(err) {
				return apogee.Errorf(apogee.EINVALID, "the build output lists a path twice")
			}
			return err
		}
		if promote {
			if err := setProduction(ctx, tx, projectID, id); err != nil {
				return err
			}
		}
		return bumpRoutes(ctx, tx, projectID)
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// notIn is the ECONFLICT of a deployment that is not in status want (or
// ErrNotFound if it is gone).
func (s *Store) notIn(ctx context.Context, tx *sql.Tx, id string, want apogee.Status) error {
	var status apogee.Status
	err := tx.QueryRowContext(ctx, "SELECT status FROM deployments WHERE id = $1", id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("deployment", id)
	}
	if err != nil {
		return err
	}
	return apogee.Errorf(apogee.ECONFLICT, "deployment %q is %s, not %s", id, status, want)
}

// SetProduction points the project's production alias at a ready
// deployment of the project, preview deployments included.
func (s *Store) SetProduction(ctx context.Context, projectID, deploymentID string) error {
	return s.inTx(ctx, "set production", func(tx *sql.Tx) error {
		name, _, err := s.lockProject(ctx, tx, projectID)
		if err != nil {
			return err
		}
		var status apogee.Status
		err = tx.QueryRowContext(ctx, "SELECT status FROM deployments WHERE id = $1 AND project_id = $2",
			deploymentID, projectID).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return apogee.Errorf(apogee.ENOTFOUND, "deployment %q of project %q not found", deploymentID, name)
		}
		if err != nil {
			return err
		}
		if status != apogee.StatusReady {
			return apogee.Errorf(apogee.ECONFLICT, "deployment %q is %s; only a ready deployment can serve production", deploymentID, status)
		}
		if err := setProduction(ctx, tx, projectID, deploymentID); err != nil {
			return err
		}
		return bumpRoutes(ctx, tx, projectID)
	})
}

// RollbackTarget returns the newest ready production-target deployment
// created before the current production one (ties broken by id).
func (s *Store) RollbackTarget(ctx context.Context, projectID string) (*apogee.Deployment, error) {
	var name string
	var current sql.NullString
	err := s.rdb.QueryRowContext(ctx, "SELECT name, production_id FROM projects WHERE id = $1", projectID).Scan(&name, &current)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("project", projectID)
	}
	if err != nil {
		return nil, wrap("rollback target", err)
	}
	if !current.Valid {
		return nil, apogee.Errorf(apogee.ECONFLICT, "project %q has no production deployment to roll back from", name)
	}
	d, err := scanDeployment(s.rdb.QueryRowContext(ctx, "SELECT "+deploymentCols+` FROM deployments
		WHERE project_id = $1 AND status = $3 AND target = $4
		  AND (created_at, id) < (SELECT created_at, id FROM deployments WHERE id = $2)
		  AND NOT EXISTS (SELECT 1 FROM releases r WHERE r.deployment_id = deployments.id AND r.pruned_at IS NOT NULL)
		ORDER BY created_at DESC, id DESC LIMIT 1`,
		projectID, current.String, apogee.StatusReady, apogee.TargetProduction))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apogee.Errorf(apogee.ECONFLICT, "no earlier production deployment of project %q to roll back to", name)
	}
	if err != nil {
		return nil, wrap("rollback target", err)
	}
	return d, nil
}

// ExpireUploads expires the uploads created before olderThan and drops
// their manifests. It returns their ids, sorted.
func (s *Store) ExpireUploads(ctx context.Context, olderThan time.Time) ([]string, error) {
	var ids []string
	err := s.inTx(ctx, "expire uploads", func(tx *sql.Tx) error {
		// Expire first: the row locks this takes make a racing finalize
		// wait and then find the deployment expired.
		rows, err := tx.QueryContext(ctx,
			"UPDATE deployments SET status = $1 WHERE status = $2 AND created_at < $3 RETURNING id",
			apogee.StatusExpired, apogee.StatusUploading, s.d.timeArg(olderThan))
		if err != nil {
			return err
		}
		ids, err = collect(rows, func(row scanner) (id string, err error) {
			err = row.Scan(&id)
			return id, err
		})
		if err != nil {
			return err
		}
		for chunk := range slices.Chunk(ids, inListMax) {
			marks, args := inList(chunk)
			_, err := tx.ExecContext(ctx, "DELETE FROM deployment_files WHERE deployment_id IN ("+marks+")", args...)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	return ids, nil
}

// HashesInUse returns the hashes of hashes that some manifest holds, or
// that are a precompressed variant of one that does, or a bundle of a
// pushed repository, in no particular order.
func (s *Store) HashesInUse(ctx context.Context, hashes []string) ([]string, error) {
	var inUse []string
	for chunk := range slices.Chunk(hashes, inListMax) {
		marks, args := inList(chunk)
		// A precompressed variant is in use while its original is; an
		// uploaded ZIP while a build waits for it or runs from it.
		rows, err := s.rdb.QueryContext(ctx, "SELECT DISTINCT sha256 FROM deployment_files WHERE sha256 IN ("+marks+")"+
			" UNION SELECT v.variant_sha256 FROM blob_variants v WHERE v.variant_sha256 IN ("+marks+")"+
			" AND EXISTS (SELECT 1 FROM deployment_files f WHERE f.sha256 = v.sha256)"+
			" UNION SELECT source_blob FROM deployments WHERE source_blob IN ("+marks+") AND status IN ($"+strconv.Itoa(len(chunk)+1)+", $"+strconv.Itoa(len(chunk)+2)+")"+
			" UNION SELECT sha256 FROM git_bundles WHERE sha256 IN ("+marks+")",
			append(args, apogee.StatusQueued, apogee.StatusBuilding)...)
		if err != nil {
			return nil, wrap("hashes in use", err)
		}
		got, err := collect(rows, func(row scanner) (h string, err error) {
			err = row.Scan(&h)
			return h, err
		})
		if err != nil {
			return nil, wrap("hashes in use", err)
		}
		inUse = append(inUse, got...)
	}
	return inUse, nil
}

// inListMax is how many values one IN (…) list carries.
const inListMax = 500

// inList returns the placeholders "$1, $2, …" and the arguments of an
// IN (…) list of values.
func inList(values []string) (string, []any) {
	args := make([]any, len(values))
	marks := make([]string, len(values))
	for i, v := range values {
		args[i] = v
		marks[i] = fmt.Sprintf("$%d", i+1)
	}
	return strings.Join(marks, ", "), args
}
