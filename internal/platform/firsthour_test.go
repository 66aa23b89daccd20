package platform_test

import (
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
)

// TestLocalRepositoryRefused: a repository on the server's disk is
// refused unless file:// is allowed, and the message says how to allow
// it and what to do instead.
func TestLocalRepositoryRefused(t *testing.T) {
	w := newWorld(t, nil)
	for _, url := range []string{"file:///srv/repos/web.git", "/srv/repos/web.git"} {
		_, err := w.svc.Projects.CreateProject(w.ctx, apogee.CreateProjectRequest{Name: "local", Git: &apogee.GitSource{URL: url}})
		msg := apogee.ErrorMessage(err)
		if apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(msg, "--allow-file-git") || !strings.Contains(msg, "git push") {
			t.Errorf("%s: %v", url, err)
		}
	}
}
