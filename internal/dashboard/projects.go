package dashboard

import (
	"errors"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api"
	"github.com/apogee-dev/apogee/internal/github"
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
	// Framework is the preset's identifier the newest deployment was
	// built with, else the one the build settings choose ("" for none).
	Framework string
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
	// The scope: your own projects, or a team's (?team=, then
	// remembered; scope.go).
	teams, err := d.svc.Teams.Teams(ctx)
	if err != nil {
		return err
	}
	team, explicit := scope(r)
	lost := false
	if !explicit {
		team, lost = rememberedScope(w, r, teams)
	}
	projects, err := d.svc.Projects.Projects(ctx, team)
	if err != nil {
		return err // a team you are no member of is a 404, like a missing one
	}
	if explicit {
		keepScope(w, r, team, teams)
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	var matched []*apogee.ProjectView
	for _, p := range projects {
		if q == "" || strings.Contains(p.Name, strings.ToLower(q)) {
			matched = append(matched, p)
		}
	}
	v := url.Values{}
	if q != "" {
		v.Set("q", q)
	}
	if team != "" {
		v.Set("team", team)
	}
	shown, pg := paginate(matched, pageOf(r.URL.Query()), projectsPerPage, func(n int) string { return pageLink("/", v, n) })
	items := make([]projectItem, len(shown))
	now := d.now()
	for i, p := range shown {
		items[i].ProjectView = p
		if f := p.Settings.Build.Framework; f != nil {
			items[i].Framework = *f
		}
		deps, err := d.svc.Deployments.Deployments(ctx, p.Name, 1)
		if err != nil {
			return err
		}
		if len(deps) > 0 {
			r := row(deps[0], now)
			items[i].Last = &r
			if r.Framework != "" {
				items[i].Framework = r.Framework
			}
		}
	}
	d.render(w, r, http.StatusOK, "projects", s, "Projects", map[string]any{"Projects": items, "URL": d.baseURL(),
		"Q": q, "Pager": pg, "Any": len(projects) > 0, "Team": team, "Teams": teams, "LostTeam": lost})
	return nil
}

type newProjectForm struct {
	Name, GitURL, Branch, Kind, Error string
	Team                              string                   // the owner: "" you, else a team's name
	Teams                             []*apogee.TeamMembership // the teams you may make projects in
	GitHub                            githubRepos              // the user's repositories, when GitHub is connected
	MaxZip                            int64
}

func (d *Dashboard) newProjectPage(w http.ResponseWriter, r *http.Request, s *session) error {
	kind := "empty"
	if k := r.URL.Query().Get("kind"); k == "git" || k == zipKind {
		kind = k
	}
	f := newProjectForm{Branch: "main", Kind: kind, MaxZip: d.maxZip}
	if err := d.creatorTeams(r, &f); err != nil {
		return err
	}
	// The owner chosen: ?team= when the link says, else the remembered
	// scope if it is a team the person may make projects in.
	if team, explicit := scope(r); explicit {
		f.Team = team
	} else if id := rememberedTeamID(r); id != "" {
		for _, t := range f.Teams {
			if t.ID == id {
				f.Team = t.Name
			}
		}
	}
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
		Team:   r.PostFormValue("team"),
		MaxZip: d.maxZip,
	}
	if err := d.creatorTeams(r, &f); err != nil {
		return err
	}
	refuse := func(err error) error {
		if c := apogee.ErrorCode(err); c == apogee.EINTERNAL {
			return err
		}
		f.Error = apogee.ErrorMessage(err)
		d.render(w, r, api.StatusOf(apogee.ErrorCode(err)), "new_project", s, "New project", f)
		return nil
	}
	req := apogee.CreateProjectRequest{Name: f.Name, Team: f.Team}
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
	if req.Git != nil {
		return d.importGit(w, r, s, p)
	}
	setFlash(w, r, "ok", "Project "+p.Name+" created.")
	return seeOther(w, r, "/projects/"+url.PathEscape(p.Name))
}

// importGit finishes a project made from a Git repository: on the
// user's connected GitHub it creates the repository's webhook (push and
// pull_request, signed with the project's secret), then queues the first
// build. When GitHub refuses the webhook, the user lands on the settings
// page's manual webhook instructions, told why.
func (d *Dashboard) importGit(w http.ResponseWriter, r *http.Request, s *session, p *apogee.ProjectView) error {
	where, msg := "/projects/"+url.PathEscape(p.Name), "Project "+p.Name+" created"
	hookErr := ""
	if linked := d.linkGitHubApp(r, s, p); linked != "" {
		msg += "; the GitHub App installed on " + linked + " sends its pushes to Apogee"
	} else {
		hookErr = d.createGitHubHook(r, s, p)
		if hookErr == "" {
			msg += "; GitHub sends its pushes to Apogee"
		}
	}
	if _, err := d.svc.Builds.QueueBuild(r.Context(), p.Name, apogee.BuildRequest{}); err != nil {
		d.log.Warn("first build of imported project", "project", p.Name, "err", err)
		msg += "; its first build could not start: " + apogee.ErrorMessage(err)
	} else {
		msg += "; its first build is queued"
	}
	if hookErr != "" {
		setFlash(w, r, "error", msg+". The repository's webhook was not created ("+hookErr+"): add it by hand as shown below.")
		return seeOther(w, r, where+"/settings/git")
	}
	setFlash(w, r, "ok", msg+".")
	return seeOther(w, r, where)
}

// linkGitHubApp links p to the installation of the platform's GitHub App
// that was granted its repository, when there is one and the user's
// connected GitHub account can read the repository (so that the app's
// token builds only what its owner may read). It returns the
// installation's repository ("owner/name") when it linked, else "": the
// repository webhook is then created as without an app.
func (d *Dashboard) linkGitHubApp(r *http.Request, s *session, p *apogee.ProjectView) string {
	if d.app == nil || d.gh == nil || p.Git == nil {
		return ""
	}
	repo, ok := d.app.RepoOf(p.Git.URL)
	if !ok {
		return ""
	}
	log := d.log.With("project", p.Name, "repository", repo)
	inst, err := d.app.RepoInstallation(r.Context(), repo)
	if err != nil {
		if !errors.Is(err, apogee.ErrNotFound) {
			log.Warn("GitHub App installation of the repository", "err", err)
		}
		return ""
	}
	reach, err := d.gh.Reaches(r.Context(), s.user.ID, repo)
	if err != nil || !reach {
		log.Info("not linked to the GitHub App: the user's GitHub account does not reach the repository", "err", err)
		return ""
	}
	if err := d.links.LinkAppProject(r.Context(), apogee.AppProject{ProjectID: p.ID, InstallationID: inst, Repo: repo, CreatedAt: d.now()}); err != nil {
		log.Error("link the project to the GitHub App", "err", err)
		return ""
	}
	log.Info("project linked to the GitHub App", "installation", inst)
	return repo
}

// createGitHubHook creates the webhook of p's repository when it is on
// the GitHub the user has connected. It returns why it could not, or ""
// when it did or when p is not on that GitHub (nothing to say then).
func (d *Dashboard) createGitHubHook(r *http.Request, s *session, p *apogee.ProjectView) string {
	if d.gh == nil || p.Git == nil {
		return ""
	}
	repo, ok := d.gh.RepoOf(p.Git.URL)
	if !ok {
		return ""
	}
	if _, err := d.gh.Identity(r.Context(), s.user.ID); err != nil {
		if errors.Is(err, apogee.ErrNotFound) {
			return "GitHub is not connected to your account; connect it on the Account page to have Apogee create webhooks"
		}
		d.log.Error("GitHub connection", "user", s.user.ID, "err", err)
		return "Apogee could not read your GitHub connection"
	}
	_, err := d.gh.CreateHook(r.Context(), s.user.ID, repo, github.Hook{
		URL: d.baseURL() + "/api/v1/webhooks/github", Secret: p.WebhookSecret, Events: []string{"push", "pull_request"}})
	if err != nil {
		d.log.Warn("create GitHub webhook", "project", p.Name, "repository", repo, "err", err)
		if errors.Is(err, github.ErrReconnect) {
			return github.Message(err)
		}
		return "GitHub did not create it: " + err.Error()
	}
	d.log.Info("GitHub webhook created", "project", p.Name, "repository", repo)
	return ""
}

// projectBase loads what every project page shows in its heading and
// tabs: the project, whether it runs an app, and the tab.
func (d *Dashboard) projectBase(r *http.Request, tab string) (*apogee.ProjectView, map[string]any, error) {
	ctx, name := r.Context(), r.PathValue("name")
	p, err := d.svc.Projects.Project(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	isApp := p.Settings.App.Kind != nil && *p.Settings.App.Kind == apogee.KindApp
	if st, err := d.svc.Apps.AppStatus(ctx, name); err == nil && st.Kind == apogee.KindApp {
		isApp = true // production is an app's release
	}
	return p, map[string]any{"Project": p, "Tab": tab, "IsApp": isApp, "URL": d.baseURL()}, nil
}

// projectPage is a project's Deployments tab: production, the
// deployments, the newest preview of each branch and a ZIP upload.
func (d *Dashboard) projectPage(w http.ResponseWriter, r *http.Request, s *session) error {
	p, data, err := d.projectBase(r, "deployments")
	if err != nil {
		return err
	}
	deps, err := d.svc.Deployments.Deployments(r.Context(), p.Name, listWindow)
	if err != nil {
		return err
	}
	now := d.now()
	f := readDeploymentFilter(r)
	var production *deploymentRow
	var all, matched []deploymentRow
	for _, dv := range deps {
		rw := row(dv, now)
		if dv.Production {
			production = &rw
		}
		if len(all) < 50 {
			all = append(all, rw) // the previews by branch come from the newest
		}
		if f.match(dv) {
			matched = append(matched, rw)
		}
	}
	path := "/projects/" + url.PathEscape(p.Name)
	rows, pg := paginate(matched, f.Page, deploymentsPerPage, func(n int) string { return pageLink(path, f.values(), n) })
	data["Deployments"], data["Production"], data["Previews"], data["MaxZip"] = rows, production, previewsByBranch(all), d.maxZip
	data["Any"], data["Filter"], data["Pager"] = len(deps) > 0, f, pg
	data["Branches"], data["Statuses"] = branchesOf(deps), statusChoices
	d.render(w, r, http.StatusOK, "project", s, p.Name, data)
	return nil
}

// projectLogs is the Logs tab: the build log of ?deployment= (default
// the newest), live while it builds, with a picker of the recent ones.
func (d *Dashboard) projectLogs(w http.ResponseWriter, r *http.Request, s *session) error {
	p, data, err := d.projectBase(r, "logs")
	if err != nil {
		return err
	}
	deps, err := d.svc.Deployments.Deployments(r.Context(), p.Name, 50)
	if err != nil {
		return err
	}
	data["Deployments"] = deps
	var v *apogee.DeploymentView
	if id := r.URL.Query().Get("deployment"); id != "" {
		if v, err = d.svc.Deployments.Deployment(r.Context(), id); err != nil {
			return err
		}
		if v.Project != p.Name {
			return apogee.Errorf(apogee.ENOTFOUND, "deployment %s is not a deployment of project %s", id, p.Name)
		}
	} else if len(deps) > 0 {
		v = deps[0]
	}
	if v != nil {
		lines, err := d.store.Logs(r.Context(), v.ID, 0, maxPageLines)
		if err != nil {
			return errorf("logs of %s: %w", v.ID, err)
		}
		var last int64
		if len(lines) > 0 {
			last = lines[len(lines)-1].Seq
		}
		data["D"], data["Lines"], data["LastSeq"] = v, lines, last
		data["Live"], data["Truncated"] = apogee.Building(v.Status), len(lines) == maxPageLines
	}
	d.render(w, r, http.StatusOK, "project_logs", s, p.Name+" · logs", data)
	return nil
}

// settingsTabs are the Settings pages by the path under
// /projects/{name}/settings.
var settingsTabs = map[string]string{
	"": "General", "build": "Build", "serving": "Serving", "domains": "Domains",
	"git": "Git", "environment": "Environment", "notifications": "Notifications",
}

// settingsPage is one page of a project's Settings.
func (d *Dashboard) settingsPage(tab string) func(http.ResponseWriter, *http.Request, *session) error {
	return func(w http.ResponseWriter, r *http.Request, s *session) error {
		key := "settings"
		if tab != "" {
			key += "/" + tab
		}
		p, data, err := d.projectBase(r, key)
		if err != nil {
			return err
		}
		ctx := r.Context()
		switch tab {
		case "build":
			data["Presets"] = presetOptions()
			data["NodeOptions"], data["NodeNote"] = d.nodeOptions(ctx, derefOr(p.Settings.Build.NodeVersion))
		case "domains":
			if data["Domains"], err = d.svc.Domains.Domains(ctx, p.Name); err != nil {
				return err
			}
		case "environment":
			if data["Env"], err = d.svc.Env.Env(ctx, p.Name); err != nil {
				return err
			}
		case "notifications":
			if data["Webhooks"], err = d.webhookList(r, p.Name); err != nil {
				return err
			}
		case "git":
			// A project built through the GitHub App needs no webhook.
			if d.links != nil {
				if l, err := d.links.AppProject(ctx, p.ID); err == nil {
					data["AppRepo"] = l.Repo
				} else if !errors.Is(err, apogee.ErrNotFound) {
					return err
				}
			}
		}
		d.render(w, r, http.StatusOK, "project_settings", s, p.Name+" · "+settingsTabs[tab]+" settings", data)
		return nil
	}
}

// renameProject renames the project and opens it under its new name.
func (d *Dashboard) renameProject(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	to := strings.TrimSpace(r.PostFormValue("new_name"))
	v, err := d.svc.Projects.RenameProject(r.Context(), r.PathValue("name"), to)
	if err != nil {
		return back(w, r, err, "")
	}
	setFlash(w, r, "ok", "Project renamed to "+v.Name+"; it serves at "+v.URL+" now.")
	return seeOther(w, r, "/projects/"+url.PathEscape(v.Name)+"/settings")
}

// deleteProject deletes the project once its name is typed to confirm.
func (d *Dashboard) deleteProject(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	name := r.PathValue("name")
	if strings.TrimSpace(r.PostFormValue("confirm")) != name {
		return back(w, r, apogee.Errorf(apogee.EINVALID, "type the project's name, %s, to confirm that it goes", name), "")
	}
	if err := d.svc.Projects.DeleteProject(r.Context(), name); err != nil {
		return back(w, r, err, "")
	}
	setFlash(w, r, "ok", "Project "+name+" deleted.")
	return seeOther(w, r, "/")
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
	return seeOther(w, r, projectBack(r))
}

// projectBack is the page a project form returns to: the Settings page it is
// on, or the Deployments tab for actions on deployments.
func projectBack(r *http.Request) string {
	// A deployment page's buttons come back to it.
	if rt := r.PostFormValue("return_to"); isDeploymentPath(rt) {
		return rt
	}
	base := "/projects/" + url.PathEscape(r.PathValue("name"))
	rest := strings.TrimPrefix(r.URL.Path, "/projects/"+r.PathValue("name"))
	for _, b := range []struct{ prefix, page string }{
		{"/env", "/settings/environment"},
		{"/settings/build", "/settings/build"},
		{"/settings/serve", "/settings/serving"},
		{"/domains", "/settings/domains"},
		{"/webhooks", "/settings/notifications"},
		{"/rename", "/settings"},
		{"/delete", "/settings"},
	} {
		if strings.HasPrefix(rest, b.prefix) {
			return base + b.page
		}
	}
	return base
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
	// deployment_id: roll back to that one (the deployment page's
	// button); none: to the one before production (the project's).
	v, err := d.svc.Deployments.Rollback(r.Context(), r.PathValue("name"), r.PostFormValue("deployment_id"))
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

// isDeploymentPath says path is /deployments/ID, a page of this site.
func isDeploymentPath(path string) bool {
	id, ok := strings.CutPrefix(path, "/deployments/")
	return ok && id != "" && len(id) <= 64 && strings.Trim(id, "0123456789abcdefghijklmnopqrstuvwxyz") == ""
}

// creatorTeams fills in the teams whose projects the user may make (member
// or owner) for the new-project form's owner choice.
func (d *Dashboard) creatorTeams(r *http.Request, f *newProjectForm) error {
	ts, err := d.svc.Teams.Teams(r.Context())
	if err != nil {
		return err
	}
	for _, t := range ts {
		if t.Role != apogee.RoleViewer {
			f.Teams = append(f.Teams, t)
		}
	}
	return nil
}
