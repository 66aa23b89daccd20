package server

import (
	_ "embed"
	"html/template"
	"net/http"
)

//go:embed home.html
var homeHTML string

var homeTmpl = template.Must(template.New("home").Parse(homeHTML))

// home is the apex's landing page until the dashboard lands.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = homeTmpl.Execute(w, map[string]string{"URL": s.URL(), "Domain": s.cfg.Domain, "Port": s.urlPortLocked()})
}
