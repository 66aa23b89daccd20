package nodejs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/apogee-dev/apogee"
)

// Choice is the Node.js a build runs with.
type Choice struct {
	// Version is the release, e.g. "22.12.0"; "" for the server's own.
	Version string
	// Dir holds it (bin/node); "" for the server's own Node.js.
	Dir string
	// Why is the build log's line: which Node.js and why.
	Why string
	// Env is what a build running it needs besides PATH: the machine's
	// CA bundle (the official binaries trust only their own roots) and
	// the machine's npm's global configuration (npm looks for it next to
	// node). Paths are the machine's, which the sandbox shows read-only.
	Env []string
}

// Choose picks and installs the Node.js for a build that asks for want
// (a version, range or nvm alias; "" for the current LTS), read from
// from (e.g. "engines.node", ".nvmrc", "the project's setting"). When
// the registry cannot be reached it uses a kept version that fits, else
// the server's own Node.js, and Why says so. A request that is not a
// version or a range, or that no release fits, is an EINVALID error
// naming where it was read.
func (d *Dist) Choose(ctx context.Context, want, from string) (Choice, error) {
	now := time.Now()
	ix, stale, err := d.Index(ctx)
	offline := ""
	if err != nil {
		offline = err.Error()
		ix = d.Installed()
	}
	v, rerr := ix.Resolve(want, now)
	if rerr != nil {
		if err != nil {
			if ctx.Err() != nil {
				return Choice{}, context.Cause(ctx)
			}
			return Choice{Why: fmt.Sprintf("Could not reach the npm registry for Node.js (%s); building with the server's Node.js", offline)}, nil
		}
		if from == "" {
			return Choice{}, rerr
		}
		return Choice{}, apogee.Errorf(apogee.EINVALID, "%s: %s", from, apogee.ErrorMessage(rerr))
	}
	dir, ierr := d.Install(ctx, v)
	if ierr != nil {
		if ctx.Err() != nil {
			return Choice{}, context.Cause(ctx)
		}
		return Choice{Why: fmt.Sprintf("Could not fetch Node.js %s (%s); building with the server's Node.js", v, ierr)}, nil
	}
	why := "the current LTS"
	if want != "" {
		why = fmt.Sprintf("%s %s", from, want)
	}
	c := Choice{Version: v.String(), Dir: dir, Why: fmt.Sprintf("Node.js %s from %s", v, why), Env: d.buildEnv(ctx)}
	switch {
	case err != nil:
		c.Why += " (kept on the server; the npm registry could not be reached)"
	case stale:
		c.Why += " (the registry could not be reached: the last list of versions was used)"
	}
	return c, nil
}

// caBundles are where distributions keep the system's CA bundle.
var caBundles = []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"}

// buildEnv is Choice.Env, worked out once.
func (d *Dist) buildEnv(ctx context.Context) []string {
	d.envOnce.Do(func() {
		for _, f := range caBundles {
			if _, err := os.Stat(f); err == nil {
				d.env = append(d.env, "NODE_EXTRA_CA_CERTS="+f)
				break
			}
		}
		if out, err := d.npmRun(ctx, d.Dir, "config", "get", "globalconfig"); err == nil {
			if f := strings.TrimSpace(string(out)); filepath.IsAbs(f) {
				if _, err := os.Stat(f); err == nil {
					d.env = append(d.env, "npm_config_globalconfig="+f)
				}
			}
		}
	})
	return d.env
}

// Use returns the Node.js version v (exact, as a Choice's Version),
// fetching it when the server lacks it: what a release built with v runs
// on. It never falls back to another version (native modules are built
// for v): an error says why v is not here.
func (d *Dist) Use(ctx context.Context, v string) (Choice, error) {
	sv, err := semver.StrictNewVersion(v)
	if err != nil {
		return Choice{}, apogee.Errorf(apogee.EINVALID, "Node.js version %q is not a version", v)
	}
	dir, err := d.Install(ctx, sv)
	if err != nil {
		if ctx.Err() != nil {
			return Choice{}, context.Cause(ctx)
		}
		return Choice{}, fmt.Errorf("nodejs: Node.js %s: %w", v, err)
	}
	return Choice{Version: sv.String(), Dir: dir, Why: "Node.js " + sv.String(), Env: d.buildEnv(ctx)}, nil
}
