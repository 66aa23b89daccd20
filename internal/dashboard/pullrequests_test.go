package dashboard

import (
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// TestPullRequestInDeploymentList: a pull request's preview says so in
// the project's deployment list (its number and title, closed once it
// is, and from a fork); another user's pull requests show nowhere.
func TestPullRequestInDeploymentList(t *testing.T) {
	e := newEnv(t, SignupClosed)
	p, _, _ := e.project(e.alice, "web")
	ctx := t.Context()
	now := time.Now().UTC()
	queue := func(pr int, fork string) string {
		id := apogee.NewID()
		if err := e.store.QueueBuild(ctx, &apogee.Deployment{ID: id, ProjectID: p.ID, Target: apogee.TargetPreview, Host: apogee.DeploymentHost("web", id),
			CreatedAt: now, Source: apogee.SourceGit, Branch: "login", Commit: strings.Repeat("a", 40), PullRequest: pr, ForkRepo: fork}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	for _, pr := range []*apogee.PullRequest{
		{ProjectID: p.ID, Number: 7, Title: "Add a <login> page", HeadBranch: "login", State: apogee.PullRequestOpen, UpdatedAt: now},
		{ProjectID: p.ID, Number: 8, Title: "Fix a typo", HeadBranch: "main", HeadRepo: "https://github.com/eve/web.git", State: apogee.PullRequestClosed, UpdatedAt: now, ClosedAt: &now},
	} {
		if err := e.store.SavePullRequest(ctx, pr); err != nil {
			t.Fatal(err)
		}
	}
	queue(7, "")
	queue(8, "https://github.com/eve/web.git")
	page := e.signedIn(e.alice).get("/projects/web")
	want(t, "deployments", page, 200, `PR #7 · Add a &lt;login&gt; page</div>`,
		`PR #8 · Fix a typo <span class="muted">(closed)</span> <span class="muted">from a fork</span>`)
	if strings.Contains(page.body, `PR #7 · Add a &lt;login&gt; page <span class="muted">(closed)`) {
		t.Error("an open pull request shows as closed")
	}
}
