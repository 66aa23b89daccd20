package platform

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/dnsserver"
)

// zones implements apogee.DNSService.
type zones struct{ *Platform }

var _ apogee.DNSService = zones{}

// nsResolver is the part of a Resolver that zone verification needs;
// *net.Resolver has it.
type nsResolver interface {
	LookupNS(ctx context.Context, name string) ([]*net.NS, error)
}

// zone returns the named zone if the acting user may do what n needs on
// it: its owner in person, a member of the team that owns it by role
// (as for projects), an admin. A zone the user has no role on is
// reported exactly like a missing one.
func (pl *Platform) zone(ctx context.Context, name string, n need) (*apogee.User, *apogee.Zone, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, nil, err
	}
	notFound := apogee.Errorf(apogee.ENOTFOUND, "DNS zone %q not found", name)
	name, err = apogee.ValidateDomainName(name, "")
	if err != nil {
		return nil, nil, notFound
	}
	z, err := pl.store.ZoneByName(ctx, name)
	if errors.Is(err, apogee.ErrNotFound) {
		return nil, nil, notFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("platform: look up zone %q: %w", name, err)
	}
	if u.Scope != nil && u.Scope.TeamID != "" && z.OwnerID != u.Scope.TeamID {
		return nil, nil, notFound
	}
	role, team, err := pl.roleOn(ctx, u, z.OwnerID)
	if err != nil {
		return nil, nil, err
	}
	if role == "" {
		return nil, nil, notFound
	}
	if u.Scope != nil && u.Scope.ReadOnly && n >= needChange {
		return nil, nil, errReadOnly
	}
	if !n.allows(role) {
		return nil, nil, forbidden(team, role, n)
	}
	return u, z, nil
}

func (pl *Platform) zoneView(ctx context.Context, z *apogee.Zone) *apogee.ZoneView {
	v := &apogee.ZoneView{Zone: z, Verified: z.VerifiedAt != nil, Nameservers: pl.nameservers()}
	if t, err := pl.store.TeamByID(ctx, z.OwnerID); err == nil {
		v.Team = t.Name
	}
	if z.ProjectID != "" {
		if p, err := pl.store.ProjectByID(ctx, z.ProjectID); err == nil {
			v.Project = p.Name
		}
	}
	return v
}

// nameservers returns the platform's nameservers, lower-case without
// the trailing dot.
func (pl *Platform) nameservers() []string {
	ns := make([]string, len(pl.cfg.Nameservers))
	for i, n := range pl.cfg.Nameservers {
		ns[i] = strings.ToLower(strings.TrimSuffix(n, "."))
	}
	return ns
}

func (pl zones) Zones(ctx context.Context, team string) ([]*apogee.ZoneView, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, err
	}
	owner, _, err := pl.scopeOwner(ctx, u, team)
	if err != nil {
		return nil, err
	}
	zs, err := pl.store.ListZones(ctx, owner)
	if err != nil {
		return nil, fmt.Errorf("platform: list zones: %w", err)
	}
	views := make([]*apogee.ZoneView, len(zs))
	for i, z := range zs {
		views[i] = pl.zoneView(ctx, z)
	}
	return views, nil
}

func (pl zones) AddZone(ctx context.Context, req apogee.AddZoneRequest) (*apogee.ZoneView, error) {
	u, err := pl.writer(ctx)
	if err != nil {
		return nil, err
	}
	if len(pl.cfg.Nameservers) == 0 {
		return nil, apogee.Errorf(apogee.EUNAVAILABLE, "this server runs no DNS: its administrator starts it with --dns-listen and --dns-nameservers")
	}
	name, err := pl.validDomain(req.Name)
	if err != nil {
		return nil, err
	}
	owner, team, err := pl.ownerFor(ctx, u, req.Team)
	if err != nil {
		return nil, err
	}
	z := &apogee.Zone{Name: name, OwnerID: owner, CreatedAt: pl.now().UTC()}
	if req.Project != "" {
		_, p, err := pl.project(ctx, req.Project, needChange)
		if err != nil {
			return nil, err
		}
		if p.OwnerID != owner {
			whose := "yours"
			if team != nil {
				whose = "team " + team.Name + "'s"
			}
			fix := "add the zone without the project, or to the project's owner"
			if pt, err := pl.store.TeamByID(ctx, p.OwnerID); err == nil {
				fix = "add the zone to team " + pt.Name + " (--team " + pt.Name + ")"
			} else if p.OwnerID == u.ID {
				fix = "add the zone as your own (without a team)"
			}
			return nil, apogee.Errorf(apogee.EINVALID, "project %s is not %s: a zone serves only a project of the account that owns the zone; %s", p.Name, whose, fix)
		}
		z.ProjectID = p.ID
	}
	if err := pl.checkZones(ctx, owner); err != nil {
		return nil, err
	}
	if err := pl.store.CreateZone(ctx, z); err != nil {
		if c := apogee.ErrorCode(err); c == apogee.ECONFLICT || c == apogee.ETOOLARGE {
			return nil, err
		}
		return nil, fmt.Errorf("platform: add zone: %w", err)
	}
	pl.log.Info("dns zone added", "zone", z.Name, "user", u.ID, "owner", owner)
	pl.record(ctx, u, z.OwnerID, nil, "dns.zone.add", z.Name, "")
	pl.publish(ctx, apogee.Event{Type: apogee.EventZoneChanged, Host: z.Name})
	return pl.zoneView(ctx, z), nil
}

func (pl zones) Zone(ctx context.Context, name string) (*apogee.ZoneView, error) {
	_, z, err := pl.zone(ctx, name, needRead)
	if err != nil {
		return nil, err
	}
	return pl.zoneView(ctx, z), nil
}

func (pl zones) VerifyZone(ctx context.Context, name string) (*apogee.ZoneView, error) {
	u, z, err := pl.zone(ctx, name, needChange)
	if err != nil {
		return nil, err
	}
	if err := pl.checkDelegation(ctx, z.Name); err != nil {
		return nil, err
	}
	if z, err = pl.store.SetZoneVerified(ctx, z.Name, pl.now().UTC()); err != nil {
		return nil, fmt.Errorf("platform: verify zone: %w", err)
	}
	pl.log.Info("dns zone verified", "zone", z.Name, "user", u.ID)
	pl.record(ctx, u, z.OwnerID, nil, "dns.zone.verify", z.Name, "")
	if z.ProjectID != "" {
		if err := pl.attachZone(ctx, z); err != nil {
			return nil, err
		}
	}
	return pl.zoneView(ctx, z), nil
}

// attachZone makes the zone's apex and www verified custom domains of
// its project: the platform answers their DNS, which proves control as
// well as a TXT record would. A name another project verified first
// stays that project's.
func (pl *Platform) attachZone(ctx context.Context, z *apogee.Zone) error {
	p, err := pl.store.ProjectByID(ctx, z.ProjectID)
	if err != nil {
		return fmt.Errorf("platform: project of zone %s: %w", z.Name, err)
	}
	for _, host := range []string{z.Name, "www." + z.Name} {
		err := pl.store.CreateDomain(ctx, &apogee.Domain{Name: host, ProjectID: p.ID, CreatedAt: pl.now().UTC()})
		if err != nil && apogee.ErrorCode(err) != apogee.ECONFLICT {
			return fmt.Errorf("platform: add domain %s of zone %s: %w", host, z.Name, err)
		}
		if _, err := pl.store.VerifyDomain(ctx, p.ID, host, pl.now().UTC()); err != nil {
			if apogee.ErrorCode(err) == apogee.ECONFLICT || errors.Is(err, apogee.ErrNotFound) {
				pl.log.Warn("zone host kept by another project", "zone", z.Name, "host", host)
				continue
			}
			return fmt.Errorf("platform: verify domain %s of zone %s: %w", host, z.Name, err)
		}
		pl.publish(ctx, apogee.Event{Type: apogee.EventDomainChanged, ProjectID: p.ID, Project: p.Name, Host: host})
	}
	return nil
}

// detachZone undoes attachZone for a removed zone: its apex and www, if
// its project verified them, go back to unverified with the same token.
// The platform no longer answers their DNS, so the delegation proves
// nothing; a TXT record (the token's, as before the zone) verifies them
// again, and until then the edge does not serve them.
func (pl *Platform) detachZone(ctx context.Context, z *apogee.Zone) error {
	for _, host := range []string{z.Name, "www." + z.Name} {
		d, err := pl.store.DomainByName(ctx, host)
		if errors.Is(err, apogee.ErrNotFound) || (err == nil && (d.ProjectID != z.ProjectID || !d.Verified())) {
			continue
		}
		if err != nil {
			return fmt.Errorf("platform: domain %s of removed zone %s: %w", host, z.Name, err)
		}
		if err := pl.store.DeleteDomain(ctx, d.ProjectID, d.Name); err != nil && !errors.Is(err, apogee.ErrNotFound) {
			return fmt.Errorf("platform: unverify domain %s of removed zone %s: %w", host, z.Name, err)
		}
		again := &apogee.Domain{Name: d.Name, ProjectID: d.ProjectID, Token: d.Token, CreatedAt: d.CreatedAt}
		if err := pl.store.CreateDomain(ctx, again); err != nil {
			return fmt.Errorf("platform: unverify domain %s of removed zone %s: %w", host, z.Name, err)
		}
		pl.publish(ctx, apogee.Event{Type: apogee.EventDomainChanged, ProjectID: d.ProjectID, Host: d.Name})
	}
	return nil
}

// checkDelegation returns nil if the DNS names the platform's
// nameservers for zone, and otherwise an ECONFLICT error that says what
// was expected and what was found.
func (pl *Platform) checkDelegation(ctx context.Context, zone string) error {
	r, ok := pl.cfg.Resolver.(nsResolver)
	if !ok {
		return errors.New("platform: the resolver cannot look up NS records")
	}
	ctx, cancel := context.WithTimeout(ctx, dnsTimeout)
	defer cancel()
	nss, err := r.LookupNS(ctx, zone)
	var found []string
	for _, ns := range nss {
		found = append(found, strings.ToLower(strings.TrimSuffix(ns.Host, ".")))
	}
	slices.Sort(found)
	want := pl.nameservers()
	data := map[string]any{"expected": want, "found": found}
	if found == nil {
		data["found"] = []string{}
	}
	fix := "set the nameservers " + strings.Join(want, ", ") + " at your registrar and verify again; a delegation can take hours to show"
	var dnsErr *net.DNSError
	switch {
	case err != nil && errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return &apogee.Error{Code: apogee.ECONFLICT, Data: data, Message: fmt.Sprintf("zone %s is not delegated: it has no NS records; %s", zone, fix)}
	case err != nil && ctx.Err() != nil:
		return &apogee.Error{Code: apogee.ECONFLICT, Data: data, Message: fmt.Sprintf("zone %s is not verified: the DNS lookup of its NS records timed out; try again in a moment", zone)}
	case err != nil && errors.As(err, &dnsErr):
		return &apogee.Error{Code: apogee.ECONFLICT, Data: data, Message: fmt.Sprintf("zone %s is not verified: the DNS lookup of its NS records failed (%s); try again in a moment", zone, dnsErr.Err)}
	case err != nil:
		return fmt.Errorf("platform: look up NS %s: %w", zone, err)
	}
	// Every nameserver the parent names must be ours: one of another
	// provider would answer some of the queries with its own data.
	for _, f := range found {
		if !slices.Contains(want, f) {
			return &apogee.Error{Code: apogee.ECONFLICT, Data: data,
				Message: fmt.Sprintf("zone %s is not delegated to Apogee: its nameservers are %s; %s", zone, strings.Join(found, ", "), fix)}
		}
	}
	return nil
}

func (pl zones) RemoveZone(ctx context.Context, name string) error {
	u, z, err := pl.zone(ctx, name, needChange)
	if err != nil {
		return err
	}
	if err := pl.store.DeleteZone(ctx, z.Name); err != nil {
		return fmt.Errorf("platform: remove zone: %w", err)
	}
	// Its wildcard domain goes with it: nothing answers its names or
	// its certificate's DNS-01 challenge any more.
	if claims, err := pl.store.DomainClaims(ctx, "*."+z.Name); err == nil {
		for _, d := range claims {
			if err := pl.store.DeleteDomain(ctx, d.ProjectID, d.Name); err != nil && !errors.Is(err, apogee.ErrNotFound) {
				return fmt.Errorf("platform: remove the wildcard domain of zone %s: %w", z.Name, err)
			}
			pl.publish(ctx, apogee.Event{Type: apogee.EventDomainChanged, ProjectID: d.ProjectID, Host: d.Name})
		}
	}
	if err := pl.detachZone(ctx, z); err != nil {
		return err
	}
	pl.log.Info("dns zone removed", "zone", z.Name, "user", u.ID)
	pl.record(ctx, u, z.OwnerID, nil, "dns.zone.remove", z.Name, "")
	pl.publish(ctx, apogee.Event{Type: apogee.EventZoneChanged, Host: z.Name})
	return nil
}

func (pl zones) Records(ctx context.Context, zone string) ([]*apogee.ZoneRecord, error) {
	_, z, err := pl.zone(ctx, zone, needRead)
	if err != nil {
		return nil, err
	}
	rs, err := pl.store.ZoneRecords(ctx, z.Name)
	if err != nil {
		return nil, fmt.Errorf("platform: zone records: %w", err)
	}
	return rs, nil
}

func (pl zones) AddRecord(ctx context.Context, zone string, req apogee.AddRecordRequest) (*apogee.ZoneRecord, error) {
	_, z, err := pl.zone(ctx, zone, needChange)
	if err != nil {
		return nil, err
	}
	r, err := newRecord(z, req)
	if err != nil {
		return nil, err
	}
	r.CreatedAt = pl.now().UTC()
	existing, err := pl.store.ZoneRecords(ctx, z.Name)
	if err != nil {
		return nil, fmt.Errorf("platform: zone records: %w", err)
	}
	if err := dnsserver.CheckRecord(existing, r); err != nil {
		return nil, err
	}
	if err := pl.checkRecords(ctx, z, len(existing)); err != nil {
		return nil, err
	}
	if err := pl.store.AddZoneRecord(ctx, r); err != nil {
		if apogee.ErrorCode(err) == apogee.ETOOLARGE {
			return nil, err
		}
		return nil, fmt.Errorf("platform: add record: %w", err)
	}
	pl.publish(ctx, apogee.Event{Type: apogee.EventZoneChanged, Host: z.Name})
	return r, nil
}

// newRecord validates req as a record of zone z: its name, type, value
// and TTL (0 is apogee.DefaultTTL), and returns it in canonical form.
func newRecord(z *apogee.Zone, req apogee.AddRecordRequest) (*apogee.ZoneRecord, error) {
	name, err := apogee.ValidateRecordName(req.Name, z.Name)
	if err != nil {
		return nil, err
	}
	r := &apogee.ZoneRecord{Zone: z.Name, Name: name, Type: strings.ToUpper(strings.TrimSpace(req.Type)),
		Value: strings.TrimSpace(req.Value), TTL: req.TTL}
	if r.TTL == 0 {
		r.TTL = apogee.DefaultTTL
	}
	if _, err := dnsserver.ParseRecord(r); err != nil {
		return nil, err
	}
	return r, nil
}

// UpdateRecord applies req to the record and validates the result as
// AddRecord validates a new record, against the zone's other records;
// the plan's record limit does not apply (the count does not change).
func (pl zones) UpdateRecord(ctx context.Context, zone, id string, req apogee.UpdateRecordRequest) (*apogee.ZoneRecord, error) {
	_, z, err := pl.zone(ctx, zone, needChange)
	if err != nil {
		return nil, err
	}
	existing, err := pl.store.ZoneRecords(ctx, z.Name)
	if err != nil {
		return nil, fmt.Errorf("platform: zone records: %w", err)
	}
	i := slices.IndexFunc(existing, func(r *apogee.ZoneRecord) bool { return r.ID == id })
	if i < 0 {
		return nil, apogee.Errorf(apogee.ENOTFOUND, "zone %s has no record %q", z.Name, id)
	}
	old := existing[i]
	add := apogee.AddRecordRequest{Name: old.Name, Type: old.Type, Value: old.Value, TTL: old.TTL}
	if req.Name != nil {
		add.Name = *req.Name
	}
	if req.Type != nil {
		add.Type = *req.Type
	}
	if req.Value != nil {
		add.Value = *req.Value
	}
	if req.TTL != nil {
		add.TTL = *req.TTL // 0 is apogee.DefaultTTL, as when adding
	}
	r, err := newRecord(z, add)
	if err != nil {
		return nil, err
	}
	r.ID = old.ID
	if err := dnsserver.CheckRecord(slices.Delete(existing, i, i+1), r); err != nil {
		return nil, err
	}
	if err := pl.store.UpdateZoneRecord(ctx, r); err != nil {
		if errors.Is(err, apogee.ErrNotFound) { // removed meanwhile
			return nil, apogee.Errorf(apogee.ENOTFOUND, "zone %s has no record %q", z.Name, id)
		}
		return nil, fmt.Errorf("platform: update record: %w", err)
	}
	pl.publish(ctx, apogee.Event{Type: apogee.EventZoneChanged, Host: z.Name})
	return r, nil
}

func (pl zones) RemoveRecord(ctx context.Context, zone, id string) error {
	_, z, err := pl.zone(ctx, zone, needChange)
	if err != nil {
		return err
	}
	if err := pl.store.DeleteZoneRecord(ctx, z.Name, id); err != nil {
		if errors.Is(err, apogee.ErrNotFound) {
			return apogee.Errorf(apogee.ENOTFOUND, "zone %s has no record %q", z.Name, id)
		}
		return fmt.Errorf("platform: remove record: %w", err)
	}
	pl.publish(ctx, apogee.Event{Type: apogee.EventZoneChanged, Host: z.Name})
	return nil
}
