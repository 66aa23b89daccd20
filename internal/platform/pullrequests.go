package platform

import (
	"context"
	"fmt"
	"strings"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/source"
)

// SignedPullRequest: the projects built from the base repository whose
// webhook secret signed the body build a preview of the pull request's
// head (opened, synchronize, reopened) or close it (closed), as Vercel
// does. Nothing changes before the signature is verified.
//
// The head of a pull request from a branch of the same repository is
// pushed too, and GitHub sends both events: the build is queued once per
// commit (QueueGitBuildOnce), by whichever event comes first, and the
// pull request is recorded on it. A fork's head is built from the fork
// (ForkRepo), as a preview whatever its branch, without the project's
// variables or repository token (the builder's rule), and its branch host
// is "<project>-git-fork-<owner>-<branch>".
func (pl builds) SignedPullRequest(ctx context.Context, in apogee.SignedPullRequest) (*apogee.PushResult, error) {
	signed, res, err := pl.signedProjects(ctx, in.RepoURLs, in.Signature, in.Body)
	if err != nil {
		return nil, err
	}
	return pl.pullRequest(ctx, signed, in, res)
}

// pullRequest builds the preview of the pull request's head for each of
// projects (opened, synchronize, reopened) or closes it (closed): the
// one path of a repository webhook's pull_request and the GitHub App's.
func (pl builds) pullRequest(ctx context.Context, projects []*apogee.Project, in apogee.SignedPullRequest, res *apogee.PushResult) (*apogee.PushResult, error) {
	build := false
	switch in.Action {
	case "opened", "synchronize", "reopened":
		build = true
	case "closed":
	default:
		return res, nil
	}
	if in.Number <= 0 {
		return nil, apogee.Errorf(apogee.EINVALID, "the pull request event has no pull request number")
	}
	if err := source.ValidRef(in.HeadBranch); err != nil {
		return nil, err
	}
	if in.HeadRepo != "" {
		g, err := pl.validateGit(apogee.GitSource{URL: in.HeadRepo, Branch: in.HeadBranch})
		if err != nil {
			return nil, apogee.Errorf(apogee.EINVALID, "the pull request's head repository cannot be built: %s", apogee.ErrorMessage(err))
		}
		in.HeadRepo = g.URL
	}
	in.HeadCommit = strings.ToLower(in.HeadCommit)
	if build && (len(in.HeadCommit) != 40 && len(in.HeadCommit) != 64 || !isHex(in.HeadCommit)) {
		return nil, apogee.Errorf(apogee.EINVALID, "%q is not a full commit hash", in.HeadCommit)
	}
	var firstRefusal error
	for _, p := range projects {
		if !build {
			if err := pl.closePullRequest(ctx, p, in); err != nil {
				return nil, err
			}
			continue
		}
		d, err := pl.buildPullRequest(ctx, p, in)
		if code := apogee.ErrorCode(err); code == apogee.EQUOTA || code == apogee.EFORBIDDEN {
			pl.log.Info("pull request build refused", "project", p.Name, "pull_request", in.Number, "reason", apogee.ErrorMessage(err))
			res.Refused = append(res.Refused, apogee.PushRefusal{Project: p.Name, Error: apogee.ErrorMessage(err)})
			if firstRefusal == nil {
				firstRefusal = err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		res.Deployments = append(res.Deployments, pl.view(d, p))
	}
	if build && len(res.Deployments) == 0 && firstRefusal != nil {
		return nil, firstRefusal
	}
	return res, nil
}

// savePullRequest records the pull request of in for p in state.
func (pl *Platform) savePullRequest(ctx context.Context, p *apogee.Project, in apogee.SignedPullRequest, state string) (*apogee.PullRequest, error) {
	now := pl.now().UTC()
	pr := &apogee.PullRequest{ProjectID: p.ID, Number: in.Number, Title: in.Title, URL: in.URL, HeadBranch: in.HeadBranch,
		HeadRepo: in.HeadRepo, State: state, Merged: in.Merged, UpdatedAt: now}
	if state == apogee.PullRequestClosed {
		pr.ClosedAt = &now
	}
	if err := pl.store.SavePullRequest(ctx, pr); err != nil {
		return nil, fmt.Errorf("platform: save pull request #%d of %s: %w", in.Number, p.Name, err)
	}
	return pr, nil
}

// buildPullRequest queues the preview of the pull request's head, unless
// that commit is being built or served already (then the pull request is
// recorded on that deployment), and tells the reporters.
func (pl *Platform) buildPullRequest(ctx context.Context, p *apogee.Project, in apogee.SignedPullRequest) (*apogee.Deployment, error) {
	target := apogee.TargetPreview
	if in.HeadRepo == "" && p.Git != nil && in.HeadBranch == p.Git.Branch {
		target = apogee.TargetProduction // the push of it builds production: the same build
	}
	// The owner may not build: say so before anything is recorded.
	if _, _, err := pl.checkBuild(ctx, p); err != nil {
		return nil, err
	}
	if _, err := pl.savePullRequest(ctx, p, in, apogee.PullRequestOpen); err != nil {
		return nil, err
	}
	d := &apogee.Deployment{Target: target, Source: apogee.SourceGit,
		Branch: in.HeadBranch, Commit: in.HeadCommit, PullRequest: in.Number, ForkRepo: in.HeadRepo}
	// A monorepo's project: the build compares the head with the base
	// branch's commit and skips when the pull request changed none of
	// the project's folders (a fork's clone may lack the base commit).
	base := strings.ToLower(in.BaseCommit)
	if len(p.Settings.Build.Watched()) > 0 && in.HeadRepo == "" && isHex(base) && (len(base) == 40 || len(base) == 64) && base != in.HeadCommit {
		d.DiffBase = base
	}
	d, queued, err := pl.queueOnce(ctx, p, d)
	if err != nil {
		return nil, err
	}
	pl.log.Info("pull request preview", "project", p.Name, "pull_request", in.Number, "deployment", d.ID,
		"queued", queued, "fork", in.HeadRepo != "")
	pl.publish(ctx, apogee.Event{Type: apogee.EventPullRequest, ProjectID: p.ID, Project: p.Name, DeploymentID: d.ID, Reason: in.Action})
	return d, nil
}

// closePullRequest marks the pull request closed and takes its previews
// off their branch host; they keep their own URLs.
func (pl *Platform) closePullRequest(ctx context.Context, p *apogee.Project, in apogee.SignedPullRequest) error {
	// A pull request's head does not change; a closed event whose fork
	// was deleted names none, so the recorded one is the truth.
	if old, err := pl.store.PullRequest(ctx, p.ID, in.Number); err == nil {
		in.HeadRepo, in.HeadBranch = old.HeadRepo, old.HeadBranch
	}
	if _, err := pl.savePullRequest(ctx, p, in, apogee.PullRequestClosed); err != nil {
		return err
	}
	dropped, err := pl.store.DropBranchAlias(ctx, p.ID, apogee.PullRequestAlias(in.HeadBranch, in.HeadRepo), in.Number)
	if err != nil {
		return fmt.Errorf("platform: close pull request #%d of %s: %w", in.Number, p.Name, err)
	}
	if dropped {
		pl.publish(ctx, apogee.Event{Type: apogee.EventAliasChanged, ProjectID: p.ID, Project: p.Name, DeploymentID: p.ProductionID})
	}
	switch d, err := pl.store.NewestPullRequestDeployment(ctx, p.ID, in.Number); {
	case err == nil:
		pl.publish(ctx, apogee.Event{Type: apogee.EventPullRequest, ProjectID: p.ID, Project: p.Name, DeploymentID: d.ID, Reason: in.Action})
	case apogee.ErrorCode(err) != apogee.ENOTFOUND:
		return fmt.Errorf("platform: close pull request #%d of %s: %w", in.Number, p.Name, err)
	}
	pl.log.Info("pull request closed", "project", p.Name, "pull_request", in.Number, "branch_host_dropped", dropped)
	return nil
}

// queueOnce is queue for a Git build of a commit that a push and a pull
// request event may both ask for: the store queues it unless that commit
// is queued, building or ready already, and then returns that deployment
// (queued false).
func (pl *Platform) queueOnce(ctx context.Context, p *apogee.Project, d *apogee.Deployment) (*apogee.Deployment, bool, error) {
	plan, use, err := pl.checkBuild(ctx, p)
	if err != nil {
		return nil, false, err
	}
	d.ID = apogee.NewID()
	d.ProjectID, d.Host, d.CreatedAt = p.ID, apogee.DeploymentHost(p.Name, d.ID), pl.now().UTC()
	existing, err := pl.store.QueueGitBuildOnce(ctx, d)
	if err != nil {
		return nil, false, fmt.Errorf("platform: queue build: %w", err)
	}
	if existing != nil {
		return existing, false, nil
	}
	pl.noteWaiting(ctx, d, plan, use)
	pl.publish(ctx, apogee.Event{Type: apogee.EventBuildQueued, ProjectID: p.ID, Project: p.Name, DeploymentID: d.ID})
	pl.log.Info("build queued", "project", p.Name, "deployment", d.ID, "source", d.Source,
		"branch", d.Branch, "commit", d.Commit, "target", d.Target, "pull_request", d.PullRequest)
	return d, true, nil
}
