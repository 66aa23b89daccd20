package routemux

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

func TestRoutes(t *testing.T) {
	inner := New()
	inner.HandleFunc("GET /api/v1/x", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201) })
	inner.Handle("/api/", http.NotFoundHandler())

	m := New()
	m.Handle("/api/", inner)
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	m.Handle("/", http.NotFoundHandler())

	want := []string{"GET /api/v1/x", "/api/", "GET /healthz", "/"}
	if got := m.Routes(); !slices.Equal(got, want) {
		t.Fatalf("Routes() = %q, want %q", got, want)
	}
	// The mounted mux still serves its routes through the outer one.
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/x", nil))
	if rec.Code != 201 {
		t.Fatalf("GET /api/v1/x = %d through the outer mux, want 201", rec.Code)
	}
}
