package dashboard

import (
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api"
)

// deploymentRow is a deployment as the pages list it.
type deploymentRow struct {
	*apogee.DeploymentView
	Duration string
}

func row(v *apogee.DeploymentView, now time.Time) deploymentRow {
	return deploymentRow{DeploymentView: v, Duration: duration(v.Deployment, now)}
}

// duration is how long a deployment took (or has taken so far) to be
// ready: the build for built ones, the upload for uploaded ones.
func duration(d *apogee.Deployment, now time.Time) string {
	var took time.Duration
	switch {
	case d.BuildStartedAt != nil && d.BuildFinishedAt != nil:
		took = d.BuildFinishedAt.Sub(*d.BuildStartedAt)
	case d.BuildStartedAt != nil && d.Status == apogee.StatusBuilding:
		took = now.Sub(*d.BuildStartedAt)
	case d.ReadyAt != nil:
		took = d.ReadyAt.Sub(d.CreatedAt)
	default:
		return ""
	}
	return shortDuration(took)
}

func shortDuration(d time.Duration) string {
	if d < time.Second {
		return "<1s"
	}
	return d.Round(time.Second).String()
}

type projectItem struct {
	*apogee.ProjectView
	Last *deploymentRow
}

// home is the projects list for a signed-in user and the landing page
// for everyone else.
func (d *Dashboard) home(w http.ResponseWriter, r *http.Request) error {
	s, err := d.session(r)
	if err != nil {
		return err
	}
	if s == nil {
		d.render(w, r, http.StatusOK, "landing", nil, "Apogee: your own deployment platform", map[string]string{
			"URL": d.baseURL(), "SiteURL": d.siteURL("<project>"),
		})
		return nil
	}
	// The page acts as the signed-in user (home is not behind authed).
	ctx := apogee.NewContextWithUser(r.Context(), s.user)
	projects, err := d.svc.Projects.Projects(ctx)
	if err != nil {
		return err
	}
	items := make([]projectItem, len(projects))
	now := d.now()
	for i, p := range projects {
		items[i].ProjectView = p
		deps, err := d.svc.Deployments.Deployments(ctx, p.Name, 1)
		if err != nil {
			return err
		}
		if len(deps) > 0 {
			r := row(deps[0], now)
			items[i].Last = &r
		}
	}
	d.render(w, r, http.StatusOK, "projects", s, "Projects", map[string]any{"Projects": items, "URL": d.baseURL()})
	return nil
}

type newProjectForm struct {
	Name, GitURL, Branch, Kind, Error string
	GitHub                            githubRepos // the user's repositories, when GitHub is connected
	MaxZip                            int64
}

func (d *Dashboard) newProjectPage(w http.ResponseWriter, r *http.Request, s *session) error {
	kind := "empty"
	if k := r.URL.Query().Get("kind"); k == "git" || k == zipKind {
		kind = k
	}
	f := newProjectForm{Branch: "main", Kind: kind, MaxZip: d.maxZip}
	// A repository picked from the GitHub list fills the form.
	if q := r.URL.Query(); q.Get("git_url") != "" {
		f.Kind, f.GitURL, f.Name = "git", q.Get("git_url"), q.Get("name")
		if b := q.Get("branch"); b != "" {
			f.Branch = b
		}
	}
	f.GitHub = d.githubRepos(r, s)
	d.render(w, r, http.StatusOK, "new_project", s, "New project", f)
	return nil
}

// createProject makes a project: empty (for CLI deploys), built from a
// Git repository, or built from the ZIP the form carries.
func (d *Dashboard) createProject(w http.ResponseWriter, r *http.Request, s *session, file *multipart.Part) error {
	f := newProjectForm{
		Name:   strings.TrimSpace(r.PostFormValue("name")),
		GitURL: strings.TrimSpace(r.PostFormValue("git_url")),
		Branch: strings.TrimSpace(r.PostFormValue("branch")),
		Kind:   r.PostFormValue("kind"),
		MaxZip: d.maxZip,
	}
	refuse := func(err error) error {
		if c := apogee.ErrorCode(err); c == apogee.EINTERNAL {
			return err
		}
		f.Error = apogee.ErrorMessage(err)
		d.render(w, r, api.StatusOf(apogee.ErrorCode(err)), "new_project", s, "New project", f)
		return nil
	}
	req := apogee.CreateProjectRequest{Name: f.Name}
	switch f.Kind {
	case "git":
		if f.GitURL == "" {
			return refuse(apogee.Errorf(apogee.EINVALID, "enter the repository's URL, such as https://github.com/acme/web.git"))
		}
		req.Git = &apogee.GitSource{URL: f.GitURL, Branch: f.Branch}
	case zipKind:
		v, err := d.createFromZip(r.Context(), s, req, file)
		if err != nil {
			return refuse(err)
		}
		setFlash(w, r, "ok", "Project "+f.Name+" created; its ZIP is building.")
		return seeOther(w, r, "/deployments/"+url.PathEscape(v.ID))
	}
	p, err := d.svc.Projects.CreateProject(r.Context(), req)
	if err != nil {
		return refuse(err)
	}
	setFlash(w, r, "ok", "Project "+p.Name+" created.")
	return seeOther(w, r, "/projects/"+url.PathEscape(p.Name))
}

func (d *Dashboard) projectPage(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, name := r.Context(), r.PathValue("name")
	p, err := d.svc.Projects.Project(ctx, name)
	if err != nil {
		return err
	}
	deps, err := d.svc.Deployments.Deployments(ctx, name, 50)
	if err != nil {
		return err
	}
	env, err := d.svc.Env.Env(ctx, name)
	if err != nil {
		return err
	}
	hooks, err := d.webhookList(r, name)
	if err != nil {
		return err
	}
	domains, err := d.svc.Domains.Domains(ctx, name)
	if err != nil {
		return err
	}
	isApp := p.Settings.App.Kind != nil && *p.Settings.App.Kind == apogee.KindApp
	if st, err := d.svc.Apps.AppStatus(ctx, name); err == nil && st.Kind == apogee.KindApp {
		isApp = true // production is an app's release
	}
	now := d.now()
	rows := make([]deploymentRow, len(deps))
	var production *deploymentRow
	building := false
	for i, dv := range deps {
		rows[i] = row(dv, now)
		if dv.Production {
			production = &rows[i]
		}
		if apogee.Building(dv.Status) {
			building = true
		}
	}
	d.render(w, r, http.StatusOK, "project", s, p.Name, map[string]any{
		"Project": p, "Deployments": rows, "Production": production, "Env": env,
		"Building": building, "URL": d.baseURL(),
		"Webhooks": hooks, "IsApp": isApp, // apps.go
		// settings.go, zipupload.go
		"Previews": previewsByBranch(rows), "Domains": domains, "Presets": presetOptions(), "MaxZip": d.maxZip,
	})
	return nil
}

// back returns to the project page with a message saying how an action
// went: the service's own message when it refused.
func back(w http.ResponseWriter, r *http.Request, err error, ok string) error {
	switch {
	case apogee.ErrorCode(err) == apogee.EINTERNAL:
		return err
	case err != nil:
		setFlash(w, r, "error", apogee.ErrorMessage(err))
	default:
		setFlash(w, r, "ok", ok)
	}
	return seeOther(w, r, "/projects/"+url.PathEscape(r.PathValue("name")))
}

// mayUse checks that the signed-in user may see the project of the
// request's path before an action on it: a missing project, or another
// user's, is the 404 page rather than a message on a page they cannot see.
func (d *Dashboard) mayUse(r *http.Request, s *session) error {
	_, err := d.svc.Projects.Project(r.Context(), r.PathValue("name"))
	return err
}

// deployNow queues a build of the project's branch and opens its page.
func (d *Dashboard) deployNow(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	v, err := d.svc.Builds.QueueBuild(r.Context(), r.PathValue("name"), apogee.BuildRequest{})
	if err != nil {
		return back(w, r, err, "")
	}
	setFlash(w, r, "ok", "Build queued.")
	return seeOther(w, r, "/deployments/"+url.PathEscape(v.ID))
}

func (d *Dashboard) promote(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	id := r.PostFormValue("deployment_id")
	_, err := d.svc.Deployments.Promote(r.Context(), r.PathValue("name"), id)
	return back(w, r, err, "Deployment "+id+" is production now.")
}

func (d *Dashboard) rollback(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	v, err := d.svc.Deployments.Rollback(r.Context(), r.PathValue("name"), "")
	if err != nil {
		return back(w, r, err, "")
	}
	return back(w, r, nil, "Rolled back: production is deployment "+v.ID+" again.")
}

func (d *Dashboard) setEnv(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	key := strings.TrimSpace(r.PostFormValue("key"))
	value := r.PostFormValue("value")
	secret := r.PostFormValue("secret") != ""
	if err := apogee.ValidateEnvKey(key); err != nil {
		return back(w, r, err, "")
	}
	_, err := d.svc.Env.SetEnv(r.Context(), r.PathValue("name"), key, value, secret)
	return back(w, r, err, key+" saved; it applies from the next build.")
}

func (d *Dashboard) deleteEnv(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	key := r.PostFormValue("key")
	if err := apogee.ValidateEnvKey(key); err != nil {
		return back(w, r, err, "")
	}
	err := d.svc.Env.DeleteEnv(r.Context(), r.PathValue("name"), key)
	return back(w, r, err, key+" removed.")
}

// branchPreview is the newest preview deployment of one branch.
type branchPreview struct {
	Branch string
	deploymentRow
}

// previewsByBranch picks, from rows (newest first), the newest preview
// of each branch, in the order of their newest deployment.
func previewsByBranch(rows []deploymentRow) []branchPreview {
	var out []branchPreview
	seen := map[string]bool{}
	for _, r := range rows {
		if r.Target != apogee.TargetPreview || seen[r.Branch] {
			continue
		}
		seen[r.Branch] = true
		b := r.Branch
		if b == "" {
			b = "(no branch)"
		}
		out = append(out, branchPreview{Branch: b, deploymentRow: r})
	}
	return out
}
