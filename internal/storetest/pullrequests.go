package storetest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// testPullRequests: pull requests are saved and updated, a Git build of a
// commit is queued once however many ask at the same time (the pull
// request recorded on it), a branch host leaves only for its own pull
// request, and the ids of GitHub Deployments, check runs and the one
// comment per repository and poster (with its rows by project) are kept.
func testPullRequests(t *testing.T, s apogee.Store) {
	ctx := context.Background()
	owner := user(t, s, "prs@example.com")
	web := project(t, s, owner, "web")

	pr := &apogee.PullRequest{ProjectID: web.ID, Number: 7, Title: "Login", URL: "https://github.com/acme/web/pull/7",
		HeadBranch: "login", State: apogee.PullRequestOpen, UpdatedAt: base}
	must(t, s.SavePullRequest(ctx, pr))
	// One comment per repository, pull request and poster: compare and set.
	if ok, err := s.SetRepoComment(ctx, "acme/web", 7, "app:77", 0, 1<<40); err != nil || !ok {
		t.Fatalf("first comment: %v, %v", ok, err)
	}
	if ok, err := s.SetRepoComment(ctx, "acme/web", 7, "app:77", 0, 5); err != nil || ok {
		t.Fatalf("a second comment set over the first: %v, %v", ok, err)
	}
	if ok, err := s.SetRepoComment(ctx, "acme/web", 7, "app:77", 1<<40, 6); err != nil || !ok {
		t.Fatalf("a comment posted again: %v, %v", ok, err)
	}
	if id, err := s.RepoComment(ctx, "acme/web", 7, "app:77"); err != nil || id != 6 {
		t.Fatalf("comment id %d, %v; want 6", id, err)
	}
	if id, err := s.RepoComment(ctx, "acme/web", 7, "user:"+owner.ID); err != nil || id != 0 {
		t.Fatalf("another poster's comment id %d, %v; want none", id, err)
	}
	docs := project(t, s, owner, "docs")
	for _, r := range []*apogee.CommentRow{
		{Repo: "acme/web", Number: 7, Poster: "app:77", ProjectID: web.ID, Project: "web", DeploymentID: "d1", Status: "queued", Commit: "abc", UpdatedAt: base},
		{Repo: "acme/web", Number: 7, Poster: "app:77", ProjectID: docs.ID, Project: "docs", DeploymentID: "d2", Status: "ready", PreviewURL: "https://docs", UpdatedAt: base},
		{Repo: "acme/web", Number: 7, Poster: "app:77", ProjectID: web.ID, Project: "web", DeploymentID: "d3", Status: "building", Closed: true, UpdatedAt: base.Add(time.Minute)},
	} {
		must(t, s.SaveCommentRow(ctx, r))
	}
	rows, err := s.CommentRows(ctx, "acme/web", 7, "app:77")
	if err != nil || len(rows) != 2 || rows[0].Project != "docs" || rows[0].PreviewURL != "https://docs" ||
		rows[1].DeploymentID != "d3" || !rows[1].Closed || !rows[1].UpdatedAt.Equal(base.Add(time.Minute)) {
		t.Fatalf("comment rows %+v, %v", rows, err)
	}
	wantCode(t, s.SaveCommentRow(ctx, &apogee.CommentRow{Repo: "acme/web", Number: 7, Poster: "app:77", ProjectID: "nope", Project: "x", UpdatedAt: base}), apogee.ENOTFOUND)
	closedAt := base.Add(time.Hour)
	pr.Title, pr.State, pr.Merged, pr.ClosedAt, pr.UpdatedAt = "Login page", apogee.PullRequestClosed, true, &closedAt, closedAt
	must(t, s.SavePullRequest(ctx, pr))
	got, err := s.PullRequest(ctx, web.ID, 7)
	must(t, err)
	if got.Title != "Login page" || got.State != apogee.PullRequestClosed || !got.Merged ||
		got.ClosedAt == nil || !got.ClosedAt.Equal(closedAt) || got.HeadBranch != "login" {
		t.Fatalf("saved pull request %+v", got)
	}
	wantCode(t, s.SavePullRequest(ctx, &apogee.PullRequest{ProjectID: web.ID, Number: 8, HeadBranch: "x", State: "draft", UpdatedAt: base}), apogee.EINVALID)
	_, err = s.PullRequest(ctx, web.ID, 99)
	wantCode(t, err, apogee.ENOTFOUND)
	must(t, s.SavePullRequest(ctx, &apogee.PullRequest{ProjectID: web.ID, Number: 9, HeadBranch: "b", State: apogee.PullRequestOpen, UpdatedAt: base}))
	if list, err := s.PullRequests(ctx, web.ID); err != nil || len(list) != 2 || list[0].Number != 9 || list[1].Number != 7 {
		t.Fatalf("pull requests %+v, %v", list, err)
	}

	// Many events of one commit at once: one build, the pull request
	// recorded on it. A first round of another project's commits warms
	// the database's connections, so that the second starts together.
	other := project(t, s, owner, "other")
	commit := strings.Repeat("a", 40)
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.QueueGitBuildOnce(ctx, &apogee.Deployment{ID: apogee.NewID(), ProjectID: other.ID, Target: apogee.TargetPreview,
				CreatedAt: base, Source: apogee.SourceGit, Branch: "b", Commit: strings.Repeat(string(rune('a'+i)), 40)})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	start := make(chan struct{})
	ids := make([]string, 24)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			d := &apogee.Deployment{ID: apogee.NewID(), ProjectID: web.ID, Target: apogee.TargetPreview, CreatedAt: base.Add(time.Duration(i) * time.Millisecond),
				Source: apogee.SourceGit, Branch: "login", Commit: commit}
			if i%2 == 1 {
				d.PullRequest = 7
			}
			existing, err := s.QueueGitBuildOnce(ctx, d)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = d.ID
			if existing != nil {
				ids[i] = existing.ID
			}
		}()
	}
	close(start)
	wg.Wait()
	list, err := s.ListDeployments(ctx, web.ID, 0)
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("%d builds queued for one commit, want 1", len(list))
	}
	for _, id := range ids {
		if id != list[0].ID {
			t.Fatalf("answers %v, want all %s", ids, list[0].ID)
		}
	}
	if list[0].PullRequest != 7 || list[0].Status != apogee.StatusQueued {
		t.Fatalf("the build %+v, want pull request 7 recorded", list[0])
	}
	// A fork's head of the same commit and branch is another build.
	fork := &apogee.Deployment{ID: apogee.NewID(), ProjectID: web.ID, Target: apogee.TargetPreview, CreatedAt: base,
		Source: apogee.SourceGit, Branch: "login", Commit: commit, PullRequest: 9, ForkRepo: "https://github.com/eve/web.git"}
	if existing, err := s.QueueGitBuildOnce(ctx, fork); err != nil || existing != nil {
		t.Fatalf("a fork's build: %+v, %v", existing, err)
	}
	if got, err := s.DeploymentByID(ctx, fork.ID); err != nil || got.ForkRepo != fork.ForkRepo || got.PullRequest != 9 {
		t.Fatalf("fork's build read back %+v, %v", got, err)
	}
	if d, err := s.NewestPullRequestDeployment(ctx, web.ID, 9); err != nil || d.ID != fork.ID {
		t.Fatalf("newest of #9: %+v, %v", d, err)
	}
	if d, err := s.NewestPullRequestDeployment(ctx, web.ID, 7); err != nil || d.ID != list[0].ID {
		t.Fatalf("newest of #7: %+v, %v", d, err)
	}
	_, err = s.NewestPullRequestDeployment(ctx, web.ID, 99)
	wantCode(t, err, apogee.ENOTFOUND)
	_, err = s.QueueGitBuildOnce(ctx, &apogee.Deployment{ProjectID: web.ID, Target: apogee.TargetPreview, Source: apogee.SourceGit, Branch: "x"})
	wantCode(t, err, apogee.EINVALID)
	// A failed build does not count: the commit builds again.
	_, err = s.EndBuild(ctx, list[0].ID, apogee.StatusError, "boom", base)
	must(t, err)
	again := &apogee.Deployment{ID: apogee.NewID(), ProjectID: web.ID, Target: apogee.TargetPreview, CreatedAt: base,
		Source: apogee.SourceGit, Branch: "login", Commit: commit}
	if existing, err := s.QueueGitBuildOnce(ctx, again); err != nil || existing != nil {
		t.Fatalf("after a failure: %+v, %v", existing, err)
	}

	// The branch host goes only for a deployment of its pull request.
	r := ready(t, s, web, apogee.TargetPreview, base, false)
	must(t, s.SetBranchAlias(ctx, apogee.BranchAlias{ProjectID: web.ID, Branch: "main2", Host: "web-git-main2", DeploymentID: r.ID}))
	if dropped, err := s.DropBranchAlias(ctx, web.ID, "main2", 7); err != nil || dropped {
		t.Fatalf("dropped another's branch host: %v, %v", dropped, err)
	}

	if id, err := s.GitHubDeployment(ctx, r.ID); err != nil || id != 0 {
		t.Fatalf("no GitHub deployment yet: %d, %v", id, err)
	}
	must(t, s.SetGitHubDeployment(ctx, r.ID, 1<<41))
	if id, err := s.GitHubDeployment(ctx, r.ID); err != nil || id != 1<<41 {
		t.Fatalf("GitHub deployment %d, %v", id, err)
	}
	wantCode(t, s.SetGitHubDeployment(ctx, "nosuch", 1), apogee.ENOTFOUND)

	if id, err := s.CheckRun(ctx, r.ID); err != nil || id != 0 {
		t.Fatalf("no check run yet: %d, %v", id, err)
	}
	must(t, s.SetCheckRun(ctx, r.ID, 1<<42))
	if id, err := s.CheckRun(ctx, r.ID); err != nil || id != 1<<42 {
		t.Fatalf("check run %d, %v", id, err)
	}
	wantCode(t, s.SetCheckRun(ctx, "nosuch", 1), apogee.ENOTFOUND)
}
