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

// RuleSettings maps a project's serve settings to the routing switches of
// package rules.
func RuleSettings(s apogee.ServeSettings) rules.Settings {
	return rules.Settings{SPA: s.SPA, CleanURLs: s.CleanURLs, TrailingSlash: s.TrailingSlash}
}

// Rules reads the config files among files through blobs and compiles
// them with serve. It returns nil and no error when there is nothing to
// apply (a plain static site). An invalid file gives an *apogee.Error with
// EINVALID whose message names the file, the rule and the fault; a blob
// that cannot be read gives another error.
func Rules(ctx context.Context, blobs Getter, files []apogee.File, serve apogee.ServeSettings) (*rules.Set, error) {
	var cfg map[string][]byte
	for _, f := range files {
		if !IsConfigFile(f.Path) {
			continue
		}
		if f.Size > rules.MaxFileSize {
			return nil, apogee.Errorf(apogee.EINVALID, "%s: file is %d bytes; the limit is %d", f.Path, f.Size, rules.MaxFileSize)
		}
		b, err := blobs.Get(ctx, f.SHA256)
		if err != nil {
			return nil, fmt.Errorf("deploy: read %s: %w", f.Path, err)
		}
		if cfg == nil {
			cfg = make(map[string][]byte, len(rules.ConfigFiles))
		}
		cfg[f.Path] = b
	}
	return rules.Compile(cfg, RuleSettings(serve))
}

// Store is what Prepare records: the serve settings snapshot and the
// variants. apogee.Store is one.
type Store interface {
	apogee.VariantStore
	SetDeploymentServe(ctx context.Context, id string, s apogee.ServeSettings) error
}

// Report says what Prepare did.
type Report struct {
	Rules    bool // the deployment has routing rules or settings to apply
	Compress CompressStats
}

// Prepare readies deployment id, whose manifest is files, for serving:
// it compiles its routing rules with serve (failing with EINVALID, see
// Rules, before anything is written), makes the precompressed variants
// its compressible files lack, and records serve as the deployment's
// settings snapshot. The deployment must still be uploading, queued or
// building. Compression outlives a canceled ctx by up to compressTimeout,
// so that a client that gave up and finalizes again finds the work done.
func Prepare(ctx context.Context, blobs apogee.Blobs, store Store, id string, files []apogee.File, serve apogee.ServeSettings) (Report, error) {
	var rep Report
	set, err := Rules(ctx, blobs, files, serve)
	if err != nil {
		return rep, err
	}
	rep.Rules = set != nil
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), compressTimeout)
	defer cancel()
	rep.Compress, err = Compress(cctx, blobs, store, files)
	if err != nil {
		return rep, err
	}
	if err := store.SetDeploymentServe(ctx, id, serve); err != nil {
		return rep, fmt.Errorf("deploy: record serve settings: %w", err)
	}
	return rep, nil
}

// compressTimeout bounds the compression of one deployment.
const compressTimeout = 15 * time.Minute
