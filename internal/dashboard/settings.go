package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/framework"
	"github.com/apogee-dev/apogee/internal/nodejs"
)

// The project page's settings: build overrides, serve switches and
// custom domains. Each form is turned into one call of a service, which
// checks and refuses; the page shows its message.

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

// nodeOption is one choice of the Node.js select.
type nodeOption struct {
	Value, Label string
	Selected     bool
}

// nodeListWait bounds how long the build settings page waits for the
// registry's list of Node.js versions (fetched once an hour).
const nodeListWait = 5 * time.Second

// nodeOptions are the Node.js select's choices: detection, the lines
// the server knows ("22.x", as Vercel offers them), and the project's
// own value when it is none of those (a range set with the CLI). note
// says why the list is short, "" when it is not.
func (d *Dashboard) nodeOptions(ctx context.Context, current string) (opts []nodeOption, note string) {
	opts = []nodeOption{{Value: "", Label: "Detect (engines.node, .nvmrc, .node-version; else the current LTS)", Selected: current == ""}}
	var lines []nodejs.Line
	if d.nodes == nil {
		note = "This server builds with its own Node.js; a version set here is not fetched."
	} else {
		ctx, cancel := context.WithTimeout(ctx, nodeListWait)
		defer cancel()
		var err error
		if lines, err = d.nodes.Lines(ctx); err != nil {
			d.log.Warn("dashboard: the list of Node.js versions", "err", err)
			note = "The list of Node.js versions could not be fetched from the registry just now; type a version with the CLI (apogee projects update --node-version) or try again."
		}
	}
	found := current == ""
	for _, l := range lines {
		o := nodeOption{Value: fmt.Sprintf("%d.x", l.Major), Label: fmt.Sprintf("%d.x (%s", l.Major, l.Newest)}
		if l.LTS {
			o.Label += ", LTS"
		}
		if l.Kept {
			o.Label += ", on the server"
		}
		o.Label += ")"
		o.Selected = current == o.Value
		found = found || o.Selected
		opts = append(opts, o)
	}
	if !found {
		opts = append(opts, nodeOption{Value: current, Label: current + " (set with the CLI)", Selected: true})
	}
	return opts, note
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
	// Watch paths: one a line, or separated by commas.
	var watch []string
	for _, p := range strings.FieldsFunc(r.PostFormValue("watch_paths"), func(c rune) bool { return c == ',' || c == '\n' || c == '\r' }) {
		if p = strings.TrimSpace(p); p != "" {
			watch = append(watch, p)
		}
	}
	err := d.patchSettings(r, "build", map[string]any{
		"framework":       f("framework"),
		"install_command": f("install_command"),
		"build_command":   f("build_command"),
		"output_dir":      f("output_dir"),
		"root_dir":        f("root_dir"),
		"node_version":    f("node_version"),
		"watch_paths":     watch,
		"ignore_command":  f("ignore_command"),
	})
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
	err := d.patchSettings(r, "serve", map[string]any{
		"spa": on("spa"), "clean_urls": on("clean_urls"), "hsts": on("hsts"), "nosniff": on("nosniff"),
		"trailing_slash": slash,
	})
	return back(w, r, err, "Serve settings saved; they apply from the next deployment.")
}

// patchSettings sets the fields of one settings section of the project
// of the request's path (a JSON merge patch: nil resets a field).
func (d *Dashboard) patchSettings(r *http.Request, section string, fields any) error {
	raw, err := json.Marshal(fields)
	if err != nil {
		return errorf("settings %s: %w", section, err)
	}
	_, err = d.svc.Projects.UpdateProject(r.Context(), r.PathValue("name"), map[string]json.RawMessage{section: raw})
	return err
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
	v, err := d.svc.Domains.AddDomain(r.Context(), r.PathValue("name"), name)
	if err != nil {
		return back(w, r, err, "")
	}
	return back(w, r, nil, "Domain "+v.Name+" added. Create its DNS records below, then press Verify.")
}

// projectDomain checks that the form's domain belongs to the project of
// the path (a domain of another project, even the user's own, is not on
// this page) and returns its name.
func (d *Dashboard) projectDomain(r *http.Request) (string, error) {
	name := strings.ToLower(strings.TrimSpace(r.PostFormValue("domain")))
	if name == "" {
		return "", apogee.Errorf(apogee.EINVALID, "the form names no domain; reload the page and press the button again")
	}
	v, err := d.svc.Domains.Domain(r.Context(), name)
	if err == nil && v.Project != r.PathValue("name") {
		err = apogee.Errorf(apogee.ENOTFOUND, "domain %q is not a domain of project %s", name, r.PathValue("name"))
	}
	return name, err
}

func (d *Dashboard) verifyDomain(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	name, err := d.projectDomain(r)
	if err != nil {
		return back(w, r, err, "")
	}
	_, err = d.svc.Domains.VerifyDomain(r.Context(), name)
	return back(w, r, err, "Domain "+name+" is verified; it serves the production deployment.")
}

func (d *Dashboard) removeDomain(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	name, err := d.projectDomain(r)
	if err != nil {
		return back(w, r, err, "")
	}
	err = d.svc.Domains.RemoveDomain(r.Context(), name)
	return back(w, r, err, "Domain "+name+" removed.")
}

// redeploy builds again the commit a Git deployment of the project was
// built from, to the same target: a fresh build of the same source (after
// a change of variables or build settings, say).
func (d *Dashboard) redeploy(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	name, id := r.PathValue("name"), r.PostFormValue("deployment_id")
	if id == "" {
		return back(w, r, apogee.Errorf(apogee.EINVALID, "the form names no deployment; reload the page and press Redeploy again"), "")
	}
	old, err := d.svc.Deployments.Deployment(r.Context(), id)
	if err != nil {
		return back(w, r, err, "")
	}
	if old.Project != name {
		return back(w, r, apogee.Errorf(apogee.ENOTFOUND, "deployment %s is not a deployment of project %s", old.ID, name), "")
	}
	v, err := d.svc.Builds.Redeploy(r.Context(), old.ID, apogee.RedeployRequest{})
	if err != nil {
		return back(w, r, err, "")
	}
	setFlash(w, r, "ok", "Redeploying "+old.Commit[:min(7, len(old.Commit))]+": build queued.")
	return seeOther(w, r, "/deployments/"+url.PathEscape(v.ID))
}
