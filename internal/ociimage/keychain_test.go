package ociimage

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestKeychain pushes to a registry that wants a password: the
// keychain of --registry-username and --registry-password-file gets in,
// a wrong password and no credentials do not, and other registries are
// not given the password.
func TestKeychain(t *testing.T) {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "robot" || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no Docker config: nothing else to find
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host + "/apogee/web:r1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, user, pass string
		ok               bool
	}{
		{"right password", "robot", "s3cret", true},
		{"wrong password", "robot", "guess", false},
		{"no credentials", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := remote.Write(ref, img, remote.WithAuthFromKeychain(Keychain(host, tc.user, tc.pass)))
			if (err == nil) != tc.ok {
				t.Errorf("push: %v, want ok %v", err, tc.ok)
			}
		})
	}
	other, _ := name.ParseReference("elsewhere.example.com/x")
	a, err := Keychain(host, "robot", "s3cret").Resolve(other.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cfg, _ := a.Authorization(); cfg != nil && cfg.Password != "" {
		t.Errorf("another registry was given the password")
	}
}
