package dashboard

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api"
)

// The admin's users and plans pages, on the admin service.

func (d *Dashboard) adminUsers(w http.ResponseWriter, r *http.Request, s *session) error {
	return d.adminUsersPage(w, r, s, nil)
}

// adminUsersPage shows the users and the pending invitations; invite is
// one just made, whose link is shown this once (invites.go).
func (d *Dashboard) adminUsersPage(w http.ResponseWriter, r *http.Request, s *session, invite *apogee.NewInvite) error {
	users, err := d.svc.Admin.Users(r.Context())
	if err != nil {
		return err
	}
	plans, err := d.svc.Admin.Plans(r.Context())
	if err != nil {
		return err
	}
	var def *apogee.Plan
	for _, p := range plans {
		if p.Default {
			def = p
		}
	}
	invites, err := d.pendingInvites(r)
	if err != nil {
		return err
	}
	d.render(w, r, http.StatusOK, "admin_users", s, "Admin: users", map[string]any{
		"Users": users, "Plans": plans, "Default": def, "Me": s.user.ID,
		"Invites": invites, "NewInvite": invite, "InviteExpiries": inviteExpiries,
	})
	return nil
}

// backTo returns to an admin page with a message saying how an action
// went: the service's own message when it refused. A user or plan that does
// not exist is the 404 page.
func backTo(w http.ResponseWriter, r *http.Request, to string, err error, ok string) error {
	switch c := apogee.ErrorCode(err); {
	case err == nil:
		setFlash(w, r, "ok", ok)
	case c == apogee.EINTERNAL || c == apogee.ENOTFOUND || c == apogee.EFORBIDDEN:
		return err
	default:
		setFlash(w, r, "error", apogee.ErrorMessage(err))
	}
	return seeOther(w, r, to)
}

// adminUser reads the user of the request's path, so a missing one is
// the 404 page and the flash can name them.
func (d *Dashboard) adminUser(r *http.Request) (*apogee.UserView, error) {
	users, err := d.svc.Admin.Users(r.Context())
	if err != nil {
		return nil, err
	}
	id := r.PathValue("id")
	for _, u := range users {
		if u.ID == id {
			return u, nil
		}
	}
	return nil, apogee.Errorf(apogee.ENOTFOUND, "there is no user %q; see the users page", id)
}

// adminSetDisabled disables (disabled=1) or enables (disabled=0) a user.
func (d *Dashboard) adminSetDisabled(w http.ResponseWriter, r *http.Request, s *session) error {
	u, err := d.adminUser(r)
	if err != nil {
		return err
	}
	var disabled bool
	switch r.PostFormValue("disabled") {
	case "1":
		disabled = true
	case "0":
	default:
		return backTo(w, r, "/admin/users", apogee.Errorf(apogee.EINVALID, "say whether to disable or enable the user"), "")
	}
	_, err = d.svc.Admin.UpdateUser(r.Context(), u.ID, apogee.UpdateUserRequest{Disabled: &disabled})
	ok := u.Email + " is disabled: they cannot sign in, and their tokens and sessions stop working."
	if !disabled {
		ok = u.Email + " is enabled again."
	}
	return backTo(w, r, "/admin/users", err, ok)
}

// adminSetPlan puts a user on a plan ("" = the default plan).
func (d *Dashboard) adminSetPlan(w http.ResponseWriter, r *http.Request, s *session) error {
	u, err := d.adminUser(r)
	if err != nil {
		return err
	}
	plan := r.PostFormValue("plan")
	_, err = d.svc.Admin.UpdateUser(r.Context(), u.ID, apogee.UpdateUserRequest{Plan: &plan})
	ok := u.Email + " is on the default plan now."
	if plan != "" {
		ok = u.Email + " is on another plan now."
		if plans, perr := d.svc.Admin.Plans(r.Context()); perr == nil {
			for _, p := range plans {
				if p.ID == plan {
					ok = u.Email + " is on plan " + p.Name + " now."
				}
			}
		}
	}
	return backTo(w, r, "/admin/users", err, ok)
}

// planForm is the plan form as sent: limits as typed, sizes in MiB. The
// app limits may be left empty: unchanged (a new plan: the default
// plan's).
type planForm struct {
	ID, Name                                                            string
	Default                                                             bool
	Projects, ConcurrentBuilds, BuildMinutes, StorageMiB, CustomDomains string
	AppMemoryMiB, AppCPUs, AppPids, AppInstances, ReleasesKept          string
	RuntimeLogMiB, RuntimeLogDays                                       string
	DNSZones, DNSRecords                                                string
	RequestLogDays, RequestLogRows                                      string
	AuditLogDays                                                        string
	Error                                                               string
}

// mib is a size limit in MiB, rounded up (-1 stays).
func mib(v int64) int64 {
	if v > 0 {
		v = (v + (1<<20 - 1)) >> 20
	}
	return v
}

func formOf(p *apogee.Plan) planForm {
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	l := p.Limits
	return planForm{ID: p.ID, Name: p.Name, Default: p.Default, Projects: n(l.Projects),
		ConcurrentBuilds: n(l.ConcurrentBuilds), BuildMinutes: n(l.BuildMinutes),
		StorageMiB: n(mib(l.StorageBytes)), CustomDomains: n(l.CustomDomains),
		AppMemoryMiB: n(l.AppMemoryMB), AppCPUs: strconv.FormatFloat(l.AppCPUs, 'f', -1, 64), AppPids: n(l.AppPids),
		AppInstances: n(l.AppInstances), ReleasesKept: n(l.ReleasesKept),
		RuntimeLogMiB: n(mib(l.RuntimeLogBytes)), RuntimeLogDays: n(l.RuntimeLogDays),
		DNSZones: n(l.DNSZones), DNSRecords: n(l.DNSRecords),
		RequestLogDays: n(l.RequestLogDays), RequestLogRows: n(l.RequestLogRows), AuditLogDays: n(l.AuditLogDays)}
}

func readPlanForm(r *http.Request) planForm {
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	return planForm{ID: r.PathValue("id"), Name: v("name"), Default: r.PostFormValue("default") != "",
		Projects: v("projects"), ConcurrentBuilds: v("concurrent_builds"), BuildMinutes: v("build_minutes"),
		StorageMiB: v("storage_mib"), CustomDomains: v("custom_domains"),
		AppMemoryMiB: v("app_memory_mb"), AppCPUs: v("app_cpus"), AppPids: v("app_pids"),
		AppInstances: v("app_instances"), ReleasesKept: v("releases_kept"),
		RuntimeLogMiB: v("runtime_log_mib"), RuntimeLogDays: v("runtime_log_days"),
		DNSZones: v("dns_zones"), DNSRecords: v("dns_records"),
		RequestLogDays: v("request_log_days"), RequestLogRows: v("request_log_rows"), AuditLogDays: v("audit_log_days")}
}

// request turns the form into the API's request, or an EINVALID error
// naming the field that is not a limit.
func (f planForm) request() (apogee.PlanRequest, error) {
	req := apogee.PlanRequest{Name: &f.Name}
	if f.Default {
		req.Default = &f.Default
	}
	for _, l := range []struct {
		label, value string
		dst          **int64
		scale        int64
		optional     bool
	}{
		{"Projects", f.Projects, &req.Projects, 1, false},
		{"Concurrent builds", f.ConcurrentBuilds, &req.ConcurrentBuilds, 1, false},
		{"Build minutes a month", f.BuildMinutes, &req.BuildMinutes, 1, false},
		{"Storage (MiB)", f.StorageMiB, &req.StorageBytes, 1 << 20, false},
		{"Custom domains", f.CustomDomains, &req.CustomDomains, 1, false},
		{"Memory per instance (MiB)", f.AppMemoryMiB, &req.AppMemoryMB, 1, true},
		{"Processes per instance", f.AppPids, &req.AppPids, 1, true},
		{"Instances per app", f.AppInstances, &req.AppInstances, 1, true},
		{"Releases kept", f.ReleasesKept, &req.ReleasesKept, 1, true},
		{"Runtime log per app (MiB)", f.RuntimeLogMiB, &req.RuntimeLogBytes, 1 << 20, true},
		{"Runtime log days", f.RuntimeLogDays, &req.RuntimeLogDays, 1, true},
		{"DNS zones", f.DNSZones, &req.DNSZones, 1, true},
		{"Records per zone", f.DNSRecords, &req.DNSRecords, 1, true},
		{"Request log days", f.RequestLogDays, &req.RequestLogDays, 1, true},
		{"Request log records", f.RequestLogRows, &req.RequestLogRows, 1, true},
		{"Audit log days", f.AuditLogDays, &req.AuditLogDays, 1, true},
	} {
		if l.optional && l.value == "" {
			continue
		}
		n, err := strconv.ParseInt(l.value, 10, 64)
		if err != nil || n < apogee.Unlimited || n > (1<<62)/l.scale {
			return req, apogee.Errorf(apogee.EINVALID, "%s: enter a whole number, 0 for none or -1 for unlimited", l.label)
		}
		if n > 0 {
			n *= l.scale
		}
		*l.dst = &n
	}
	if f.AppCPUs != "" {
		c, err := strconv.ParseFloat(f.AppCPUs, 64)
		if err != nil || c < 0 && c != float64(apogee.Unlimited) {
			return req, apogee.Errorf(apogee.EINVALID, "CPUs per instance: enter a number such as 0.5 or 2, 0 for the default or -1 for unlimited")
		}
		req.AppCPUs = &c
	}
	return req, nil
}

// planRow is a plan as the plans page lists it.
type planRow struct {
	*apogee.Plan
	Storage string
	Apps    planAppsRow
}

// planAppsRow is a plan's app limits for people.
type planAppsRow struct {
	Memory, CPUs, Pids, Instances, Releases, RuntimeLog string
}

func appsRow(p *apogee.Plan) planAppsRow {
	a := p.Apps()
	r := planAppsRow{Memory: "unlimited", CPUs: "unlimited", Pids: "unlimited",
		Instances: limitText(a.MaxInstances), Releases: limitText(a.ReleasesKept)}
	if a.MemoryBytes > 0 {
		r.Memory = apogee.FormatBytes(a.MemoryBytes)
	}
	if a.CPUs > 0 {
		r.CPUs = strconv.FormatFloat(a.CPUs, 'f', -1, 64)
	}
	if a.Pids > 0 {
		r.Pids = thousands(a.Pids)
	}
	var parts []string
	if l := p.Limits.RuntimeLogDays; l != apogee.Unlimited {
		parts = append(parts, thousands(l)+" days")
	}
	if l := p.Limits.RuntimeLogBytes; l != apogee.Unlimited {
		parts = append(parts, apogee.FormatBytes(l))
	}
	r.RuntimeLog = "unlimited"
	if len(parts) > 0 {
		r.RuntimeLog = strings.Join(parts, " or ")
	}
	return r
}

func limitText(v int64) string {
	if v == apogee.Unlimited {
		return "unlimited"
	}
	return thousands(v)
}

// adminPlans shows the plans and the form that creates one; with an id
// in the path (/admin/plans/{id}) the form edits that plan.
func (d *Dashboard) adminPlans(w http.ResponseWriter, r *http.Request, s *session) error {
	return d.renderPlans(w, r, s, http.StatusOK, nil)
}

func (d *Dashboard) renderPlans(w http.ResponseWriter, r *http.Request, s *session, status int, form *planForm) error {
	plans, err := d.svc.Admin.Plans(r.Context())
	if err != nil {
		return err
	}
	rows := make([]planRow, len(plans))
	var editing *apogee.Plan
	for i, p := range plans {
		rows[i] = planRow{Plan: p, Storage: "unlimited", Apps: appsRow(p)}
		if p.Limits.StorageBytes != apogee.Unlimited {
			rows[i].Storage = apogee.FormatBytes(p.Limits.StorageBytes)
		}
		if id := r.PathValue("id"); id != "" && p.ID == id {
			editing = p
		}
	}
	if r.PathValue("id") != "" && editing == nil {
		return apogee.Errorf(apogee.ENOTFOUND, "there is no plan %q; see the plans page", r.PathValue("id"))
	}
	if form == nil {
		f := planForm{Projects: "3", ConcurrentBuilds: "1", BuildMinutes: "100", StorageMiB: "1024", CustomDomains: "1",
			AppMemoryMiB: "512", AppCPUs: "1", AppPids: "256", AppInstances: "3", ReleasesKept: "10",
			RuntimeLogMiB: "100", RuntimeLogDays: "7", DNSZones: "3", DNSRecords: "100",
			RequestLogDays: "7", RequestLogRows: "1000000", AuditLogDays: "90"}
		if editing != nil {
			f = formOf(editing)
		}
		form = &f
	}
	title := "Admin: plans"
	if editing != nil {
		title = "Admin: plan " + editing.Name
	}
	d.render(w, r, status, "admin_plans", s, title, map[string]any{
		"Plans": rows, "Form": form, "Editing": editing, "Limit": limitText,
	})
	return nil
}

// adminSavePlan creates a plan (POST /admin/plans) or changes one (POST
// /admin/plans/{id}); a refusal shows the form again with what was typed.
func (d *Dashboard) adminSavePlan(w http.ResponseWriter, r *http.Request, s *session) error {
	f := readPlanForm(r)
	req, err := f.request()
	if err == nil {
		if f.ID == "" {
			_, err = d.svc.Admin.CreatePlan(r.Context(), req)
		} else {
			_, err = d.svc.Admin.UpdatePlan(r.Context(), f.ID, req)
		}
	}
	switch c := apogee.ErrorCode(err); {
	case err == nil:
	case c == apogee.EINTERNAL || c == apogee.ENOTFOUND:
		return err
	default:
		f.Error = apogee.ErrorMessage(err)
		return d.renderPlans(w, r, s, api.StatusOf(apogee.ErrorCode(err)), &f)
	}
	if f.ID == "" {
		setFlash(w, r, "ok", "Plan "+f.Name+" created.")
	} else {
		setFlash(w, r, "ok", "Plan "+f.Name+" saved.")
	}
	return seeOther(w, r, "/admin/plans")
}

// adminDeletePlan deletes a plan no user is on.
func (d *Dashboard) adminDeletePlan(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	err := d.svc.Admin.DeletePlan(r.Context(), id)
	if c := apogee.ErrorCode(err); c != "" && c != apogee.ENOTFOUND && c != apogee.EINTERNAL {
		setFlash(w, r, "error", apogee.ErrorMessage(err))
		return seeOther(w, r, "/admin/plans/"+url.PathEscape(id))
	}
	return backTo(w, r, "/admin/plans", err, "Plan deleted.")
}
