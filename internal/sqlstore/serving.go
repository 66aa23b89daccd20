package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/apogee-dev/apogee"
)

var (
	_ apogee.ServingStore = (*Store)(nil)
	_ apogee.VariantStore = (*Store)(nil)
)

// SetDeploymentServe records s as the deployment's serve settings while
// it is uploading, queued or building.
func (s *Store) SetDeploymentServe(ctx context.Context, id string, settings apogee.ServeSettings) error {
	doc, err := json.Marshal(settings)
	if err != nil {
		return wrap("set deployment serve settings", err)
	}
	return s.setUnfinished(ctx, "serve settings", "serve_settings", id, string(doc))
}

// SetDeploymentWarnings records w as the deployment's rule warnings while
// it is uploading, queued or building.
func (s *Store) SetDeploymentWarnings(ctx context.Context, id string, w []apogee.RuleWarning) error {
	var doc []byte
	if len(w) > 0 {
		var err error
		if doc, err = json.Marshal(w); err != nil {
			return wrap("set deployment rule warnings", err)
		}
	}
	return s.setUnfinished(ctx, "rule warnings", "rule_warnings", id, string(doc))
}

// setUnfinished sets column col of deployment id to value while the
// deployment is uploading, queued or building: ECONFLICT after, what
// naming the column in the message.
func (s *Store) setUnfinished(ctx context.Context, what, col, id, value string) error {
	n, err := s.exec(ctx, "UPDATE deployments SET "+col+" = $2 WHERE id = $1 AND status IN ($3, $4, $5)",
		id, value, apogee.StatusUploading, apogee.StatusQueued, apogee.StatusBuilding)
	if err != nil {
		return wrap("set deployment "+what, err)
	}
	if n == 1 {
		return nil
	}
	var status string
	err = s.rdb.QueryRowContext(ctx, "SELECT status FROM deployments WHERE id = $1", id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("deployment", id)
	}
	if err != nil {
		return wrap("set deployment "+what, err)
	}
	return apogee.Errorf(apogee.ECONFLICT, "deployment %q is %s; its %s are fixed", id, status, what)
}

// warningsCol scans the rule_warnings column (a JSON array, ” or NULL
// for none) into *w.
type warningsCol struct{ w *[]apogee.RuleWarning }

func (c warningsCol) Scan(v any) error {
	var doc []byte
	switch v := v.(type) {
	case nil:
	case string:
		doc = []byte(v)
	case []byte:
		doc = v
	default:
		return fmt.Errorf("rule_warnings: unexpected %T", v)
	}
	*c.w = nil
	if len(doc) == 0 {
		return nil
	}
	return json.Unmarshal(doc, c.w)
}

// DeploymentServe returns the deployment's recorded serve settings.
func (s *Store) DeploymentServe(ctx context.Context, id string) (apogee.ServeSettings, error) {
	var doc string
	var settings apogee.ServeSettings
	err := s.rdb.QueryRowContext(ctx, "SELECT serve_settings FROM deployments WHERE id = $1", id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return settings, notFound("deployment", id)
	}
	if err != nil {
		return settings, wrap("deployment serve settings", err)
	}
	if err := json.Unmarshal([]byte(doc), &settings); err != nil {
		return settings, fmt.Errorf("sqlstore: deployment %s: serve settings: %w", id, err)
	}
	return settings, nil
}

// FailDeployment ends an uploading deployment as error with reason.
func (s *Store) FailDeployment(ctx context.Context, id, reason string) (*apogee.Deployment, error) {
	d, err := scanDeployment(s.db.QueryRowContext(ctx,
		"UPDATE deployments SET status = $2, error = $3 WHERE id = $1 AND status = $4 RETURNING "+deploymentCols,
		id, apogee.StatusError, reason, apogee.StatusUploading))
	if errors.Is(err, sql.ErrNoRows) {
		var status string
		err := s.rdb.QueryRowContext(ctx, "SELECT status FROM deployments WHERE id = $1", id).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, notFound("deployment", id)
		}
		if err != nil {
			return nil, wrap("fail deployment", err)
		}
		return nil, apogee.Errorf(apogee.ECONFLICT, "deployment %q is %s; only an uploading deployment can fail", id, status)
	}
	if err != nil {
		return nil, wrap("fail deployment", err)
	}
	return d, nil
}

// variantsPerInsert keeps one INSERT's parameters (4 per row) far below
// both databases' limits.
const variantsPerInsert = 500

// PutVariants upserts variants by (sha256, encoding).
func (s *Store) PutVariants(ctx context.Context, vs []apogee.BlobVariant) error {
	if len(vs) == 0 {
		return nil
	}
	return s.inTx(ctx, "put variants", func(tx *sql.Tx) error {
		for chunk := range slices.Chunk(vs, variantsPerInsert) {
			args := make([]any, 0, 4*len(chunk))
			for _, v := range chunk {
				args = append(args, v.SHA256, v.Encoding, v.VariantSHA256, v.Size)
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO blob_variants (sha256, encoding, variant_sha256, size) VALUES "+
				s.d.rowsSQL(len(chunk), 4)+
				" ON CONFLICT (sha256, encoding) DO UPDATE SET variant_sha256 = excluded.variant_sha256, size = excluded.size",
				args...)
			if err != nil {
				return err
			}
		}
		return nil
	})
}

const variantCols = "sha256, encoding, variant_sha256, size"

func scanVariant(row scanner) (v apogee.BlobVariant, err error) {
	err = row.Scan(&v.SHA256, &v.Encoding, &v.VariantSHA256, &v.Size)
	return v, err
}

// Variants returns the records of hashes, negative ones included.
func (s *Store) Variants(ctx context.Context, hashes []string) ([]apogee.BlobVariant, error) {
	var out []apogee.BlobVariant
	for chunk := range slices.Chunk(hashes, inListMax) {
		marks, args := inList(chunk)
		rows, err := s.rdb.QueryContext(ctx, "SELECT "+variantCols+" FROM blob_variants WHERE sha256 IN ("+marks+")", args...)
		if err != nil {
			return nil, wrap("variants", err)
		}
		vs, err := collect(rows, scanVariant)
		if err != nil {
			return nil, wrap("variants", err)
		}
		out = append(out, vs...)
	}
	return out, nil
}

// DeploymentVariants returns the variants of a deployment's files.
func (s *Store) DeploymentVariants(ctx context.Context, id string) ([]apogee.BlobVariant, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+variantCols+` FROM blob_variants
		WHERE variant_sha256 <> '' AND sha256 IN (SELECT sha256 FROM deployment_files WHERE deployment_id = $1)`, id)
	if err != nil {
		return nil, wrap("deployment variants", err)
	}
	vs, err := collect(rows, scanVariant)
	return vs, wrap("deployment variants", err)
}
