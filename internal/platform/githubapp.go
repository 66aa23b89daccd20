package platform

import (
	"context"
	"fmt"
	"slices"

	"github.com/apogee-dev/apogee"
)

// GitHubAppEvent: a delivery of the platform's GitHub App, verified with
// the app's webhook secret before anything is read from the store.
func (pl builds) GitHubAppEvent(ctx context.Context, ev apogee.GitHubAppEvent) (*apogee.PushResult, error) {
	if pl.cfg.GitHubApp == nil {
		return nil, apogee.Errorf(apogee.ENOTFOUND, "this server has no GitHub App; start it with --github-app-id, --github-app-key and --github-app-webhook-secret")
	}
	if err := pl.cfg.GitHubApp.Verify(ev.Signature, ev.Body); err != nil {
		return nil, err
	}
	res := &apogee.PushResult{Deployments: []*apogee.DeploymentView{}}
	if ev.Installation <= 0 {
		return res, nil // a ping of the app, or an event of no installation
	}
	log := pl.log.With("installation", ev.Installation, "event", ev.Event, "action", ev.Action)
	switch {
	case ev.Event == "installation" && ev.Action == "deleted":
		n, err := pl.store.UnlinkAppProjects(ctx, ev.Installation, nil)
		if err != nil {
			return nil, fmt.Errorf("platform: github app uninstalled: %w", err)
		}
		pl.cfg.GitHubApp.Forget(ev.Installation)
		log.Info("GitHub App uninstalled; its projects no longer build through it", "projects", n)
	case ev.Event == "installation_repositories" && ev.Action == "removed" && len(ev.Removed) > 0:
		n, err := pl.store.UnlinkAppProjects(ctx, ev.Installation, ev.Removed)
		if err != nil {
			return nil, fmt.Errorf("platform: github app repositories removed: %w", err)
		}
		log.Info("repositories taken from the GitHub App; their projects no longer build through it", "repositories", len(ev.Removed), "projects", n)
	case ev.Event == "push" && ev.Push.Branch != "" && ev.Repo != "":
		projects, err := pl.appProjects(ctx, ev.Installation, ev.Repo, ev.Push.RepoURLs, res)
		if err != nil || len(projects) == 0 {
			return res, err
		}
		return pl.buildPush(ctx, projects, ev.Push, res)
	case ev.Event == "pull_request" && ev.PullRequest != nil && ev.PullRequest.Action != "" && ev.Repo != "":
		projects, err := pl.appProjects(ctx, ev.Installation, ev.Repo, ev.PullRequest.RepoURLs, res)
		if err != nil || len(projects) == 0 {
			return res, err
		}
		return pl.pullRequest(ctx, projects, *ev.PullRequest, res)
	}
	return res, nil
}

// appProjects returns the projects linked to installation for repo that
// still build from it (one of urls), and names them in res.
func (pl builds) appProjects(ctx context.Context, installation int64, repo string, urls []string, res *apogee.PushResult) ([]*apogee.Project, error) {
	log := pl.log.With("installation", installation, "repository", repo)
	links, err := pl.store.AppProjects(ctx, installation, repo)
	if err != nil {
		return nil, fmt.Errorf("platform: github app projects of %s: %w", repo, err)
	}
	var projects []*apogee.Project
	variants := repoURLVariants(urls...)
	for _, l := range links {
		p, err := pl.store.ProjectByID(ctx, l.ProjectID)
		if err != nil {
			return nil, fmt.Errorf("platform: github app project: %w", err)
		}
		if p.Git == nil || !slices.Contains(variants, p.Git.URL) {
			// The project builds from another repository now.
			log.Info("GitHub App event skips a project that moved to another repository", "project", p.Name)
			continue
		}
		res.Projects = append(res.Projects, p.Name)
		projects = append(projects, p)
	}
	if len(projects) == 0 {
		log.Info("GitHub App event of a repository no project builds through the app")
	}
	return projects, nil
}
