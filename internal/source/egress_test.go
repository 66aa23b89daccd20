package source

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/egress"
	"github.com/apogee-dev/apogee/internal/testio"
)

// serveOn starts h on a loopback address of its own (127.0.0.2 is as
// much this machine as 127.0.0.1).
func serveOn(t *testing.T, ip string, h http.Handler) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// TestFetchEgressPolicy: a project's repository on this machine or its
// network is refused unless the server allows private Git
// (--allow-private-git), at connect time and after redirects; a real
// git server on loopback answers every case.
func TestFetchEgressPolicy(t *testing.T) {
	t.Parallel()
	root, r, _ := sharedRepos(t)
	srv := gitHTTP(t, root, "", false)
	// A server on 127.0.0.2 that sends git on to the real one.
	redirect := serveOn(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, srv.URL+req.URL.RequestURI(), http.StatusFound)
	}))
	only2 := egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}
	both := egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	refused := []string{"is not a public address", "--allow-private-git"}

	tests := []struct {
		name   string
		policy egress.Policy
		url    string
		want   []string // nil: fetched
		ranGit bool     // refused before git ran when false
	}{
		{"loopback refused", egress.Policy{}, srv.URL + "/repo.git", refused, false},
		{"localhost refused", egress.Policy{}, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/repo.git", refused, false},
		{"IPv4-mapped loopback refused", egress.Policy{}, strings.Replace(srv.URL, "127.0.0.1", "[0:0:0:0:0:ffff:7f00:1]", 1) + "/repo.git", refused, false},
		{"allowed with the flag", egress.Policy{AllowPrivate: true}, srv.URL + "/repo.git", nil, true},
		{"redirect to a refused address", only2, redirect.URL + "/repo.git", append([]string{"resolves to 127.0.0.1"}, refused...), true},
		{"redirect to an allowed address", both, redirect.URL + "/repo.git", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin, argv := argvRecorder(t)
			dst := t.TempDir()
			var progress testio.Buffer
			co, err := (&Git{Bin: bin, Policy: tt.policy}).Fetch(context.Background(), tt.url, "main", "", dst, &progress)
			if tt.want == nil {
				if err != nil || co.Commit != r.main {
					t.Fatalf("Fetch = %+v, %v\n%s", co, err, progress.String())
				}
				return
			}
			assertCode(t, err, apogee.EINVALID, tt.want...)
			assertEmptyDir(t, dst)
			_, statErr := os.Stat(argv)
			if ran := statErr == nil; ran != tt.ranGit {
				t.Errorf("git ran: %v, want %v", ran, tt.ranGit)
			}
		})
	}
}

// TestGitEnvProxy: with the egress proxy, git gets none of the server's
// proxy variables (no_proxy would send loopback around it).
func TestGitEnvProxy(t *testing.T) {
	t.Setenv("NO_PROXY", "127.0.0.1,localhost")
	t.Setenv("https_proxy", "http://10.0.0.1:3128")
	env := strings.Join(gitEnv(t.TempDir(), false, "", "", "http://apogee:x@127.0.0.1:1"), "\n")
	if strings.Contains(env, "NO_PROXY") || strings.Contains(env, "https_proxy") || !strings.Contains(env, "http.proxy") {
		t.Errorf("environment with the egress proxy:\n%s", env)
	}
	env = strings.Join(gitEnv(filepath.Join(t.TempDir()), false, "", "", ""), "\n")
	if !strings.Contains(env, "NO_PROXY=127.0.0.1") {
		t.Errorf("environment without the egress proxy lacks the server's proxy variables:\n%s", env)
	}
}
