package dashboard

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/framework"
)

// The project page's settings: build overrides, serve switches and
// custom domains. Each form is turned into one call of the API
// (PATCH /api/v1/projects/{name}, the domains routes), which checks and
// refuses; the page shows its message.

// presetOption is one choice of the framework select.
type presetOption struct {
	ID, Name string
}

// presetOptions are the framework presets in detection order.
func presetOptions() []presetOption {
	ps := framework.Presets()
	out := make([]presetOption, len(ps))
	for i, p := range ps {
		out[i] = presetOption{ID: p.Framework, Name: p.Name}
	}
	return out
}

// orDetect is the JSON merge patch value of a build setting field: an
// empty field resets it to what detection finds (null).
func orDetect(v string) *string {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	return &v
}

// saveBuildSettings sets the project's build overrides from the form.
// Every field is sent: a filled one overrides detection, an empty one
// goes back to detecting.
func (d *Dashboard) saveBuildSettings(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	f := func(name string) *string { return orDetect(r.PostFormValue(name)) }
	patch := map[string]any{"settings": map[string]any{"build": map[string]*string{
		"framework":       f("framework"),
		"install_command": f("install_command"),
		"build_command":   f("build_command"),
		"output_dir":      f("output_dir"),
		"root_dir":        f("root_dir"),
	}}}
	err := d.api.Call(r.Context(), s.user, "PATCH", apiPath("projects", r.PathValue("name")), patch, nil)
	return back(w, r, err, "Build settings saved; they apply from the next build.")
}

// saveServeSettings sets the project's serve switches from the form's
// checkboxes (an unchecked box is off) and the trailing-slash choice.
func (d *Dashboard) saveServeSettings(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	on := func(name string) bool { return r.PostFormValue(name) != "" }
	var slash *bool
	switch r.PostFormValue("trailing_slash") {
	case "", "leave":
	case "add":
		slash = new(bool)
		*slash = true
	case "remove":
		slash = new(bool)
	default:
		return back(w, r, apogee.Errorf(apogee.EINVALID, "trailing slash must be leave, add or remove"), "")
	}
	patch := map[string]any{"settings": map[string]any{"serve": map[string]any{
		"spa": on("spa"), "clean_urls": on("clean_urls"), "hsts": on("hsts"), "nosniff": on("nosniff"),
		"trailing_slash": slash,
	}}}
	err := d.api.Call(r.Context(), s.user, "PATCH", apiPath("projects", r.PathValue("name")), patch, nil)
	return back(w, r, err, "Serve settings saved; they apply from the next deployment.")
}

// addDomain adds a custom domain; the page then lists it with the DNS
// records to create.
func (d *Dashboard) addDomain(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostFormValue("domain"))
	if name == "" {
		return back(w, r, apogee.Errorf(apogee.EINVALID, "enter a domain name, such as www.example.com"), "")
	}
	var v apogee.DomainView
	if err := d.api.Call(r.Context(), s.user, "POST", apiPath("projects", r.PathValue("name"), "domains"),
		apogee.CreateDomainRequest{Name: name}, &v); err != nil {
		return back(w, r, err, "")
	}
	return back(w, r, nil, "Domain "+v.Name+" added. Create its DNS records below, then press Verify.")
}

// projectDomain checks that the form's domain belongs to the project of
// the path (a domain of another project, even the user's own, is not on
// this page) and returns its name.
func (d *Dashboard) projectDomain(r *http.Request, s *session) (string, error) {
	name := strings.ToLower(strings.TrimSpace(r.PostFormValue("domain")))
	if name == "" {
		return "", apogee.Errorf(apogee.EINVALID, "the form names no domain; reload the page and press the button again")
	}
	var v apogee.DomainView
	err := d.api.Call(r.Context(), s.user, "GET", apiPath("domains", name), nil, &v)
	if err == nil && v.Project != r.PathValue("name") {
		err = apogee.Errorf(apogee.ENOTFOUND, "domain %q is not a domain of project %s", name, r.PathValue("name"))
	}
	return name, err
}

func (d *Dashboard) verifyDomain(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	name, err := d.projectDomain(r, s)
	if err != nil {
		return back(w, r, err, "")
	}
	var v apogee.DomainView
	err = d.api.Call(r.Context(), s.user, "POST", apiPath("domains", name, "verify"), nil, &v)
	return back(w, r, err, "Domain "+name+" is verified; it serves the production deployment.")
}

func (d *Dashboard) removeDomain(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	name, err := d.projectDomain(r, s)
	if err != nil {
		return back(w, r, err, "")
	}
	err = d.api.Call(r.Context(), s.user, "DELETE", apiPath("domains", name), nil, nil)
	return back(w, r, err, "Domain "+name+" removed.")
}

// redeploy builds again the commit a Git deployment of the project was
// built from, to the same target: a fresh build of the same source (after
// a change of variables or build settings, say).
func (d *Dashboard) redeploy(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	name := r.PathValue("name")
	var old apogee.DeploymentView
	if id := r.PostFormValue("deployment_id"); id == "" {
		return back(w, r, apogee.Errorf(apogee.EINVALID, "the form names no deployment; reload the page and press Redeploy again"), "")
	} else if err := d.api.Call(r.Context(), s.user, "GET", apiPath("deployments", id), nil, &old); err != nil {
		return back(w, r, err, "")
	}
	if old.Project != name {
		return back(w, r, apogee.Errorf(apogee.ENOTFOUND, "deployment %s is not a deployment of project %s", old.ID, name), "")
	}
	var v apogee.DeploymentView
	if err := d.api.Call(r.Context(), s.user, "POST", apiPath("deployments", old.ID, "redeploy"), nil, &v); err != nil {
		return back(w, r, err, "")
	}
	setFlash(w, r, "ok", "Redeploying "+old.Commit[:min(7, len(old.Commit))]+": build queued.")
	return seeOther(w, r, "/deployments/"+url.PathEscape(v.ID))
}
