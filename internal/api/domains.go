package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/apogee-dev/apogee"
)

// Resolver looks names up in the DNS. *net.Resolver implements it; the
// server builds one that asks --dns-resolver when it is set. Safe for
// concurrent use; honours ctx.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

var _ Resolver = (*net.Resolver)(nil)

// dnsTimeout bounds one DNS lookup made for a request.
const dnsTimeout = 10 * time.Second

type domainConfig struct {
	platform string // the platform's domain, lower-case
	resolver Resolver
	url      func(name string) string
}

func newDomainConfig(cfg Config) domainConfig {
	d := domainConfig{
		platform: strings.ToLower(strings.TrimSuffix(cfg.Domain, ".")),
		resolver: cfg.Resolver,
		url:      cfg.DomainURL,
	}
	if d.platform == "" {
		d.platform = "localhost"
	}
	if d.resolver == nil {
		d.resolver = net.DefaultResolver
	}
	if d.url == nil {
		d.url = func(name string) string { return "http://" + name + "/" }
	}
	return d
}

// domain returns the named custom domain and its project if u may see
// them. Another user's domain is reported exactly like a missing one.
func (a *API) domain(r *http.Request, u *apogee.User, name string) (*apogee.Domain, *apogee.Project, error) {
	notFound := apogee.Errorf(apogee.ENOTFOUND, "domain %q not found; list a project's domains with `apogee domains list --project NAME`", name)
	name, err := apogee.ValidateDomainName(name, "")
	if err != nil {
		return nil, nil, notFound
	}
	d, err := a.store.DomainByName(r.Context(), name)
	if errors.Is(err, apogee.ErrNotFound) {
		return nil, nil, notFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("api: look up domain %q: %w", name, err)
	}
	p, err := a.store.ProjectByID(r.Context(), d.ProjectID)
	if errors.Is(err, apogee.ErrNotFound) {
		return nil, nil, notFound // deleted with its project meanwhile
	}
	if err != nil {
		return nil, nil, fmt.Errorf("api: look up project of domain %q: %w", name, err)
	}
	if !p.MayAccess(u) {
		return nil, nil, notFound
	}
	return d, p, nil
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
func (a *API) domainView(ctx context.Context, d *apogee.Domain, p *apogee.Project, lookup bool) *apogee.DomainView {
	target := p.Name + "." + a.domains.platform
	v := &apogee.DomainView{
		Domain:   d,
		Project:  p.Name,
		Verified: d.Verified(),
		URL:      a.domains.url(d.Name),
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
			addrs, err := a.domains.resolver.LookupHost(ctx, target)
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

func (a *API) listDomains(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	p, err := a.project(r, u, r.PathValue("name"))
	if err != nil {
		return err
	}
	ds, err := a.store.ListDomains(r.Context(), p.ID)
	if err != nil {
		return fmt.Errorf("api: list domains: %w", err)
	}
	views := make([]*apogee.DomainView, len(ds))
	for i, d := range ds {
		views[i] = a.domainView(r.Context(), d, p, false)
	}
	writeJSON(w, http.StatusOK, map[string]any{"domains": views})
	return nil
}

func (a *API) createDomain(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	p, err := a.project(r, u, r.PathValue("name"))
	if err != nil {
		return err
	}
	var req apogee.CreateDomainRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	name, err := apogee.ValidateDomainName(req.Name, a.domains.platform)
	if err != nil {
		return err
	}
	if err := a.checkDomains(r.Context(), p.OwnerID); err != nil {
		return err
	}
	d := &apogee.Domain{Name: name, ProjectID: p.ID, Token: apogee.NewVerificationToken(), CreatedAt: a.now().UTC()}
	if err := a.store.CreateDomain(r.Context(), d); err != nil {
		if apogee.ErrorCode(err) == apogee.ECONFLICT {
			if old, err := a.store.DomainByName(r.Context(), name); err == nil && old.ProjectID == p.ID {
				return apogee.Errorf(apogee.ECONFLICT, "domain %q is already added to project %q; see it with `apogee domains list --project %s`", name, p.Name, p.Name)
			}
			return apogee.Errorf(apogee.ECONFLICT, "domain %q is already used by another project", name)
		}
		return fmt.Errorf("api: create domain: %w", err)
	}
	a.log.Info("domain added", "project", p.Name, "domain", name, "user", u.ID)
	writeJSON(w, http.StatusCreated, a.domainView(r.Context(), d, p, true))
	return nil
}

func (a *API) getDomain(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	d, p, err := a.domain(r, u, r.PathValue("domain"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.domainView(r.Context(), d, p, true))
	return nil
}

// verifyDomain looks up the domain's TXT record and, if it holds the
// token, marks the domain verified and tells the edges to route it.
// Verifying a verified domain does not look again.
func (a *API) verifyDomain(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	d, p, err := a.domain(r, u, r.PathValue("domain"))
	if err != nil {
		return err
	}
	if !d.Verified() {
		if err := a.checkTXT(r.Context(), d); err != nil {
			return err
		}
		if d, err = a.store.VerifyDomain(r.Context(), d.Name, a.now().UTC()); err != nil {
			return fmt.Errorf("api: verify domain: %w", err)
		}
		a.log.Info("domain verified", "project", p.Name, "domain", d.Name, "user", u.ID)
	}
	// Published again for a verified domain too: it is cheap and heals an
	// edge that missed the first event.
	a.publish(r.Context(), apogee.Event{Type: apogee.EventDomainChanged, ProjectID: p.ID, Project: p.Name,
		Host: d.Name, DeploymentID: p.ProductionID})
	writeJSON(w, http.StatusOK, a.domainView(r.Context(), d, p, true))
	return nil
}

// checkTXT returns nil if a TXT record at the domain's verification name
// holds its token, and otherwise an ECONFLICT error that says what was
// expected and what was found.
func (a *API) checkTXT(ctx context.Context, d *apogee.Domain) error {
	name := apogee.VerificationName(d.Name)
	ctx, cancel := context.WithTimeout(ctx, dnsTimeout)
	defer cancel()
	found, err := a.domains.resolver.LookupTXT(ctx, name)
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
		return fmt.Errorf("api: look up TXT %s: %w", name, err)
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

func (a *API) deleteDomain(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	d, p, err := a.domain(r, u, r.PathValue("domain"))
	if err != nil {
		return err
	}
	if err := a.store.DeleteDomain(r.Context(), d.Name); err != nil && !errors.Is(err, apogee.ErrNotFound) {
		return fmt.Errorf("api: delete domain %q: %w", d.Name, err)
	}
	if d.Verified() {
		a.publish(r.Context(), apogee.Event{Type: apogee.EventDomainChanged, ProjectID: p.ID, Project: p.Name, Host: d.Name})
	}
	a.log.Info("domain removed", "project", p.Name, "domain", d.Name, "user", u.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// domainsFollow tells the edges that p's verified custom domains now
// serve its production deployment, after the alias moved. A failure to
// list them is logged: the store has the truth and edges rebuild from it.
func (a *API) domainsFollow(ctx context.Context, p *apogee.Project) {
	ds, err := a.store.ListDomains(ctx, p.ID)
	if err != nil {
		a.log.Error("list domains to move with the alias", "project", p.Name, "err", err)
		return
	}
	for _, d := range ds {
		if d.Verified() {
			a.publish(ctx, apogee.Event{Type: apogee.EventDomainChanged, ProjectID: p.ID, Project: p.Name,
				Host: d.Name, DeploymentID: p.ProductionID})
		}
	}
}
