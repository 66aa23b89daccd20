package platform_test

import (
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/egress"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// TestGitURLPolicy: a repository on this machine or its network is
// refused when a project names it, unless the server allows private Git;
// the fetch checks again at connect time (internal/source).
func TestGitURLPolicy(t *testing.T) {
	for _, allow := range []bool{false, true} {
		st, bl, _ := testbed.Backends(t)
		pl, err := platform.New(platform.Config{Store: st, Blobs: bl, Bus: events.NewLocal(testbed.Quiet), Log: testbed.Quiet,
			GitPolicy: egress.Policy{AllowPrivate: allow}})
		if err != nil {
			t.Fatal(err)
		}
		u := &apogee.User{ID: apogee.NewID(), Email: "o@example.com", Password: "x", CreatedAt: time.Now()}
		if err := st.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
		ctx := apogee.NewContextWithUser(t.Context(), u)
		for i, url := range []string{"http://127.0.0.1:9000/r.git", "https://localhost/r.git", "http://10.0.0.5/r.git",
			"http://169.254.169.254/latest/meta-data", "https://[::1]/r.git", "https://github.com/acme/web.git"} {
			_, err := pl.Services().Projects.CreateProject(ctx, apogee.CreateProjectRequest{
				Name: "p" + string(rune('a'+i)), Git: &apogee.GitSource{URL: url}})
			public := strings.Contains(url, "github.com")
			switch {
			case allow || public:
				if err != nil {
					t.Errorf("allow=%v %s: %v", allow, url, err)
				}
			case apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(apogee.ErrorMessage(err), "--allow-private-git"):
				t.Errorf("allow=%v %s: %v, want EINVALID naming --allow-private-git", allow, url, err)
			}
		}
	}
}
