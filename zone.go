package apogee

import (
	"context"
	"strings"
	"time"
)

// Zone is a DNS zone a user has delegated to Apogee: its registrar's
// nameservers for Name are the platform's, and Apogee's authoritative
// DNS server answers for it from the zone's records. When ProjectID is
// set, the apex and www serve that project: they answer with the edge's
// addresses unless a record of the zone says otherwise.
type Zone struct {
	Name      string `json:"name"` // lower-case, no trailing dot
	OwnerID   string `json:"owner_id"`
	ProjectID string `json:"project_id,omitempty"` // "" = no project
	// Serial is the SOA serial: it moves by one with every change of
	// the zone's records, so secondaries and caches see a new zone.
	Serial int64 `json:"serial"`
	// VerifiedAt is when the delegation was last found in place: the
	// parent zone's nameservers name the platform's nameservers.
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	// Wildcard is set when "*.<Name>" is a verified wildcard domain of a
	// project: every name below the apex without records of its own
	// answers with the edge's addresses. Read-only: the store derives it
	// from the domains.
	Wildcard bool `json:"wildcard,omitempty"`
}

// ZoneRecord is one record of a zone, as its owner wrote it.
type ZoneRecord struct {
	ID   string `json:"id"`
	Zone string `json:"zone"`
	// Name is relative to the zone: "@" is the apex, "www" is
	// www.<zone>, "*" or "*.dev" a wildcard.
	Name string `json:"name"`
	Type string `json:"type"` // A, AAAA, CNAME, MX, TXT, CAA, SRV, NS
	// Value is the record's data in zone-file form: "192.0.2.1",
	// "10 mail.example.com", "v=spf1 -all".
	Value     string    `json:"value"`
	TTL       int       `json:"ttl"`
	CreatedAt time.Time `json:"created_at"`
}

// FQDN returns the record's full name, lower-case, without a trailing
// dot.
func (r *ZoneRecord) FQDN() string {
	if r.Name == "@" {
		return r.Zone
	}
	return r.Name + "." + r.Zone
}

// Limits of zones and their records.
const (
	MaxZonesPerUser = 50
	MaxZoneRecords  = 1000 // per zone
	MinRecordTTL    = 60
	MaxRecordTTL    = 86400
	DefaultTTL      = 300
)

// RecordTypes are the record types a zone's owner may add.
var RecordTypes = []string{"A", "AAAA", "CNAME", "MX", "TXT", "CAA", "SRV", "NS"}

// ValidateRecordName checks a record name relative to zone and returns
// its canonical form: "@" for the apex, else lower-case labels without
// the zone's suffix. A full name inside the zone (with or without a
// trailing dot) is accepted and made relative. Labels are letters,
// digits, hyphens and underscores (_dmarc, _acme-challenge); "*" may
// be the first label.
func ValidateRecordName(name, zone string) (string, error) {
	orig := name
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" || name == "@" || name == zone+"." {
		return "@", nil
	}
	if strings.HasSuffix(name, ".") {
		if !strings.HasSuffix(name, "."+zone+".") {
			return "", Errorf(EINVALID, "record name %q is not in zone %s; give a name relative to the zone, such as www or @ for the apex", orig, zone)
		}
		name = strings.TrimSuffix(name, "."+zone+".")
	}
	name = strings.TrimSuffix(name, "."+zone)
	if len(name)+1+len(zone) > MaxDomainLen {
		return "", Errorf(EINVALID, "record name %q makes a name longer than %d characters", orig, MaxDomainLen)
	}
	for i, l := range strings.Split(name, ".") {
		if l == "*" && i == 0 {
			continue
		}
		if l == "" || len(l) > 63 {
			return "", Errorf(EINVALID, "record name %q has an empty label or one longer than 63 characters", orig)
		}
		for j := 0; j < len(l); j++ {
			c := l[j]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", Errorf(EINVALID, "record name %q has %q; use letters, digits, hyphens and underscores, * only as the first label, @ for the apex", orig, string(rune(c)))
			}
		}
	}
	return name, nil
}

// ZoneStore keeps delegated DNS zones and their records. The general
// contract of the store interfaces applies (see store.go).
type ZoneStore interface {
	// CreateZone inserts z; ECONFLICT if a zone of that name exists (of
	// any owner: the message does not say whose), ETOOLARGE if the owner
	// has MaxZonesPerUser zones already.
	CreateZone(ctx context.Context, z *Zone) error
	ZoneByName(ctx context.Context, name string) (*Zone, error)
	// ListZones returns the owner's zones by name, or every zone when
	// ownerID is "".
	ListZones(ctx context.Context, ownerID string) ([]*Zone, error)
	// SetZoneVerified records that the zone's delegation was found in
	// place at at.
	SetZoneVerified(ctx context.Context, name string, at time.Time) (*Zone, error)
	// DeleteZone removes the zone and its records.
	DeleteZone(ctx context.Context, name string) error
	// AddZoneRecord inserts r and moves the zone's serial, in one
	// transaction; ErrNotFound if the zone does not exist, ETOOLARGE if
	// it has MaxZoneRecords records already. r.ID, r.CreatedAt are
	// filled in when empty.
	AddZoneRecord(ctx context.Context, r *ZoneRecord) error
	// ZoneRecords returns the zone's records by name, type and age.
	ZoneRecords(ctx context.Context, zone string) ([]*ZoneRecord, error)
	// UpdateZoneRecord replaces the name, type, value and TTL of record
	// r.ID of zone r.Zone and moves the zone's serial, in one
	// transaction; ErrNotFound if the zone has no such record. r's
	// CreatedAt is set to the stored one.
	UpdateZoneRecord(ctx context.Context, r *ZoneRecord) error
	// DeleteZoneRecord removes record id of the zone and moves the
	// zone's serial; ErrNotFound if the zone has no such record.
	DeleteZoneRecord(ctx context.Context, zone, id string) error
}

// ZoneView is a zone as the API shows it to its owner: the nameservers
// to set at the registrar and whether the delegation was found.
type ZoneView struct {
	*Zone
	Team        string   `json:"team,omitempty"` // the team that owns it, "" for a person
	Project     string   `json:"project,omitempty"`
	Verified    bool     `json:"verified"`
	Nameservers []string `json:"nameservers"`
}

// AddZoneRequest delegates a zone to Apogee; Project, if set, is the
// project its apex and www serve, of the same owner. Team, if set, makes
// it that team's zone (the caller needs the member role or more there);
// else it is the caller's, or the team's of a token scoped to one.
type AddZoneRequest struct {
	Name    string `json:"name"`
	Team    string `json:"team,omitempty"`
	Project string `json:"project,omitempty"`
}

// AddRecordRequest adds a record to a zone; TTL 0 is DefaultTTL.
type AddRecordRequest struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value string `json:"value"`
	TTL   int    `json:"ttl,omitempty"`
}

// UpdateRecordRequest changes a record of a zone: each field set
// replaces the record's; the result is validated as AddRecordRequest
// is.
type UpdateRecordRequest struct {
	Name  *string `json:"name,omitempty"`
	Type  *string `json:"type,omitempty"`
	Value *string `json:"value,omitempty"`
	TTL   *int    `json:"ttl,omitempty"`
}

// DNSService keeps the delegated zones and their records of a person or
// a team. A person's zone is theirs alone; a team's is seen by every
// member and changed by members and owners, as its projects are (an
// admin sees every zone). A zone the caller has no role on is reported
// exactly like a missing one.
type DNSService interface {
	// Zones returns the zones of a scope by name: team "" is the user's
	// own (or, for a token scoped to a team, the team's), a team's name
	// that team's (any member).
	Zones(ctx context.Context, team string) ([]*ZoneView, error)
	// AddZone delegates a zone to the platform; its view names the
	// nameservers to set at the registrar. ECONFLICT if the zone is
	// taken, ETOOLARGE beyond MaxZonesPerUser.
	AddZone(ctx context.Context, req AddZoneRequest) (*ZoneView, error)
	Zone(ctx context.Context, name string) (*ZoneView, error)
	// VerifyZone asks the DNS for the zone's nameservers; if they are the
	// platform's, the zone is verified and, when it has a project, its
	// apex and www become the project's verified custom domains.
	// ECONFLICT says which nameservers were found instead.
	VerifyZone(ctx context.Context, name string) (*ZoneView, error)
	RemoveZone(ctx context.Context, name string) error
	// Records returns the zone's records by name and type.
	Records(ctx context.Context, zone string) ([]*ZoneRecord, error)
	// AddRecord validates the record (name, type, value, TTL, conflicts
	// with the zone's records: EINVALID or ECONFLICT say which) and adds
	// it; the DNS server answers it at once.
	AddRecord(ctx context.Context, zone string, req AddRecordRequest) (*ZoneRecord, error)
	// UpdateRecord changes record id of the zone, validated exactly as
	// AddRecord validates a new one (against the zone's other records);
	// the record changes in one step or not at all. ENOTFOUND if the
	// zone has no such record.
	UpdateRecord(ctx context.Context, zone, id string, req UpdateRecordRequest) (*ZoneRecord, error)
	RemoveRecord(ctx context.Context, zone, id string) error
}
