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

// planForm is the plan form as sent: limits as typed, storage in MiB.
type planForm struct {
	ID, Name                                                            string
	Default                                                             bool
	Projects, ConcurrentBuilds, BuildMinutes, StorageMiB, CustomDomains string
	Error                                                               string
}

func formOf(p *apogee.Plan) planForm {
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	mib := p.Limits.StorageBytes
	if mib > 0 {
		mib = (mib + (1<<20 - 1)) >> 20
	}
	return planForm{ID: p.ID, Name: p.Name, Default: p.Default, Projects: n(p.Limits.Projects),
		ConcurrentBuilds: n(p.Limits.ConcurrentBuilds), BuildMinutes: n(p.Limits.BuildMinutes),
		StorageMiB: n(mib), CustomDomains: n(p.Limits.CustomDomains)}
}

func readPlanForm(r *http.Request) planForm {
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	return planForm{ID: r.PathValue("id"), Name: v("name"), Default: r.PostFormValue("default") != "",
		Projects: v("projects"), ConcurrentBuilds: v("concurrent_builds"), BuildMinutes: v("build_minutes"),
		StorageMiB: v("storage_mib"), CustomDomains: v("custom_domains")}
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
	}{
		{"Projects", f.Projects, &req.Projects, 1},
		{"Concurrent builds", f.ConcurrentBuilds, &req.ConcurrentBuilds, 1},
		{"Build minutes a month", f.BuildMinutes, &req.BuildMinutes, 1},
		{"Storage (MiB)", f.StorageMiB, &req.StorageBytes, 1 << 20},
		{"Custom domains", f.CustomDomains, &req.CustomDomains, 1},
	} {
		n, err := strconv.ParseInt(l.value, 10, 64)
		if err != nil || n < apogee.Unlimited || n > (1<<62)/l.scale {
			return req, apogee.Errorf(apogee.EINVALID, "%s: enter a whole number, 0 for none or -1 for unlimited", l.label)
		}
		if n > 0 {
			n *= l.scale
		}
		*l.dst = &n
	}
	return req, nil
}

// planRow is a plan as the plans page lists it.
type planRow struct {
	*apogee.Plan
	Storage string
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
		rows[i] = planRow{Plan: p, Storage: "unlimited"}
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
		f := planForm{Projects: "3", ConcurrentBuilds: "1", BuildMinutes: "100", StorageMiB: "1024", CustomDomains: "1"}
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
