package dashboard

import (
	"fmt"
	"html/template"
	"io/fs"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
)

// pageNames are the templates/<name>.html files; each defines "content"
// and is executed inside layout.html.
var pageNames = []string{"landing", "login", "signup", "projects", "new_project", "project", "deployment", "account", "error",
	"webhook_created",
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
	"ago":      ago,
	"when":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"short":    func(s string) string { return s[:min(len(s), 7)] },
	"status":   statusWord,
	"size":     size,
	"timeptr":  func(t *time.Time) time.Time { return *t },
	"hasValue": func(v apogee.EnvVarView) bool { return v.Value != nil },
	"deref":    func(s *string) string { return *s },
	"valid":    func(t *apogee.Token, now time.Time) bool { return t.Valid(now) },
	"hostOf":   hostOf,
	"events":   func() []string { return apogee.WebhookEvents },
	"opt":      derefOr,
	"slash":    trailingSlash,
	"building": apogee.Building,
}

// ago says how long ago t was, in the largest whole unit.
func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < 10*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
}

// statusWord is the status as a person reads it.
func statusWord(status apogee.Status) string {
	s := string(status)
	return strings.ToUpper(s[:min(1, len(s))]) + s[min(1, len(s)):]
}

func size(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return unit(n, 1<<10, "KiB")
	case n < 1<<30:
		return unit(n, 1<<20, "MiB")
	}
	return unit(n, 1<<30, "GiB")
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

// unit is n in units of u, with one decimal unless it is whole
// ("500 MiB", "1.5 KiB").
func unit(n, u int64, name string) string {
	if n%u == 0 {
		return fmt.Sprintf("%d %s", n/u, name)
	}
	return fmt.Sprintf("%.1f %s", float64(n)/float64(u), name)
}
