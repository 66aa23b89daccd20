package source

import (
	"net/url"
	"strings"
)

// CommitURL returns the web page of commit sha of the repository at
// repoURL on the hosts whose URL scheme is known (GitHub, GitLab,
// Bitbucket, by their public hosts), else "". Credentials and a ".git"
// suffix are dropped.
func CommitURL(repoURL, sha string) string {
	if sha == "" {
		return ""
	}
	u, err := url.Parse(repoURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	repo := strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
	if strings.Count(repo, "/") < 1 || strings.ContainsAny(repo, "?#") {
		return ""
	}
	base := "https://" + strings.ToLower(u.Host) + "/" + repo
	switch strings.ToLower(u.Hostname()) {
	case "github.com", "www.github.com":
		if strings.Count(repo, "/") != 1 {
			return ""
		}
		return "https://github.com/" + repo + "/commit/" + url.PathEscape(sha)
	case "gitlab.com":
		return base + "/-/commit/" + url.PathEscape(sha)
	case "bitbucket.org":
		return base + "/commits/" + url.PathEscape(sha)
	}
	return ""
}
