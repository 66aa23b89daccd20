// Package secsuite is Apogee's security suite: tests, run by `go test`,
// that attack a real server as its untrusted parties would.
//
// The authorization matrix (authz_test.go, its rows in routes_test.go)
// walks every route of the apex — each operation of the OpenAPI document
// the server serves, each dashboard page, /metrics, /healthz and git push
// — as the owner of a project, another user, an admin, a disabled user, a
// revoked token or ended session, and no one, against a server on
// 127.0.0.1 with a real store (SQLite, then PostgreSQL). It fails on an
// answer that lets a caller in where they have no business, leaks the
// victim's data (a secret, an id, an email the caller did not send) or
// changes it (the victim's records are compared before and after every
// request), and on any route of the server without a row, naming it.
//
// The fuzz targets of the parsers that read untrusted input live beside
// those parsers (*_fuzz_test.go, seed corpora under testdata/fuzz);
// scripts/fuzz.sh runs them. docs/security.md says how to run all of it
// and how to add a row.
package secsuite
