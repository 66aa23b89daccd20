package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/apogee-dev/apogee"
)

var _ apogee.ZoneStore = (*Store)(nil)

const zoneCols = "name, owner_id, project_id, serial, verified_at, created_at"

// zoneRead is zoneCols and Zone.Wildcard: whether "*.<zone>" is a
// verified domain.
const zoneRead = zoneCols + `, EXISTS (SELECT 1 FROM domains wd WHERE wd.name = '*.' || dns_zones.name AND wd.verified_at IS NOT NULL)`

func scanZone(row scanner) (*apogee.Zone, error) {
	var z apogee.Zone
	var project sql.NullString
	err := row.Scan(&z.Name, &z.OwnerID, &project, &z.Serial, nullTimeCol{&z.VerifiedAt}, timeCol{&z.CreatedAt}, &z.Wildcard)
	z.ProjectID = project.String
	return &z, err
}

// CreateZone inserts z in one transaction that first locks the owner's
// row (on PostgreSQL; SQLite's writer holds the database), so the count
// checked against apogee.MaxZonesPerUser cannot be passed by concurrent
// calls.
func (s *Store) CreateZone(ctx context.Context, z *apogee.Zone) error {
	if z.CreatedAt.IsZero() {
		z.CreatedAt = time.Now()
	}
	z.CreatedAt = normTime(z.CreatedAt)
	z.VerifiedAt = nil
	if z.Serial == 0 {
		z.Serial = 1
	}
	return s.inTx(ctx, "create zone", func(tx *sql.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, "SELECT id FROM users WHERE id = $1"+s.d.lockRow(), z.OwnerID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("user", z.OwnerID)
		}
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM dns_zones WHERE owner_id = $1", z.OwnerID).Scan(&n); err != nil {
			return err
		}
		if n >= apogee.MaxZonesPerUser {
			return apogee.Errorf(apogee.ETOOLARGE, "you have %d DNS zones; the limit is %d: remove one before adding another", n, apogee.MaxZonesPerUser)
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO dns_zones ("+zoneCols+") VALUES ($1, $2, $3, $4, NULL, $5)",
			z.Name, z.OwnerID, nullString(z.ProjectID), z.Serial, s.d.timeArg(z.CreatedAt))
		switch {
		case isUnique(err):
			return apogee.Errorf(apogee.ECONFLICT, "zone %q is already added to Apogee", z.Name)
		case isForeignKey(err):
			return notFound("project", z.ProjectID)
		}
		return err
	})
}

func (s *Store) ZoneByName(ctx context.Context, name string) (*apogee.Zone, error) {
	z, err := scanZone(s.rdb.QueryRowContext(ctx, "SELECT "+zoneRead+" FROM dns_zones WHERE name = $1", name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("zone", name)
	}
	if err != nil {
		return nil, wrap("zone by name", err)
	}
	return z, nil
}

func (s *Store) ListZones(ctx context.Context, ownerID string) ([]*apogee.Zone, error) {
	q, args := "SELECT "+zoneRead+" FROM dns_zones ORDER BY name", []any{}
	if ownerID != "" {
		q, args = "SELECT "+zoneRead+" FROM dns_zones WHERE owner_id = $1 ORDER BY name", []any{ownerID}
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap("list zones", err)
	}
	zs, err := collect(rows, scanZone)
	return zs, wrap("list zones", err)
}

func (s *Store) SetZoneVerified(ctx context.Context, name string, at time.Time) (*apogee.Zone, error) {
	z, err := scanZone(s.db.QueryRowContext(ctx,
		"UPDATE dns_zones SET verified_at = $2 WHERE name = $1 RETURNING "+zoneRead, name, s.d.timeArg(at)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("zone", name)
	}
	if err != nil {
		return nil, wrap("verify zone", err)
	}
	return z, nil
}

// DeleteZone removes the zone; its records go with it (ON DELETE
// CASCADE).
func (s *Store) DeleteZone(ctx context.Context, name string) error {
	n, err := s.exec(ctx, "DELETE FROM dns_zones WHERE name = $1", name)
	if err != nil {
		return wrap("delete zone", err)
	}
	if n == 0 {
		return notFound("zone", name)
	}
	return nil
}

const recordCols = "id, zone, name, type, value, ttl, created_at"

func scanRecord(row scanner) (*apogee.ZoneRecord, error) {
	var r apogee.ZoneRecord
	err := row.Scan(&r.ID, &r.Zone, &r.Name, &r.Type, &r.Value, &r.TTL, timeCol{&r.CreatedAt})
	return &r, err
}

// AddZoneRecord moves the zone's serial first: that UPDATE locks the
// zone's row, so the count checked against apogee.MaxZoneRecords cannot
// be passed by concurrent calls.
func (s *Store) AddZoneRecord(ctx context.Context, r *apogee.ZoneRecord) error {
	if r.ID == "" {
		r.ID = apogee.NewID()
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	r.CreatedAt = normTime(r.CreatedAt)
	return s.inTx(ctx, "add zone record", func(tx *sql.Tx) error {
		if err := bumpSerial(ctx, tx, r.Zone); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM dns_records WHERE zone = $1", r.Zone).Scan(&n); err != nil {
			return err
		}
		if n >= apogee.MaxZoneRecords {
			return apogee.Errorf(apogee.ETOOLARGE, "zone %s has %d records; the limit is %d", r.Zone, n, apogee.MaxZoneRecords)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO dns_records ("+recordCols+") VALUES ($1, $2, $3, $4, $5, $6, $7)",
			r.ID, r.Zone, r.Name, r.Type, r.Value, r.TTL, s.d.timeArg(r.CreatedAt))
		if isUnique(err) {
			return apogee.Errorf(apogee.ECONFLICT, "record %q exists already", r.ID)
		}
		return err
	})
}

func bumpSerial(ctx context.Context, tx *sql.Tx, zone string) error {
	res, err := tx.ExecContext(ctx, "UPDATE dns_zones SET serial = serial + 1 WHERE name = $1", zone)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return err
		}
		return notFound("zone", zone)
	}
	return nil
}

func (s *Store) ZoneRecords(ctx context.Context, zone string) ([]*apogee.ZoneRecord, error) {
	rows, err := s.rdb.QueryContext(ctx,
		"SELECT "+recordCols+" FROM dns_records WHERE zone = $1 ORDER BY name, type, created_at, id", zone)
	if err != nil {
		return nil, wrap("zone records", err)
	}
	rs, err := collect(rows, scanRecord)
	return rs, wrap("zone records", err)
}

func (s *Store) UpdateZoneRecord(ctx context.Context, r *apogee.ZoneRecord) error {
	return s.inTx(ctx, "update zone record", func(tx *sql.Tx) error {
		// The serial first: its UPDATE locks the zone's row, as adding does.
		if err := bumpSerial(ctx, tx, r.Zone); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, "UPDATE dns_records SET name = $3, type = $4, value = $5, ttl = $6 WHERE zone = $1 AND id = $2 RETURNING created_at",
			r.Zone, r.ID, r.Name, r.Type, r.Value, r.TTL).Scan(timeCol{&r.CreatedAt})
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("record", r.ID)
		}
		return err
	})
}

func (s *Store) DeleteZoneRecord(ctx context.Context, zone, id string) error {
	return s.inTx(ctx, "delete zone record", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM dns_records WHERE zone = $1 AND id = $2", zone, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return err
			}
			return notFound("record", id)
		}
		return bumpSerial(ctx, tx, zone)
	})
}
