package dashboard

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/apogee-dev/apogee"
)

// Lists are searched, filtered and paged on the server by query
// parameters, so every view has a URL: ?q= searches, ?status=, ?branch=
// and ?target= filter, ?page= pages (from 1).

// listWindow is how many of a project's newest deployments its list
// searches (the service's limit).
const listWindow = 1000

// Page sizes.
const (
	deploymentsPerPage = 20
	projectsPerPage    = 12
)

// deploymentFilter is the Deployments tab's query.
type deploymentFilter struct {
	Q, Status, Branch, Target string
	Page                      int
}

func readDeploymentFilter(r *http.Request) deploymentFilter {
	q := r.URL.Query()
	return deploymentFilter{
		Q: strings.TrimSpace(q.Get("q")), Status: q.Get("status"), Branch: q.Get("branch"), Target: q.Get("target"),
		Page: pageOf(q),
	}
}

// Active says the list is filtered.
func (f deploymentFilter) Active() bool {
	return f.Q != "" || f.Status != "" || f.Branch != "" || f.Target != ""
}

func (f deploymentFilter) match(v *apogee.DeploymentView) bool {
	if f.Status != "" && string(v.Status) != f.Status || f.Branch != "" && v.Branch != f.Branch || f.Target != "" && v.Target != f.Target {
		return false
	}
	if f.Q == "" {
		return true
	}
	q := strings.ToLower(f.Q)
	for _, s := range []string{v.ID, v.Branch, v.Commit, v.CommitMessage, v.CommitAuthor, v.Error, v.URL} {
		if strings.Contains(strings.ToLower(s), q) {
			return true
		}
	}
	return false
}

// values is the filter as query parameters, without the page.
func (f deploymentFilter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"q": f.Q, "status": f.Status, "branch": f.Branch, "target": f.Target} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// pageOf reads ?page= (1 when absent or not a number).
func pageOf(q url.Values) int {
	n, err := strconv.Atoi(q.Get("page"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// pager says where a page of a list is and links its neighbours.
type pager struct {
	Page, Pages, Total int
	Prev, Next         string
}

// paginate returns page (from 1; past the end is the last) of items, per
// a page, and the pager with links made by link.
func paginate[T any](items []T, page, per int, link func(page int) string) ([]T, pager) {
	pages := max(1, (len(items)+per-1)/per)
	page = min(max(page, 1), pages)
	pg := pager{Page: page, Pages: pages, Total: len(items)}
	if page > 1 {
		pg.Prev = link(page - 1)
	}
	if page < pages {
		pg.Next = link(page + 1)
	}
	start := (page - 1) * per
	return items[start:min(start+per, len(items))], pg
}

// pageLink is path with query v and page n (page 1 has no parameter).
func pageLink(path string, v url.Values, n int) string {
	v = cloneValues(v)
	if n > 1 {
		v.Set("page", strconv.Itoa(n))
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, s := range v {
		out[k] = slices.Clone(s)
	}
	return out
}

// branchesOf returns the branches of deps, each once, sorted.
func branchesOf(deps []*apogee.DeploymentView) []string {
	var out []string
	for _, d := range deps {
		if d.Branch != "" && !slices.Contains(out, d.Branch) {
			out = append(out, d.Branch)
		}
	}
	slices.Sort(out)
	return out
}

// statusChoices are the statuses a list filters by, in a deployment's
// order of life.
var statusChoices = []apogee.Status{apogee.StatusQueued, apogee.StatusBuilding, apogee.StatusUploading,
	apogee.StatusReady, apogee.StatusError, apogee.StatusCanceled}
