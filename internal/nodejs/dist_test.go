package nodejs

import (
	"context"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// TestDist fetches a real Node.js from the npm registry with the
// machine's npm, twice at once, then chooses again with the registry
// unreachable.
func TestDist(t *testing.T) {
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatal("npm is needed: install Node.js and npm (apt-get install nodejs npm)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d := &Dist{Dir: t.TempDir()}

	var wg sync.WaitGroup
	choices := make([]Choice, 2)
	errs := make([]error, 2)
	for i := range choices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			choices[i], errs[i] = d.Choose(ctx, "22", ".nvmrc")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Choose %d: %v", i, err)
		}
	}
	c := choices[0]
	if !reflect.DeepEqual(c, choices[1]) {
		t.Fatalf("two builds got different choices: %+v and %+v", c, choices[1])
	}
	if !strings.HasPrefix(c.Version, "22.") || c.Dir != filepath.Join(d.Dir, c.Version) {
		t.Fatalf("got %+v, want a 22.x in %s", c, d.Dir)
	}
	if !slices.Contains(c.Env, "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt") {
		t.Errorf("Env %q lacks the machine's CA bundle", c.Env)
	}
	if want := "Node.js " + c.Version + " from .nvmrc 22"; c.Why != want {
		t.Errorf("Why = %q, want %q", c.Why, want)
	}
	out, err := exec.Command(filepath.Join(c.Dir, "bin", "node"), "--version").Output()
	if err != nil || strings.TrimSpace(string(out)) != "v"+c.Version {
		t.Fatalf("node --version: %q, %v; want v%s", out, err, c.Version)
	}

	t.Run("bad request", func(t *testing.T) {
		_, err := d.Choose(ctx, ">=99", "engines.node")
		if err == nil || !strings.Contains(err.Error(), "engines.node") || !strings.Contains(err.Error(), ">=99") {
			t.Fatalf("got %v, want an error naming engines.node and the range", err)
		}
	})

	t.Run("registry unreachable", func(t *testing.T) {
		t.Setenv("npm_config_registry", "http://127.0.0.1:1/")
		t.Setenv("npm_config_fetch_retries", "0")
		t.Setenv("npm_config_offline", "false")
		t.Setenv("npm_config_prefer_online", "true")
		// A fresh Dist in the same folder: no index in memory, the kept
		// index.json and the kept 22.
		off := &Dist{Dir: d.Dir}
		got, err := off.Choose(ctx, "^22", "engines.node")
		if err != nil {
			t.Fatal(err)
		}
		if got.Dir != c.Dir || !strings.Contains(got.Why, "could not be reached") {
			t.Errorf("got %+v, want the kept %s and a note", got, c.Version)
		}
		// Nothing kept and nothing fits: the server's own Node.js.
		empty := &Dist{Dir: t.TempDir()}
		got, err = empty.Choose(ctx, "20", "engines.node")
		if err != nil {
			t.Fatal(err)
		}
		if got.Dir != "" || !strings.Contains(got.Why, "server's Node.js") {
			t.Errorf("got %+v, want the server's Node.js and why", got)
		}

		// A release's exact version: the kept one without the
		// registry; one not kept fails rather than running another.
		use, err := off.Use(ctx, c.Version)
		if err != nil || use.Dir != c.Dir || use.Version != c.Version {
			t.Errorf("Use(%s) = %+v, %v; want the kept one", c.Version, use, err)
		}
		if use, err := empty.Use(ctx, c.Version); err == nil || apogee.ErrorCode(err) != apogee.EINTERNAL {
			t.Errorf("Use(%s) with nothing kept and no registry = %+v, %v; want an error", c.Version, use, err)
		}
	})

	t.Run("use: not a version", func(t *testing.T) {
		for _, v := range []string{"", "22", "^22.1.0", "lts/*", "22.1.0; rm -rf /"} {
			if _, err := d.Use(ctx, v); apogee.ErrorCode(err) != apogee.EINVALID {
				t.Errorf("Use(%q) = %v, want EINVALID", v, err)
			}
		}
	})
}
