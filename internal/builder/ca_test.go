package builder

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBuildTrustsTheMachinesCertificates: a build's environment points
// Node.js at the machine's certificate bundle when there is one, and
// names none when there is not.
func TestBuildTrustsTheMachinesCertificates(t *testing.T) {
	dir := t.TempDir()
	bundle := filepath.Join(dir, "ca-certificates.crt")
	if err := os.WriteFile(bundle, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	saved := caBundles
	t.Cleanup(func() { caBundles = saved })
	var b Builder
	for _, c := range []struct {
		bundles []string
		want    string
	}{
		{[]string{filepath.Join(dir, "missing.crt"), bundle}, "NODE_EXTRA_CA_CERTS=" + bundle},
		{[]string{filepath.Join(dir, "missing.crt"), dir}, ""}, // a folder is no bundle
	} {
		caBundles = c.bundles
		env := b.env([]string{"A=1"})
		i := slices.IndexFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "NODE_EXTRA_CA_CERTS=") })
		switch {
		case c.want == "" && i >= 0:
			t.Errorf("bundles %v: env names %s", c.bundles, env[i])
		case c.want != "" && (i < 0 || env[i] != c.want):
			t.Errorf("bundles %v: env %v lacks %s", c.bundles, env, c.want)
		}
		if env[len(env)-1] != "A=1" {
			t.Errorf("the project's variables do not come last: %v", env)
		}
	}
}
