package dashboard

import (
	"html/template"
	"io/fs"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/framework"
)

// pageNames are the templates/<name>.html files; each defines "content"
// and is executed inside layout.html.
var pageNames = []string{"teams", "team", "team_join", "admin_audit", "landing", "login", "signup", "projects", "new_project", "project", "project_logs", "project_analytics", "project_requests", "project_settings", "deployment", "account", "error",
	"webhook_created", "app", "dns", "dns_zone",
	"admin", "admin_projects", "admin_deployments", "admin_users", "admin_plans", "docs"}

func parsePages() (map[string]*template.Template, error) {
	layout, err := fs.ReadFile(templateFS, "templates/layout.html")
	if err != nil {
		return nil, errorf("templates: %w", err)
	}
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		body, err := fs.ReadFile(templateFS, "templates/"+name+".html")
		if err != nil {
			return nil, errorf("templates: %w", err)
		}
		t, err := template.New("layout").Funcs(funcs).Parse(string(layout))
		if err == nil {
			_, err = t.New(name).Parse(string(body))
		}
		if err != nil {
			return nil, errorf("template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

var funcs = template.FuncMap{
	"ago":       ago,
	"roles":     func() []apogee.Role { return []apogee.Role{apogee.RoleOwner, apogee.RoleMember, apogee.RoleViewer} },
	"when":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"short":     func(s string) string { return s[:min(len(s), 7)] },
	"rfc3339":   func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
	"short12":   func(s string) string { return s[:min(len(s), 12)] },
	"status":    statusWord,
	"size":      size,
	"timeptr":   func(t *time.Time) time.Time { return *t },
	"hasValue":  func(v apogee.EnvVarView) bool { return v.Value != nil },
	"deref":     func(s *string) string { return *s },
	"valid":     func(t *apogee.Token, now time.Time) bool { return t.Valid(now) },
	"hostOf":    hostOf,
	"events":    func() []string { return apogee.WebhookEvents },
	"opt":       derefOr,
	"slash":     trailingSlash,
	"building":  apogee.Building,
	"framework": frameworkLabel,
}

// ago says how long ago t was ("now", "5 minutes ago", "3 days ago").
func ago(t time.Time) string { return humanize.Time(t) }

// statusWord is the status as a person reads it.
func statusWord(status apogee.Status) string {
	s := string(status)
	return strings.ToUpper(s[:min(1, len(s))]) + s[min(1, len(s)):]
}

// size is n bytes in binary units ("512 B", "1.5 KiB", "500 MiB").
func size(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }

// frameworkLabels are the short names of the framework presets, as a
// label shows them: a preset's name without its mode ("Next.js" for
// "Next.js (static export)").
var frameworkLabels = func() map[string]string {
	m := map[string]string{}
	for _, p := range framework.Presets() {
		name, _, _ := strings.Cut(p.Name, " (")
		m[p.Framework] = name
	}
	return m
}()

// frameworkLabel is the short name of the preset with identifier id; id
// itself for one this server does not know (a build of an older one).
func frameworkLabel(id string) string {
	if name, ok := frameworkLabels[id]; ok {
		return name
	}
	return id
}

// derefOr is *s, or "" for nil (a build setting left to detection).
func derefOr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// trailingSlash names the trailing-slash choice of the serve settings.
func trailingSlash(b *bool) string {
	switch {
	case b == nil:
		return "leave"
	case *b:
		return "add"
	}
	return "remove"
}
