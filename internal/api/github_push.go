package api

import (
	"encoding/json"
	"strings"
)

// githubPushCommitsShown is how many commits of a push GitHub's payload
// lists in full for sure: it used to list 20 at most (it now lists up to
// 2048, and says no more than the count). A push with this many or more
// is compared in the clone instead.
const githubPushCommitsShown = 20

// githubPushChanges is what Apogee reads of a push payload to tell which
// projects of a monorepo it touched.
type githubPushChanges struct {
	Before  string `json:"before"`
	Created bool   `json:"created"`
	Forced  bool   `json:"forced"`
	Commits []struct {
		Added    *[]string `json:"added"`
		Removed  *[]string `json:"removed"`
		Modified *[]string `json:"modified"`
	} `json:"commits"`
}

// pushChanges returns the commit a push moved its branch from and the
// paths its commits added, removed or modified. known is false when the
// payload cannot say what the push changed as a whole (a new branch, a
// force push, as many commits as GitHub may cut the list at, a commit
// without its lists): the build then compares before with after in the
// clone.
func pushChanges(payload []byte) (before string, changed []string, known bool) {
	var p githubPushChanges
	if err := json.Unmarshal(payload, &p); err != nil {
		return "", nil, false
	}
	before = p.Before
	if strings.Trim(before, "0") == "" {
		before = ""
	}
	if before == "" || p.Created || p.Forced || len(p.Commits) == 0 || len(p.Commits) >= githubPushCommitsShown {
		return before, nil, false
	}
	seen := map[string]bool{}
	changed = []string{}
	for _, c := range p.Commits {
		if c.Added == nil || c.Removed == nil || c.Modified == nil {
			return before, nil, false
		}
		for _, list := range [][]string{*c.Added, *c.Removed, *c.Modified} {
			for _, f := range list {
				if !seen[f] {
					seen[f] = true
					changed = append(changed, f)
				}
			}
		}
	}
	return before, changed, true
}
