// Package routemux is net/http's ServeMux that remembers the patterns
// registered on it. The server's apex and the dashboard use it so that a
// test can hold every route to a rule: the security suite's
// authorization matrix (internal/secsuite) fails on a route that has no
// row.
package routemux

import (
	"net/http"
	"slices"
)

// Router is a handler that can list its routes: a Mux, the API, the
// dashboard.
type Router interface {
	Routes() []string
}

// Mux is an http.ServeMux that records each pattern it is given.
type Mux struct {
	*http.ServeMux
	routes []string
}

var _ Router = (*Mux)(nil)

// New returns an empty Mux.
func New() *Mux { return &Mux{ServeMux: http.NewServeMux()} }

// Handle registers h for pattern, as http.ServeMux.Handle does. A handler
// that is itself a Router, mounted at a prefix ("/api/"), is listed by its
// own routes instead of the prefix: it must see the full path (no
// http.StripPrefix in between).
func (m *Mux) Handle(pattern string, h http.Handler) {
	if r, ok := h.(Router); ok {
		m.routes = append(m.routes, r.Routes()...)
	} else {
		m.routes = append(m.routes, pattern)
	}
	m.ServeMux.Handle(pattern, h)
}

// HandleFunc registers f for pattern, as http.ServeMux.HandleFunc does.
func (m *Mux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(f))
}

// Routes returns the patterns registered, in order ("GET /projects/{name}",
// "/static/"), mounted Routers expanded.
func (m *Mux) Routes() []string { return slices.Clone(m.routes) }
