package storetest

import (
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// testAppProjects: projects linked to a GitHub App installation, found by
// installation and repository (any case), unlinked per repository and
// whole, and gone with their project.
func testAppProjects(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	unlimited(t, s, alice)
	web, docs, other := project(t, s, alice, "web"), project(t, s, alice, "docs"), project(t, s, alice, "other")
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	must(t, s.LinkAppProject(ctx, apogee.AppProject{ProjectID: web.ID, InstallationID: 42, Repo: "Acme/Mono", CreatedAt: at}))
	must(t, s.LinkAppProject(ctx, apogee.AppProject{ProjectID: docs.ID, InstallationID: 42, Repo: "acme/mono", CreatedAt: at}))
	must(t, s.LinkAppProject(ctx, apogee.AppProject{ProjectID: other.ID, InstallationID: 42, Repo: "acme/other", CreatedAt: at}))
	wantCode(t, s.LinkAppProject(ctx, apogee.AppProject{ProjectID: "nosuch", InstallationID: 42, Repo: "acme/x", CreatedAt: at}), apogee.ENOTFOUND)

	l, err := s.AppProject(ctx, web.ID)
	must(t, err)
	equal(t, "link", *l, apogee.AppProject{ProjectID: web.ID, InstallationID: 42, Repo: "acme/mono", CreatedAt: at})
	ls, err := s.AppProjects(ctx, 42, "ACME/mono")
	must(t, err)
	equal(t, "projects of acme/mono", len(ls), 2)
	ls, err = s.AppProjects(ctx, 42, "")
	must(t, err)
	equal(t, "projects of the installation", len(ls), 3)
	ls, err = s.AppProjects(ctx, 7, "acme/mono")
	must(t, err)
	equal(t, "another installation", len(ls), 0)

	// Linked again: to the new installation.
	must(t, s.LinkAppProject(ctx, apogee.AppProject{ProjectID: other.ID, InstallationID: 43, Repo: "acme/other", CreatedAt: at}))
	n, err := s.UnlinkAppProjects(ctx, 42, []string{"acme/other", "acme/Mono"})
	must(t, err)
	equal(t, "unlinked repositories", n, 2)
	_, err = s.AppProject(ctx, web.ID)
	wantCode(t, err, apogee.ENOTFOUND)
	n, err = s.UnlinkAppProjects(ctx, 43, nil)
	must(t, err)
	equal(t, "uninstalled", n, 1)
	ls, err = s.AppProjects(ctx, 43, "")
	must(t, err)
	equal(t, "after uninstall", len(ls), 0)
}
