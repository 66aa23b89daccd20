// Package apogee holds Apogee's domain: the records the platform keeps
// (users, tokens, projects, deployments, aliases), the error type every
// layer speaks, and the small interfaces the domain needs from its backends.
//
// Subpackages under internal/ wrap one dependency each (sqlstore, blob,
// events) or serve one role (api, edge, cli); this package imports none of
// them. cmd/apogee wires them together.
package apogee
