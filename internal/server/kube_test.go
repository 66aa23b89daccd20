package server

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
)

// TestRuntimeFlags: --runtime kubernetes needs a registry and a full base
// image; a bad value stops the server at start, naming the flag.
func TestRuntimeFlags(t *testing.T) {
	passwordFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(passwordFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string // "" : accepted
	}{
		{"local by default", func(c *Config) {}, ""},
		{"kubernetes", func(c *Config) {}, ""},
		{"unknown runtime", func(c *Config) { c.Runtime = "nomad" }, "--runtime"},
		{"no registry", func(c *Config) { c.Registry = "" }, "--registry"},
		{"bad registry", func(c *Config) { c.Registry = "Registry Example/apogee" }, "--registry"},
		{"no base image", func(c *Config) { c.AppBaseImage = "" }, "--app-base-image"},
		{"base image without its registry", func(c *Config) { c.AppBaseImage = "node" }, "--app-base-image"},
		{"bad namespace", func(c *Config) { c.Namespace = "Apps_1" }, "--namespace"},
		{"bad runtime class", func(c *Config) { c.KubeRuntimeClass = "g visor" }, "--kube-runtime-class"},
		{"registry credentials", func(c *Config) { c.RegistryUsername, c.RegistryPassword = "robot", "s3cret" }, ""},
		{"password file", func(c *Config) { c.RegistryUsername, c.RegistryPasswordFile = "robot", passwordFile }, ""},
		{"username without password", func(c *Config) { c.RegistryUsername = "robot" }, "--registry-username"},
		{"password without username", func(c *Config) { c.RegistryPassword = "s3cret" }, "--registry-username"},
		{"password twice", func(c *Config) {
			c.RegistryUsername, c.RegistryPassword, c.RegistryPasswordFile = "robot", "a", passwordFile
		}, "once"},
		{"missing password file", func(c *Config) { c.RegistryUsername, c.RegistryPasswordFile = "robot", "/nonexistent/pw" }, "--registry-password-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Runtime: "kubernetes", Namespace: "apogee-apps", Registry: "registry.example.com/apogee",
				AppBaseImage: "registry.example.com/library/node:22-slim"}
			if tc.name == "local by default" {
				c = Config{}
			}
			tc.mod(&c)
			err := c.normalizeRuntime()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("%v, want an EINVALID error naming %s", err, tc.want)
			}
			if tc.name == "password file" && c.RegistryPassword != "s3cret" {
				t.Errorf("password from the file %q", c.RegistryPassword)
			}
			if tc.name == "local by default" && c.Runtime != "local" {
				t.Errorf("runtime %q", c.Runtime)
			}
		})
	}
}

// TestKubeRuntimeNeedsACluster: a kubeconfig that names no reachable
// cluster fails the start with a message that says what to give.
func TestKubeRuntimeNeedsACluster(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(bad, []byte("not: [a kubeconfig"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{Runtime: "kubernetes", Kubeconfig: bad, Namespace: "apogee-apps", Registry: "registry.example.com/apogee",
		AppBaseImage: "registry.example.com/library/node:22-slim"}
	_, err := newKubeRuntime(t.Context(), &c, nil, slog.New(slog.DiscardHandler))
	if apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(err.Error(), "--kubeconfig") {
		t.Fatalf("%v, want an EINVALID error naming --kubeconfig", err)
	}
}
