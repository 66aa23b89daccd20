// Package deploy prepares a deployment's files for serving, once, before
// the deployment becomes ready: it reads and compiles the routing rules
// users already have (vercel.json, _redirects, _headers and netlify.toml
// at the root of the deployed folder) together with the project's serve
// settings, and makes brotli and gzip variants of compressible files.
//
// The API's finalize and the builder call Prepare on the manifest they
// are about to make ready; an invalid config file fails the deployment.
// The edge calls Rules again when it loads a manifest, reading the same
// files, so the compiled rules never travel through the store.
package deploy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/rules"
)

// IsConfigFile reports whether a manifest path is one of rules.ConfigFiles,
// the routing config files read from a deployment's root. The edge does
// not serve them: they are configuration, not content.
func IsConfigFile(path string) bool {
	for _, c := range rules.ConfigFiles {
		if path == c {
			return true
		}
	}
	return false
}

// Getter reads a blob by its hash; apogee.Blobs is one.
type Getter interface {
	Get(ctx context.Context, hash string) ([]byte, error)
}

// Options are the server's side of compiling a deployment's rules: what
// the servers that compile and serve them can do. Every server of one
// platform must be given the same.
type Options struct {
	// Countries: the servers have a country database (--geoip-db), so
	// Country conditions can be honoured.
	Countries bool
}

// RuleSettings maps a project's serve settings and the server's options
// to the routing switches of package rules.
func RuleSettings(s apogee.ServeSettings, o Options) rules.Settings {
	return rules.Settings{SPA: s.SPA, CleanURLs: s.CleanURLs, TrailingSlash: s.TrailingSlash, Countries: o.Countries}
}

// Rules reads the config files among files through blobs and compiles
// them with serve. It returns a nil *rules.Set when there is nothing to
// apply (a plain static site), and the warnings of rules that were
// skipped (see rules.Compile). An invalid file gives an *apogee.Error
// with EINVALID whose message names the file, the rule and the fault; a
// blob that cannot be read gives another error.
func Rules(ctx context.Context, blobs Getter, files []apogee.File, serve apogee.ServeSettings, o Options) (*rules.Set, []apogee.RuleWarning, error) {
	var cfg map[string][]byte
	var folders []apogee.RuleWarning
	for _, f := range files {
		if name, _, ok := strings.Cut(f.Path, "/"); ok && (name == rules.NetlifyRedirects || name == rules.NetlifyHeaders) && !slices.ContainsFunc(folders, func(w apogee.RuleWarning) bool { return w.File == name }) {
			// Netlify cannot read a folder as its rules file either: it
			// reports the error and deploys without the rules.
			folders = append(folders, apogee.RuleWarning{File: name, Message: name + " is a folder, not a file: its rules are not read (the files in it are served as they are)"})
		}
		if !IsConfigFile(f.Path) {
			continue
		}
		if f.Size > rules.MaxFileSize {
			return nil, nil, apogee.Errorf(apogee.EINVALID, "%s: file is %d bytes; the limit is %d", f.Path, f.Size, rules.MaxFileSize)
		}
		b, err := blobs.Get(ctx, f.SHA256)
		if err != nil {
			return nil, nil, fmt.Errorf("deploy: read %s: %w", f.Path, err)
		}
		if cfg == nil {
			cfg = make(map[string][]byte, len(rules.ConfigFiles))
		}
		cfg[f.Path] = b
	}
	set, warnings, err := rules.Compile(cfg, RuleSettings(serve, o))
	if err != nil {
		return nil, nil, err
	}
	return set, append(folders, warnings...), nil
}

// Store is what Prepare records: the serve settings snapshot, the rule
// warnings and the variants. apogee.Store is one.
type Store interface {
	apogee.VariantStore
	SetDeploymentServe(ctx context.Context, id string, s apogee.ServeSettings) error
	SetDeploymentWarnings(ctx context.Context, id string, w []apogee.RuleWarning) error
}

// Report says what Prepare did.
type Report struct {
	Rules    bool // the deployment has routing rules or settings to apply
	Compress CompressStats
	// Warnings are the rules Prepare skipped, and why (rules.Compile).
	Warnings []apogee.RuleWarning
}

// Prepare readies deployment id, whose manifest is files, for serving:
// it compiles its routing rules with serve (failing with EINVALID, see
// Rules, before anything is written), makes the precompressed variants
// its compressible files lack, and records serve as the deployment's
// settings snapshot and the rule warnings. The deployment must still be uploading, queued or
// building. Compression outlives a canceled ctx by up to compressTimeout,
// so that a client that gave up and finalizes again finds the work done.
func Prepare(ctx context.Context, blobs apogee.Blobs, store Store, id string, files []apogee.File, serve apogee.ServeSettings, o Options) (Report, error) {
	var rep Report
	set, warnings, err := Rules(ctx, blobs, files, serve, o)
	if err != nil {
		return rep, err
	}
	rep.Rules, rep.Warnings = set != nil, warnings
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), compressTimeout)
	defer cancel()
	rep.Compress, err = Compress(cctx, blobs, store, files)
	if err != nil {
		return rep, err
	}
	if err := store.SetDeploymentServe(ctx, id, serve); err != nil {
		return rep, fmt.Errorf("deploy: record serve settings: %w", err)
	}
	if err := store.SetDeploymentWarnings(ctx, id, warnings); err != nil {
		return rep, fmt.Errorf("deploy: record rule warnings: %w", err)
	}
	return rep, nil
}

// compressTimeout bounds the compression of one deployment.
const compressTimeout = 15 * time.Minute
