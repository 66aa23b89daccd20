package platform

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/apogee-dev/apogee"
)

// domains implements apogee.DomainService.
type domains struct{ *Platform }

var _ apogee.DomainService = domains{}

// dnsTimeout bounds one DNS lookup made for a request.
const dnsTimeout = 10 * time.Second

// domain returns the acting user's claim of the named custom domain and
// its project. Several projects may claim a name until one verifies it:
// the claim returned is the first the user may see of the verified one
// and then the others by age (a user claims a name in one of their
// projects at most, so for everyone but an admin that is their own).
// Another user's claim is reported exactly like a missing one.
func (pl *Platform) domain(ctx context.Context, name string, n need) (*apogee.User, *apogee.Domain, *apogee.Project, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	notFound := apogee.Errorf(apogee.ENOTFOUND, "domain %q not found", name)
	base, wildcard := apogee.WildcardBase(strings.ToLower(strings.TrimSpace(name)))
	if !wildcard {
		base = name
	}
	name, err = apogee.ValidateDomainName(base, "")
	if err != nil {
		return nil, nil, nil, notFound
	}
	if wildcard {
		name = "*." + name
	}
	claims, err := pl.store.DomainClaims(ctx, name)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("platform: look up domain %q: %w", name, err)
	}
	for _, d := range claims {
		p, err := pl.store.ProjectByID(ctx, d.ProjectID)
		if errors.Is(err, apogee.ErrNotFound) {
			continue // deleted with its project meanwhile
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("platform: look up project of domain %q: %w", name, err)
		}
		if _, err := pl.allow(ctx, u, p, n, notFound); err == nil {
			return u, d, p, nil
		} else if apogee.ErrorCode(err) != apogee.ENOTFOUND {
			return nil, nil, nil, err
		}
	}
	return nil, nil, nil, notFound
}

// isApex reports whether name is a registrable domain (example.com,
// example.co.uk) rather than a host under one: the DNS allows no CNAME
// there.
func isApex(name string) bool {
	etld1, err := publicsuffix.EffectiveTLDPlusOne(name)
	return err == nil && etld1 == name
}

// domainView shows d with the records its owner has to create. For an
// apex domain the traffic record is an A record with the addresses the
// project's own host resolves to, looked up when lookup is set.
func (pl *Platform) domainView(ctx context.Context, d *apogee.Domain, p *apogee.Project, lookup bool) *apogee.DomainView {
	if base, ok := apogee.WildcardBase(d.Name); ok {
		// Apogee's DNS answers the zone: nothing to create by hand.
		return &apogee.DomainView{Domain: d, Project: p.Name, Verified: d.Verified(), URL: pl.cfg.DomainURL("<branch>." + base),
			DNS: apogee.DNSRecord{Type: "NS", Name: base, Value: strings.Join(pl.nameservers(), ", "),
				Note: "the zone " + base + " is delegated to Apogee, whose DNS answers every name below it"}}
	}
	target := p.Name + "." + pl.sitesDomain
	v := &apogee.DomainView{
		Domain:   d,
		Project:  p.Name,
		Verified: d.Verified(),
		URL:      pl.cfg.DomainURL(d.Name),
		Verification: apogee.DNSRecord{
			Type:  "TXT",
			Name:  apogee.VerificationName(d.Name),
			Value: d.Token,
		},
		DNS: apogee.DNSRecord{Type: "CNAME", Name: d.Name, Value: target},
	}
	if isApex(d.Name) {
		v.DNS.Type = "A"
		v.DNS.Value = target
		v.DNS.Note = "an apex domain cannot have a CNAME record: create A (and AAAA) records with the addresses " +
			target + " resolves to, or an ALIAS/ANAME record to " + target + " if your DNS provider offers one"
		if lookup {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			addrs, err := pl.cfg.Resolver.LookupHost(ctx, target)
			cancel()
			var v4 []string
			for _, ip := range addrs {
				if strings.Contains(ip, ".") {
					v4 = append(v4, ip)
				}
			}
			if err == nil && len(v4) > 0 {
				slices.Sort(v4)
				v.DNS.Value = strings.Join(v4, ", ")
			}
		}
	}
	return v
}

func (pl domains) Domains(ctx context.Context, project string) ([]*apogee.DomainView, error) {
	_, p, err := pl.project(ctx, project, needRead)
	if err != nil {
		return nil, err
	}
	ds, err := pl.store.ListDomains(ctx, p.ID)
	if err != nil {
		return nil, fmt.Errorf("platform: list domains: %w", err)
	}
	views := make([]*apogee.DomainView, len(ds))
	for i, d := range ds {
		views[i] = pl.domainView(ctx, d, p, false)
	}
	return views, nil
}

func (pl domains) AddDomain(ctx context.Context, project, name string) (*apogee.DomainView, error) {
	u, p, err := pl.project(ctx, project, needChange)
	if err != nil {
		return nil, err
	}
	if base, ok := apogee.WildcardBase(strings.ToLower(strings.TrimSpace(name))); ok {
		return pl.addWildcard(ctx, u, p, base)
	}
	name, err = pl.validDomain(name)
	if err != nil {
		return nil, err
	}
	// An unverified claim of another project blocks no one; a verified
	// one does, and so does the owner's own claim in another project.
	claims, err := pl.store.DomainClaims(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("platform: look up domain %q: %w", name, err)
	}
	for _, c := range claims {
		switch {
		case c.ProjectID == p.ID:
			return nil, apogee.Errorf(apogee.ECONFLICT, "domain %q is already added to project %q", name, p.Name)
		case c.Verified():
			return nil, apogee.Errorf(apogee.ECONFLICT, "domain %q is already used by another project", name)
		}
		if other, err := pl.store.ProjectByID(ctx, c.ProjectID); err == nil && other.OwnerID == p.OwnerID {
			return nil, apogee.Errorf(apogee.ECONFLICT, "domain %q is already added to project %q; remove it there first", name, other.Name)
		}
	}
	d, err := pl.createDomain(ctx, p, name)
	if err != nil {
		return nil, err
	}
	pl.log.Info("domain added", "project", p.Name, "domain", name, "user", u.ID)
	pl.recordProject(ctx, u, p, "domain.add", name, "")
	return pl.domainView(ctx, d, p, true), nil
}

func (pl domains) Domain(ctx context.Context, name string) (*apogee.DomainView, error) {
	_, d, p, err := pl.domain(ctx, name, needRead)
	if err != nil {
		return nil, err
	}
	return pl.domainView(ctx, d, p, true), nil
}

// VerifyDomain looks up the domain's TXT record and, if it holds the
// token, marks the domain verified (the store moves the route version)
// and tells the edges, which read the project's routes again. Verifying
// a verified domain does not look again.
func (pl domains) VerifyDomain(ctx context.Context, name string) (*apogee.DomainView, error) {
	u, d, p, err := pl.domain(ctx, name, needChange)
	if err != nil {
		return nil, err
	}
	if !d.Verified() {
		taken := func() error {
			return apogee.Errorf(apogee.ECONFLICT, "domain %s was verified by another project first: whoever controls its DNS proved it to them; "+
				"if that is you, remove the domain from the other project, then remove it here and add it again (project %q keeps its claim until then)", d.Name, p.Name)
		}
		if claims, err := pl.store.DomainClaims(ctx, d.Name); err == nil && len(claims) > 0 && claims[0].Verified() && claims[0].ProjectID != p.ID {
			return nil, taken()
		}
		if err := pl.checkTXT(ctx, d); err != nil {
			return nil, err
		}
		if d, err = pl.store.VerifyDomain(ctx, p.ID, d.Name, pl.now().UTC()); err != nil {
			if apogee.ErrorCode(err) == apogee.ECONFLICT {
				return nil, taken() // another verified it meanwhile
			}
			return nil, fmt.Errorf("platform: verify domain: %w", err)
		}
		pl.log.Info("domain verified", "project", p.Name, "domain", d.Name, "user", u.ID)
		pl.recordProject(ctx, u, p, "domain.verify", d.Name, "")
		pl.publish(ctx, apogee.Event{Type: apogee.EventDomainChanged, ProjectID: p.ID, Project: p.Name, Host: d.Name})
	}
	return pl.domainView(ctx, d, p, true), nil
}

// checkTXT returns nil if a TXT record at the domain's verification name
// holds its token, and otherwise an ECONFLICT error that says what was
// expected and what was found.
func (pl *Platform) checkTXT(ctx context.Context, d *apogee.Domain) error {
	name := apogee.VerificationName(d.Name)
	ctx, cancel := context.WithTimeout(ctx, dnsTimeout)
	defer cancel()
	found, err := pl.cfg.Resolver.LookupTXT(ctx, name)
	if slices.ContainsFunc(found, func(v string) bool { return strings.TrimSpace(v) == d.Token }) {
		return nil
	}
	expected := apogee.DNSRecord{Type: "TXT", Name: name, Value: d.Token}
	data := map[string]any{"expected": expected, "found": found}
	if found == nil {
		data["found"] = []string{}
	}
	fix := fmt.Sprintf("create a TXT record %s with the value %q and verify again; DNS changes can take a few minutes to show", name, d.Token)
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return &apogee.Error{Code: apogee.ECONFLICT, Data: data,
			Message: fmt.Sprintf("domain %s is not verified: there is no TXT record at %s; %s", d.Name, name, fix)}
	case errors.As(err, &dnsErr):
		data["dns_error"] = dnsErr.Err
		return &apogee.Error{Code: apogee.ECONFLICT, Data: data,
			Message: fmt.Sprintf("domain %s is not verified: the DNS lookup of %s failed (%s); try again in a moment", d.Name, name, dnsErr.Err)}
	case err != nil && len(found) == 0:
		if ctx.Err() != nil {
			return &apogee.Error{Code: apogee.ECONFLICT, Data: data,
				Message: fmt.Sprintf("domain %s is not verified: the DNS lookup of %s timed out; try again in a moment", d.Name, name)}
		}
		return fmt.Errorf("platform: look up TXT %s: %w", name, err)
	case len(found) == 0:
		return &apogee.Error{Code: apogee.ECONFLICT, Data: data,
			Message: fmt.Sprintf("domain %s is not verified: there is no TXT record at %s; %s", d.Name, name, fix)}
	}
	quoted := make([]string, len(found))
	for i, v := range found {
		quoted[i] = fmt.Sprintf("%q", v)
	}
	return &apogee.Error{Code: apogee.ECONFLICT, Data: data,
		Message: fmt.Sprintf("domain %s is not verified: the TXT records at %s are %s, and none is %q; %s",
			d.Name, name, strings.Join(quoted, ", "), d.Token, fix)}
}

// RemoveDomain deletes the domain (the store moves the route version)
// and tells the edges.
func (pl domains) RemoveDomain(ctx context.Context, name string) error {
	u, d, p, err := pl.domain(ctx, name, needChange)
	if err != nil {
		return err
	}
	if err := pl.store.DeleteDomain(ctx, p.ID, d.Name); err != nil && !errors.Is(err, apogee.ErrNotFound) {
		return fmt.Errorf("platform: delete domain %q: %w", d.Name, err)
	}
	pl.publish(ctx, apogee.Event{Type: apogee.EventDomainChanged, ProjectID: p.ID, Project: p.Name, Host: d.Name})
	if base, ok := apogee.WildcardBase(d.Name); ok {
		pl.publish(ctx, apogee.Event{Type: apogee.EventZoneChanged, Host: base})
	}
	pl.log.Info("domain removed", "project", p.Name, "domain", d.Name, "user", u.ID)
	pl.recordProject(ctx, u, p, "domain.remove", d.Name, "")
	return nil
}

// addWildcard attaches *.<zone> to project p: zone must be a delegated,
// verified zone of p's owner, whose delegation proves control of every
// name below it, so the domain is verified at once. The edge then
// serves every <label>.<zone> without a route of its own: the branch
// whose label it is (apogee.BranchLabel), else production; the DNS
// server answers those names with the edge's addresses, and the
// certificate is one wildcard obtained through the ACME DNS-01
// challenge, answered in the zone itself.
func (pl *Platform) addWildcard(ctx context.Context, u *apogee.User, p *apogee.Project, base string) (*apogee.DomainView, error) {
	base, err := pl.validDomain(base)
	if err != nil {
		return nil, err
	}
	name := "*." + base
	z, err := pl.store.ZoneByName(ctx, base)
	if err != nil && !errors.Is(err, apogee.ErrNotFound) {
		return nil, fmt.Errorf("platform: look up zone %q: %w", base, err)
	}
	if err != nil || z.OwnerID != p.OwnerID {
		return nil, apogee.Errorf(apogee.EINVALID, "a wildcard domain needs its zone delegated to Apogee: add it with `apogee dns zones add %s`, "+
			"set the nameservers it prints at your registrar and verify it, then add %s again", base, name)
	}
	if z.VerifiedAt == nil {
		return nil, apogee.Errorf(apogee.ECONFLICT, "zone %s is not verified yet: set its nameservers at your registrar, run `apogee dns zones verify %s`, then add %s again", base, base, name)
	}
	claims, err := pl.store.DomainClaims(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("platform: look up domain %q: %w", name, err)
	}
	for _, c := range claims {
		if c.ProjectID == p.ID {
			return nil, apogee.Errorf(apogee.ECONFLICT, "domain %q is already added to project %q", name, p.Name)
		}
		if other, err := pl.store.ProjectByID(ctx, c.ProjectID); err == nil {
			return nil, apogee.Errorf(apogee.ECONFLICT, "domain %q is already added to project %q; remove it there first", name, other.Name)
		}
	}
	d, err := pl.createDomain(ctx, p, name)
	if err != nil {
		return nil, err
	}
	if d, err = pl.store.VerifyDomain(ctx, p.ID, name, pl.now().UTC()); err != nil {
		_ = pl.store.DeleteDomain(ctx, p.ID, name)
		if apogee.ErrorCode(err) == apogee.ECONFLICT {
			return nil, apogee.Errorf(apogee.ECONFLICT, "domain %q is already used by another project", name)
		}
		return nil, fmt.Errorf("platform: verify domain: %w", err)
	}
	pl.log.Info("wildcard domain added", "project", p.Name, "domain", name, "user", u.ID)
	pl.recordProject(ctx, u, p, "domain.add", name, "wildcard")
	pl.publish(ctx, apogee.Event{Type: apogee.EventDomainChanged, ProjectID: p.ID, Project: p.Name, Host: name})
	pl.publish(ctx, apogee.Event{Type: apogee.EventZoneChanged, Host: base})
	return pl.domainView(ctx, d, p, false), nil
}

// validDomain validates a custom domain or zone name: neither the
// platform's domain nor its sites domain, nor any name under them.
func (pl *Platform) validDomain(name string) (string, error) {
	name, err := apogee.ValidateDomainName(name, pl.platformDomain)
	if err != nil || pl.sitesDomain == pl.platformDomain {
		return name, err
	}
	return apogee.ValidateDomainName(name, pl.sitesDomain)
}

// createDomain records name, unverified, for project p after the plan's
// custom domain quota allows it; a race for the name is ECONFLICT.
func (pl *Platform) createDomain(ctx context.Context, p *apogee.Project, name string) (*apogee.Domain, error) {
	if err := pl.checkDomains(ctx, p.OwnerID); err != nil {
		return nil, err
	}
	d := &apogee.Domain{Name: name, ProjectID: p.ID, Token: apogee.NewVerificationToken(), CreatedAt: pl.now().UTC()}
	if err := pl.store.CreateDomain(ctx, d); err != nil {
		if apogee.ErrorCode(err) == apogee.ECONFLICT {
			return nil, apogee.Errorf(apogee.ECONFLICT, "domain %q is already used by another project", name)
		}
		return nil, fmt.Errorf("platform: create domain: %w", err)
	}
	return d, nil
}
