package dashboard

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api"
)

// The DNS pages: the user's delegated zones (/dns) and one zone's
// records (/dns/zones/{zone}). Every read and change is one call of the
// DNS service as the signed-in user, which decides ownership: another
// user's zone is the 404 page, as in the API. A refused change shows the
// service's message above the form it came from, with the values typed
// kept, and changes nothing.

// zoneForm is the add-zone form as typed, with the error that refused it.
type zoneForm struct {
	Name, Team, Project, Error string
	lost                       bool // the remembered team is no longer the person's
}

// zoneRow is a zone in the list: its records against the plan's limit.
type zoneRow struct {
	*apogee.ZoneView
	Records int
	Limit   string // "100", "unlimited"
	Full    bool
}

type dnsData struct {
	Team      string                   // the scope: "" you, else a team's name (?team=)
	Teams     []*apogee.TeamMembership // the scope tabs
	LostTeam  bool                     // the remembered scope was a team the person left
	Zones     []zoneRow
	Projects  []string
	ZoneLimit string // the plan's zones, "" when it is not known
	ZonesFull bool
	Form      zoneForm
}

// recordForm is a record form as typed (add, or edit of ID), with the
// error that refused it.
type recordForm struct {
	ID, Name, Type, Value, TTL, Error string
}

// autoRecord is a record the DNS server answers without one in the
// zone: SOA and NS at the apex, the edge's addresses for the project.
type autoRecord struct {
	Name, Type, Value, Why string
}

type zoneData struct {
	Zone    *apogee.ZoneView
	Records []*apogee.ZoneRecord
	Auto    []autoRecord
	Count   int
	Limit   string // "" when not shown (another user's zone, seen by an admin)
	Full    bool
	Types   []string
	Add     recordForm
	Edit    recordForm // Edit.ID names the row shown as a form
}

// planDNSLimits returns the signed-in user's plan limits of zones and
// records per zone (apogee.Unlimited for none); ok is false when the
// plan is not known.
func (d *Dashboard) planDNSLimits(r *http.Request) (zones, records int64, ok bool, err error) {
	pv, err := d.svc.Accounts.Usage(r.Context())
	if err != nil || pv.Plan == nil {
		return 0, 0, false, err
	}
	return pv.Plan.Limits.DNSZones, pv.Plan.Limits.DNSRecords, true, nil
}

// dnsPage shows the zones of the scope: ?team= (remembered, as the
// projects page does; scope.go), else the remembered one.
func (d *Dashboard) dnsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	teams, err := d.svc.Teams.Teams(r.Context())
	if err != nil {
		return err
	}
	team, explicit := scope(r)
	lost := false
	if explicit {
		keepScope(w, r, team, teams)
	} else {
		team, lost = rememberedScope(w, r, teams)
	}
	return d.renderDNS(w, r, s, http.StatusOK, zoneForm{Team: team, lost: lost})
}

// renderDNS shows the zones of form.Team's scope (a team's, or yours).
func (d *Dashboard) renderDNS(w http.ResponseWriter, r *http.Request, s *session, status int, form zoneForm) error {
	ctx := r.Context()
	zs, err := d.svc.DNS.Zones(ctx, form.Team)
	if err != nil {
		return err
	}
	ps, err := d.svc.Projects.Projects(ctx, form.Team)
	if err != nil {
		return err
	}
	teams, err := d.svc.Teams.Teams(ctx)
	if err != nil {
		return err
	}
	zl, rl, known := int64(0), int64(0), false
	if form.Team == "" { // a team's plan is on its page
		if zl, rl, known, err = d.planDNSLimits(r); err != nil {
			return err
		}
	}
	data := dnsData{Form: form, Team: form.Team, Teams: teams, LostTeam: form.lost}
	for _, p := range ps {
		data.Projects = append(data.Projects, p.Name)
	}
	if known {
		data.ZoneLimit = limitText(zl)
		data.ZonesFull = zl != apogee.Unlimited && int64(len(zs)) >= zl
	}
	for _, z := range zs {
		rs, err := d.svc.DNS.Records(ctx, z.Name)
		if err != nil {
			return err
		}
		row := zoneRow{ZoneView: z, Records: len(rs)}
		if known {
			row.Limit = limitText(rl)
			row.Full = rl != apogee.Unlimited && int64(len(rs)) >= rl
		}
		data.Zones = append(data.Zones, row)
	}
	d.render(w, r, status, "dns", s, "DNS", data)
	return nil
}

// refused is whether err is the service refusing what was asked (shown
// on the form) rather than a failure or a missing zone (an error page).
func refused(err error) bool {
	switch apogee.ErrorCode(err) {
	case "", apogee.EINTERNAL, apogee.ENOTFOUND, apogee.EUNAUTHORIZED, apogee.EFORBIDDEN:
		return false
	}
	return true
}

func (d *Dashboard) addZone(w http.ResponseWriter, r *http.Request, s *session) error {
	form := zoneForm{Name: strings.TrimSpace(r.PostFormValue("name")), Team: r.PostFormValue("team"), Project: r.PostFormValue("project")}
	v, err := d.svc.DNS.AddZone(r.Context(), apogee.AddZoneRequest{Name: form.Name, Team: form.Team, Project: form.Project})
	if refused(err) || apogee.ErrorCode(err) == apogee.ENOTFOUND && form.Project != "" {
		form.Error = apogee.ErrorMessage(err)
		return d.renderDNS(w, r, s, api.StatusOf(apogee.ErrorCode(err)), form)
	}
	if err != nil {
		return err
	}
	setFlash(w, r, "ok", "Zone "+v.Name+" added. Set its nameservers at your registrar to "+strings.Join(v.Nameservers, " and ")+", then press Verify.")
	return seeOther(w, r, zonePath(v.Name))
}

func zonePath(name string) string { return "/dns/zones/" + url.PathEscape(name) }

// zonesPath is the DNS page of a scope: yours ("") or a team's, named
// either way (a bare /dns shows the remembered scope).
func zonesPath(team string) string {
	return "/dns?team=" + url.QueryEscape(team)
}

// zoneOf reads the zone of the request's path as the signed-in user: a
// zone that is not theirs is an error page (404), as a missing one.
func (d *Dashboard) zoneOf(r *http.Request) (*apogee.ZoneView, error) {
	return d.svc.DNS.Zone(r.Context(), r.PathValue("zone"))
}

// backToZone returns to the page the form came from (the list or the
// zone), with err's message or ok.
func backToZone(w http.ResponseWriter, r *http.Request, z *apogee.ZoneView, err error, ok string) error {
	if err != nil && !refused(err) && apogee.ErrorCode(err) != apogee.ENOTFOUND {
		return err
	}
	if err != nil {
		setFlash(w, r, "error", apogee.ErrorMessage(err))
	} else {
		setFlash(w, r, "ok", ok)
	}
	to := zonePath(z.Name)
	if r.PostFormValue("return_to") == "/dns" {
		to = zonesPath(z.Team)
	}
	return seeOther(w, r, to)
}

// verifyZone runs the delegation check the API runs; its result or its
// error (which nameservers were found) is the page's message.
func (d *Dashboard) verifyZone(w http.ResponseWriter, r *http.Request, s *session) error {
	z, err := d.zoneOf(r)
	if err != nil {
		return err
	}
	v, err := d.svc.DNS.VerifyZone(r.Context(), z.Name)
	if apogee.ErrorCode(err) == apogee.ENOTFOUND { // removed meanwhile
		return err
	}
	ok := ""
	if err == nil {
		ok = "Zone " + v.Name + " is verified: Apogee answers its DNS."
		if v.Project != "" {
			ok += " Its apex and www serve project " + v.Project + "."
		}
	}
	return backToZone(w, r, z, err, ok)
}

func (d *Dashboard) removeZone(w http.ResponseWriter, r *http.Request, s *session) error {
	z, err := d.zoneOf(r)
	if err != nil {
		return err
	}
	if err := d.svc.DNS.RemoveZone(r.Context(), z.Name); err != nil {
		return err
	}
	setFlash(w, r, "ok", "Zone "+z.Name+" removed with its records; Apogee no longer answers for it.")
	return seeOther(w, r, zonesPath(z.Team))
}

func (d *Dashboard) zonePage(w http.ResponseWriter, r *http.Request, s *session) error {
	z, err := d.zoneOf(r)
	if err != nil {
		return err
	}
	return d.renderZone(w, r, s, http.StatusOK, z, recordForm{}, recordForm{ID: r.URL.Query().Get("edit")})
}

// renderZone shows the zone's page; add and edit are the forms as typed
// (edit.ID, if a record of the zone, is the row shown as a form).
func (d *Dashboard) renderZone(w http.ResponseWriter, r *http.Request, s *session, status int, z *apogee.ZoneView, add, edit recordForm) error {
	rs, err := d.svc.DNS.Records(r.Context(), z.Name)
	if err != nil {
		return err
	}
	data := zoneData{Zone: z, Records: rs, Count: len(rs), Types: apogee.RecordTypes, Add: add, Edit: edit, Auto: autoRecords(z, rs)}
	if data.Add.TTL == "" {
		data.Add.TTL = strconv.Itoa(apogee.DefaultTTL)
	}
	if edit.ID != "" && edit.Error == "" { // the row's values, to change
		i := slices.IndexFunc(rs, func(x *apogee.ZoneRecord) bool { return x.ID == edit.ID })
		if i < 0 {
			data.Edit = recordForm{}
		} else {
			data.Edit = recordForm{ID: rs[i].ID, Name: rs[i].Name, Type: rs[i].Type, Value: rs[i].Value, TTL: strconv.Itoa(rs[i].TTL)}
		}
	}
	if s.user != nil && z.OwnerID == s.user.ID { // the limit is the owner's plan's
		_, rl, known, err := d.planDNSLimits(r)
		if err != nil {
			return err
		}
		if known {
			data.Limit = limitText(rl)
			data.Full = rl != apogee.Unlimited && int64(len(rs)) >= rl
		}
	}
	d.render(w, r, status, "dns_zone", s, z.Name+" · DNS", data)
	return nil
}

// autoRecords are the records the DNS server answers for the zone
// without a record of its own: SOA and NS at the apex, and for a zone
// with a project the edge's addresses at the apex and www (unless the
// zone's own A, AAAA or CNAME records replace them) and, with a
// wildcard domain, at every other name.
func autoRecords(z *apogee.ZoneView, rs []*apogee.ZoneRecord) []autoRecord {
	var out []autoRecord
	if len(z.Nameservers) > 0 {
		out = append(out, autoRecord{Name: "@", Type: "SOA", Value: z.Nameservers[0] + " hostmaster." + z.Name + " (serial " + strconv.FormatInt(z.Serial, 10) + ")",
			Why: "Start of authority; the serial moves with every change"})
	}
	for _, ns := range z.Nameservers {
		out = append(out, autoRecord{Name: "@", Type: "NS", Value: ns, Why: "Apogee's nameservers"})
	}
	if z.Project == "" {
		return out
	}
	own := func(name string) bool {
		return slices.ContainsFunc(rs, func(r *apogee.ZoneRecord) bool {
			return r.Name == name && (r.Type == "A" || r.Type == "AAAA" || r.Type == "CNAME")
		})
	}
	for _, name := range []string{"@", "www"} {
		if !own(name) {
			out = append(out, autoRecord{Name: name, Type: "A/AAAA", Value: "the edge's addresses", Why: "Serves project " + z.Project})
		}
	}
	if z.Wildcard {
		out = append(out, autoRecord{Name: "*", Type: "A/AAAA", Value: "the edge's addresses", Why: "Wildcard domain *." + z.Name + ": every name without records of its own"})
	}
	return out
}

// readRecordForm reads a record form; an empty TTL is the default.
func readRecordForm(r *http.Request) (recordForm, int, error) {
	f := recordForm{Name: strings.TrimSpace(r.PostFormValue("name")), Type: strings.TrimSpace(r.PostFormValue("type")),
		Value: strings.TrimSpace(r.PostFormValue("value")), TTL: strings.TrimSpace(r.PostFormValue("ttl"))}
	if f.TTL == "" {
		return f, 0, nil
	}
	ttl, err := strconv.Atoi(f.TTL)
	if err != nil {
		return f, 0, apogee.Errorf(apogee.EINVALID, "TTL %q is not a number: use %d to %d seconds", f.TTL, apogee.MinRecordTTL, apogee.MaxRecordTTL)
	}
	return f, ttl, nil
}

func (d *Dashboard) addRecord(w http.ResponseWriter, r *http.Request, s *session) error {
	z, err := d.zoneOf(r)
	if err != nil {
		return err
	}
	form, ttl, err := readRecordForm(r)
	var rec *apogee.ZoneRecord
	if err == nil {
		rec, err = d.svc.DNS.AddRecord(r.Context(), z.Name, apogee.AddRecordRequest{Name: form.Name, Type: form.Type, Value: form.Value, TTL: ttl})
	}
	if refused(err) {
		form.Error = apogee.ErrorMessage(err)
		return d.renderZone(w, r, s, api.StatusOf(apogee.ErrorCode(err)), z, form, recordForm{})
	}
	if err != nil {
		return err
	}
	setFlash(w, r, "ok", "Added "+rec.FQDN()+" "+rec.Type+" "+rec.Value+".")
	return seeOther(w, r, zonePath(z.Name)+"#records") // the new row, rather than the form again
}

func (d *Dashboard) updateRecord(w http.ResponseWriter, r *http.Request, s *session) error {
	z, err := d.zoneOf(r)
	if err != nil {
		return err
	}
	form, ttl, err := readRecordForm(r)
	form.ID = r.PathValue("id")
	var rec *apogee.ZoneRecord
	if err == nil {
		rec, err = d.svc.DNS.UpdateRecord(r.Context(), z.Name, form.ID,
			apogee.UpdateRecordRequest{Name: &form.Name, Type: &form.Type, Value: &form.Value, TTL: &ttl})
	}
	if refused(err) {
		form.Error = apogee.ErrorMessage(err)
		return d.renderZone(w, r, s, api.StatusOf(apogee.ErrorCode(err)), z, recordForm{}, form)
	}
	if err != nil {
		return backToZone(w, r, z, err, "") // the record is gone: say so on the zone's page
	}
	setFlash(w, r, "ok", "Saved "+rec.FQDN()+" "+rec.Type+" "+rec.Value+" (TTL "+strconv.Itoa(rec.TTL)+").")
	return seeOther(w, r, zonePath(z.Name)+"#records")
}

func (d *Dashboard) removeRecord(w http.ResponseWriter, r *http.Request, s *session) error {
	z, err := d.zoneOf(r)
	if err != nil {
		return err
	}
	err = d.svc.DNS.RemoveRecord(r.Context(), z.Name, r.PathValue("id"))
	return backToZone(w, r, z, err, "Record removed.")
}
