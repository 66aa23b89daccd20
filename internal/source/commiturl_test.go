package source

import "testing"

func TestCommitURL(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct{ repo, want string }{
		{"https://github.com/acme/web.git", "https://github.com/acme/web/commit/" + sha},
		{"https://github.com/acme/web", "https://github.com/acme/web/commit/" + sha},
		{"https://GitHub.com/acme/web/", "https://github.com/acme/web/commit/" + sha},
		{"https://x-access-token:secret@github.com/acme/web.git", "https://github.com/acme/web/commit/" + sha},
		{"https://gitlab.com/group/sub/web.git", "https://gitlab.com/group/sub/web/-/commit/" + sha},
		{"https://bitbucket.org/acme/web.git", "https://bitbucket.org/acme/web/commits/" + sha},
		{"https://github.com/acme", ""},
		{"https://github.com/acme/web/tree/main", ""},
		{"https://git.example.com/acme/web.git", ""},
		{"file:///var/lib/apogee/git/web.git", ""},
		{"/srv/repos/web", ""},
	} {
		if got := CommitURL(tc.repo, sha); got != tc.want {
			t.Errorf("CommitURL(%q) = %q, want %q", tc.repo, got, tc.want)
		}
	}
	if got := CommitURL("https://github.com/acme/web", ""); got != "" {
		t.Errorf("no commit: %q", got)
	}
}
