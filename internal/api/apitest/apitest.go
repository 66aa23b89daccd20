// Package apitest serves the real REST API (internal/api) on the real
// platform (internal/platform) for tests of the packages that speak to
// it: the API's own, the client's and the CLI's.
package apitest

import (
	"testing"

	"github.com/apogee-dev/apogee/internal/api"
	"github.com/apogee-dev/apogee/internal/platform"
)

// New returns the API on a platform of cfg, whose Store and Logs hub
// also serve the API's log reads.
func New(t testing.TB, cfg platform.Config) *api.API {
	t.Helper()
	pl, err := platform.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return api.New(api.Config{Services: pl.Services(), Logs: cfg.Store, Hub: cfg.Logs, Log: cfg.Log})
}
