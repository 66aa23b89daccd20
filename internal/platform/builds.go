package platform

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/source"
)

// builds implements apogee.BuildService.
type builds struct{ *Platform }

var _ apogee.BuildService = builds{}

// validateGit checks a project's repository: a URL of an allowed scheme
// without credentials in it, and a branch name git accepts.
func (pl *Platform) validateGit(g apogee.GitSource) (apogee.GitSource, error) {
	u, err := url.Parse(g.URL)
	if err == nil && (u.Scheme == "file" || u.Scheme == "" && strings.HasPrefix(g.URL, "/")) && !slices.Contains(pl.cfg.GitSchemes, "file") {
		return g, apogee.Errorf(apogee.EINVALID, "this server does not build from repositories on its own disk (%s): "+
			"they are refused unless it runs with --allow-file-git, meant for development and tests; "+
			"push the repository to the platform with git push, or give an https:// URL", g.URL)
	}
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Scheme != "file") || u.Path == "" {
		return g, apogee.Errorf(apogee.EINVALID, "git URL %q is not a URL such as https://github.com/acme/web.git", g.URL)
	}
	if !slices.Contains(pl.cfg.GitSchemes, u.Scheme) {
		return g, apogee.Errorf(apogee.EINVALID, "git URL scheme %q is not allowed here; use one of %s", u.Scheme, strings.Join(pl.cfg.GitSchemes, ", "))
	}
	if u.User != nil {
		return g, apogee.Errorf(apogee.EINVALID, "git URL %q carries credentials; remove them (tokens are set separately)", u.Redacted())
	}
	if u.Scheme != "file" {
		policy := pl.cfg.GitPolicy
		policy.Flag, policy.What = "--allow-private-git", "the repository's host"
		if err := policy.CheckHost(u.Hostname()); err != nil {
			return g, apogee.Errorf(apogee.EINVALID, "%s", err.Error())
		}
	}
	if h := strings.ToLower(u.Host); h != u.Host {
		// Hosts are case-insensitive; webhooks match repositories by URL.
		u.Host = h
		g.URL = u.String()
	}
	if g.Branch == "" {
		g.Branch = "main"
	}
	if err := source.ValidRef(g.Branch); err != nil {
		return g, err
	}
	return g, nil
}

func (pl builds) QueueBuild(ctx context.Context, project string, req apogee.BuildRequest) (*apogee.DeploymentView, error) {
	u, p, err := pl.project(ctx, project, needChange)
	if err != nil {
		return nil, err
	}
	var d *apogee.Deployment
	if req.UploadID != "" {
		d, err = pl.queueZip(ctx, u, p, req)
	} else {
		if p.Git == nil {
			return nil, apogee.Errorf(apogee.EINVALID, "project %q has no Git repository to build; connect one, or deploy a folder or a ZIP", p.Name)
		}
		d, err = pl.enqueue(ctx, p, u.ID, req.Ref, req.Target, req.NoCache)
	}
	if err != nil {
		return nil, err
	}
	return pl.view(d, p), nil
}

// enqueue queues a build of the project's repository at ref (a branch,
// tag or commit; "" = the project's branch). The target defaults to
// production for the project's branch and preview for anything else.
func (pl *Platform) enqueue(ctx context.Context, p *apogee.Project, userID, ref, target string, noCache bool) (*apogee.Deployment, error) {
	if ref != "" {
		if err := source.ValidRef(ref); err != nil {
			return nil, err
		}
	}
	branch := ref
	if p.Git != nil && (ref == "" || ref == p.Git.Branch) {
		branch = p.Git.Branch
	}
	commit := ""
	if isSHA(ref) {
		commit, branch = ref, ""
	}
	switch target {
	case "":
		target = apogee.TargetPreview
		if p.Git != nil && branch == p.Git.Branch {
			target = apogee.TargetProduction
		}
	case apogee.TargetProduction, apogee.TargetPreview:
	default:
		return nil, apogee.Errorf(apogee.EINVALID, "target %q must be \"production\" or \"preview\"", target)
	}
	return pl.queue(ctx, p, &apogee.Deployment{
		Target: target, CreatedBy: userID,
		Source: apogee.SourceGit, Branch: branch, Commit: commit, NoCache: noCache,
	})
}

// enqueuePush queues a build of commit, the new head of branch after a
// push by userID ("" for a webhook): production when branch is the
// project's branch, a preview otherwise. A project of a monorepo (a root
// folder or watch paths) the push did not touch, by the host's whole
// list of changed paths, gets a skipped deployment instead; when the
// list is not known, the build compares before with commit.
func (pl *Platform) enqueuePush(ctx context.Context, p *apogee.Project, userID string, push pushed) (*apogee.Deployment, error) {
	d, skip, err := pushDeployment(p, userID, push)
	switch {
	case err != nil:
		return nil, err
	case skip != "":
		return pl.skip(ctx, p, d, skip)
	}
	return pl.queue(ctx, p, d)
}

// enqueueSigned is enqueuePush for a push a repository host reported:
// queued once per commit (queueOnce), as a pull request event of the
// same commit may have queued it already.
func (pl *Platform) enqueueSigned(ctx context.Context, p *apogee.Project, push pushed) (*apogee.Deployment, error) {
	d, skip, err := pushDeployment(p, "", push)
	switch {
	case err != nil:
		return nil, err
	case skip != "":
		return pl.skip(ctx, p, d, skip)
	}
	d, _, err = pl.queueOnce(ctx, p, d)
	return d, err
}

// pushDeployment is the deployment a push makes of p, and the reason to
// skip it ("" to build).
func pushDeployment(p *apogee.Project, userID string, push pushed) (*apogee.Deployment, string, error) {
	if err := source.ValidRef(push.branch); err != nil {
		return nil, "", err
	}
	commit := strings.ToLower(push.commit)
	if len(commit) != 40 && len(commit) != 64 || !isHex(commit) {
		return nil, "", apogee.Errorf(apogee.EINVALID, "%q is not a full commit hash", commit)
	}
	target := apogee.TargetPreview
	if p.Git != nil && push.branch == p.Git.Branch {
		target = apogee.TargetProduction
	}
	d := &apogee.Deployment{
		Target: target, CreatedBy: userID,
		Source: apogee.SourceGit, Branch: push.branch, Commit: commit,
	}
	if len(p.Settings.Build.Watched()) > 0 {
		before := strings.ToLower(push.before)
		switch {
		case push.changedKnown:
			if ok, reason := p.Settings.Build.Affected(push.changed); !ok {
				return d, reason, nil
			}
		case isHex(before) && (len(before) == 40 || len(before) == 64) && strings.Trim(before, "0") != "":
			d.DiffBase = before
		}
	}
	return d, "", nil
}

// pushed is a branch a push moved: its new commit, the one before ("" or
// zeros for a new branch) and, when changedKnown, the paths it changed.
type pushed struct {
	branch, commit, before string
	changed                []string
	changedKnown           bool
}

// skip records d as a skipped deployment of p with reason: no build, no
// build minutes, the deployment list says why. The owner's plan is still
// asked, as for a build (a disabled owner's pushes are refused).
func (pl *Platform) skip(ctx context.Context, p *apogee.Project, d *apogee.Deployment, reason string) (*apogee.Deployment, error) {
	if _, _, err := pl.checkBuild(ctx, p); err != nil {
		return nil, err
	}
	d.ID = apogee.NewID()
	d.ProjectID, d.Host, d.CreatedAt = p.ID, apogee.DeploymentHost(p.Name, d.ID), pl.now().UTC()
	d.Skipped, d.Error = true, reason
	if err := pl.store.QueueBuild(ctx, d); err != nil {
		return nil, fmt.Errorf("platform: record skipped build: %w", err)
	}
	pl.publish(ctx, apogee.Event{Type: apogee.EventBuildEnded, ProjectID: p.ID, Project: p.Name, DeploymentID: d.ID})
	pl.log.Info("build skipped", "project", p.Name, "deployment", d.ID, "branch", d.Branch, "commit", d.Commit, "reason", reason)
	return d, nil
}

// queue gives d (what to build and its target) an id, host and creation
// time, inserts it queued and wakes the builders. Every way a build
// starts comes here, so here the owner's plan is checked: a disabled
// owner or used-up build minutes refuse the build; a build over the
// plan's concurrent builds is queued with a first log line saying why it
// waits.
func (pl *Platform) queue(ctx context.Context, p *apogee.Project, d *apogee.Deployment) (*apogee.Deployment, error) {
	plan, use, err := pl.checkBuild(ctx, p)
	if err != nil {
		return nil, err
	}
	d.ID = apogee.NewID()
	d.ProjectID, d.Host, d.CreatedAt = p.ID, apogee.DeploymentHost(p.Name, d.ID), pl.now().UTC()
	if err := pl.store.QueueBuild(ctx, d); err != nil {
		return nil, fmt.Errorf("platform: queue build: %w", err)
	}
	pl.noteWaiting(ctx, d, plan, use)
	pl.publish(ctx, apogee.Event{Type: apogee.EventBuildQueued, ProjectID: p.ID, Project: p.Name, DeploymentID: d.ID})
	pl.log.Info("build queued", "project", p.Name, "deployment", d.ID, "source", d.Source,
		"branch", d.Branch, "commit", d.Commit, "target", d.Target)
	pl.recordCtx(ctx, p, "build.queue", d.ID, d.Source+" "+d.Target+branchNote(d.Branch))
	return d, nil
}

// Redeploy builds a Git deployment's commit again, with its branch and
// target, as a new deployment (Vercel's "Redeploy").
func (pl builds) Redeploy(ctx context.Context, id string, req apogee.RedeployRequest) (*apogee.DeploymentView, error) {
	u, old, p, err := pl.deployment(ctx, id, needChange)
	if err != nil {
		return nil, err
	}
	if old.Source != apogee.SourceGit || old.Commit == "" {
		return nil, apogee.Errorf(apogee.EINVALID, "deployment %s was not built from a Git commit, so there is nothing to build again; deploy a new version instead", old.ID)
	}
	if p.Git == nil {
		return nil, apogee.Errorf(apogee.EINVALID, "project %q has no Git repository any more; connect one to build from it", p.Name)
	}
	// A pull request's preview stays one, and a fork's is built from the
	// fork again, without the project's variables.
	d, err := pl.queue(ctx, p, &apogee.Deployment{
		Target: old.Target, CreatedBy: u.ID, Source: apogee.SourceGit,
		Branch: old.Branch, Commit: old.Commit, NoCache: req.NoCache,
		PullRequest: old.PullRequest, ForkRepo: old.ForkRepo,
	})
	if err != nil {
		return nil, err
	}
	return pl.view(d, p), nil
}

// Cancel ends a queued or building deployment as canceled. A worker
// building it stops at once (event) or at its next heartbeat.
func (pl builds) Cancel(ctx context.Context, id string) (*apogee.DeploymentView, error) {
	u, d, p, err := pl.deployment(ctx, id, needChange)
	if err != nil {
		return nil, err
	}
	d, err = pl.store.EndBuild(ctx, d.ID, apogee.StatusCanceled, "canceled by "+u.Email, pl.now().UTC())
	if apogee.ErrorCode(err) == apogee.ECONFLICT {
		return nil, apogee.Errorf(apogee.ECONFLICT, "deployment %s is not queued or building; there is nothing to cancel", id)
	}
	if err != nil {
		return nil, fmt.Errorf("platform: cancel: %w", err)
	}
	pl.publish(ctx, apogee.Event{Type: apogee.EventBuildCanceled, ProjectID: p.ID, DeploymentID: d.ID})
	pl.recordProject(ctx, u, p, "build.cancel", d.ID, "")
	return pl.view(d, p), nil
}

// CheckPush: the pusher may use the project and its owner may build.
func (pl builds) CheckPush(ctx context.Context, project string) (*apogee.Project, error) {
	_, p, err := pl.project(ctx, project, needChange)
	if err != nil {
		return nil, err
	}
	if _, _, err := pl.checkBuild(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// Pushed adopts the platform's repository for a project without one and
// queues a build of every moved branch. A refused branch is logged: the
// push itself has happened.
func (pl builds) Pushed(ctx context.Context, project, repoURL string, moved []apogee.PushedBranch) ([]*apogee.DeploymentView, error) {
	u, p, err := pl.project(ctx, project, needChange)
	if err != nil {
		return nil, err
	}
	if p.Git == nil {
		branch := "main"
		if len(moved) == 1 {
			branch = moved[0].Branch
		}
		if slices.ContainsFunc(moved, func(m apogee.PushedBranch) bool { return m.Branch == "main" }) {
			branch = "main"
		}
		p.Git = &apogee.GitSource{URL: repoURL, Branch: branch}
		if err := pl.store.UpdateProject(ctx, p); err != nil {
			return nil, fmt.Errorf("platform: adopt the platform's repository for %s: %w", p.Name, err)
		}
		pl.log.Info("project adopted the platform's repository", "project", p.Name, "branch", branch)
	}
	var views []*apogee.DeploymentView
	for _, m := range moved {
		d, err := pl.enqueuePush(ctx, p, u.ID, pushed{branch: m.Branch, commit: m.Commit, before: m.Before})
		if err != nil {
			pl.log.Error("git push: queue build", "project", p.Name, "branch", m.Branch, "err", err)
			continue
		}
		pl.log.Info("git push queued a build", "project", p.Name, "deployment", d.ID, "branch", m.Branch, "target", d.Target)
		views = append(views, pl.view(d, p))
	}
	return views, nil
}

// SignedPush: the projects built from the repository whose webhook
// secret signed the body build the pushed commit. A project whose owner's
// plan refuses the build (quota, disabled owner) is listed under Refused;
// the others build. When none builds, the first refusal is the answer.
// Nothing changes before the signature is verified.
func (pl builds) SignedPush(ctx context.Context, push apogee.SignedPush) (*apogee.PushResult, error) {
	signed, res, err := pl.signedProjects(ctx, push.RepoURLs, push.Signature, push.Body)
	if err != nil {
		return nil, err
	}
	if push.Branch == "" {
		return res, nil
	}
	return pl.buildPush(ctx, signed, push, res)
}

// signedProjects returns the projects built from the repository (any of
// urls) whose webhook secret signed body, and a result that names them.
// A repository no project builds from is answered as a signature that
// matches none (signedBy with no projects): whether another user deploys
// a repository is theirs to know, not an unsigned caller's.
func (pl builds) signedProjects(ctx context.Context, urls []string, signature string, body []byte) ([]*apogee.Project, *apogee.PushResult, error) {
	projects, err := pl.projectsByRepository(ctx, urls...)
	if err != nil {
		return nil, nil, err
	}
	signed, err := pl.signedBy(projects, signature, body)
	if err != nil {
		return nil, nil, err
	}
	res := &apogee.PushResult{Deployments: []*apogee.DeploymentView{}}
	for _, p := range signed {
		res.Projects = append(res.Projects, p.Name)
	}
	return signed, res, nil
}

// buildPush builds (or records as skipped) the push's commit for each of
// projects. A project whose owner's plan refuses the build (quota,
// disabled owner) is listed under Refused; the others build. When none
// builds, the first refusal is the answer.
func (pl builds) buildPush(ctx context.Context, projects []*apogee.Project, push apogee.SignedPush, res *apogee.PushResult) (*apogee.PushResult, error) {
	var firstRefusal error
	for _, p := range projects {
		d, err := pl.enqueueSigned(ctx, p, pushed{branch: push.Branch, commit: push.Commit, before: push.Before,
			changed: push.Changed, changedKnown: push.ChangedKnown})
		if code := apogee.ErrorCode(err); code == apogee.EQUOTA || code == apogee.EFORBIDDEN {
			pl.log.Info("signed push refused", "project", p.Name, "branch", push.Branch, "reason", apogee.ErrorMessage(err))
			res.Refused = append(res.Refused, apogee.PushRefusal{Project: p.Name, Error: apogee.ErrorMessage(err)})
			if firstRefusal == nil {
				firstRefusal = err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if d.Skipped {
			res.Skipped = append(res.Skipped, pl.view(d, p))
			continue
		}
		pl.log.Info("signed push queued a build", "project", p.Name, "deployment", d.ID, "branch", push.Branch, "target", d.Target)
		res.Deployments = append(res.Deployments, pl.view(d, p))
	}
	if len(res.Deployments) == 0 && len(res.Skipped) == 0 && firstRefusal != nil {
		return nil, firstRefusal
	}
	return res, nil
}

// signedBy returns those of projects whose webhook secret signed body,
// checking each in constant time. None is EUNAUTHORIZED.
func (pl *Platform) signedBy(projects []*apogee.Project, header string, body []byte) ([]*apogee.Project, error) {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	sig, err := hex.DecodeString(hexSig)
	if !ok || err != nil || len(sig) != sha256.Size {
		return nil, apogee.Errorf(apogee.EUNAUTHORIZED, "the signature (X-Hub-Signature-256) is missing or malformed; set the webhook's secret to the project's webhook secret")
	}
	var signed []*apogee.Project
	for _, p := range projects {
		secret, err := p.OpenWebhookSecret(pl.box)
		if err != nil {
			pl.log.Error("open webhook secret", "project", p.Name, "err", err)
			continue
		}
		if secret == "" {
			continue
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), sig) {
			signed = append(signed, p)
		}
	}
	if len(projects) == 0 {
		// The same work as a project's check, so that the time of the
		// answer does not tell an unknown repository either.
		mac := hmac.New(sha256.New, []byte("no project builds this repository"))
		mac.Write(body)
		_ = hmac.Equal(mac.Sum(nil), sig)
	}
	if len(signed) == 0 {
		return nil, apogee.Errorf(apogee.EUNAUTHORIZED, "the signature (X-Hub-Signature-256) does not match the webhook secret of a project built from this repository; check the project's repository URL and set the webhook's secret to its webhook secret")
	}
	return signed, nil
}

// projectsByRepository returns the projects whose Git URL is one of urls,
// give or take a trailing ".git" or "/" and the case of the host.
func (pl *Platform) projectsByRepository(ctx context.Context, urls ...string) ([]*apogee.Project, error) {
	seen := map[string]bool{}
	var out []*apogee.Project
	for _, c := range repoURLVariants(urls...) {
		ps, err := pl.store.ProjectsByGitURL(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("platform: projects by repository: %w", err)
		}
		for _, p := range ps {
			if !seen[p.ID] {
				seen[p.ID] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// repoURLVariants returns the spellings a project may have stored for the
// repositories at urls: each with and without ".git", the host in lower
// case (as projects store it).
func repoURLVariants(urls ...string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, raw := range urls {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		if u, err := url.Parse(raw); err == nil && u.Host != "" {
			u.Host = strings.ToLower(u.Host)
			raw = u.String()
		}
		base := strings.TrimSuffix(strings.TrimRight(raw, "/"), ".git")
		add(base)
		add(base + ".git")
		add(base + "/")
	}
	return out
}

// isSHA reports whether s is a full or abbreviated commit name.
func isSHA(s string) bool { return len(s) >= 7 && len(s) <= 40 && isHex(s) }

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
