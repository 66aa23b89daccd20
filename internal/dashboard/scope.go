package dashboard

import (
	"net/http"

	"github.com/apogee-dev/apogee"
)

// The scope (issue 19): whose projects the dashboard shows, the person's
// own or one of their teams', as Vercel's scope switcher does. Choosing a
// team on the projects page (/?team=NAME; /?team= for personal) keeps it
// in a cookie, so the projects list and the new-project form stay on it
// from page to page and visit to visit. The cookie holds only a team's
// name: it is checked against the person's teams on every use, so one
// removed from a team (or whose team was deleted) is back on their
// personal projects, told why.

const scopeCookie = "apogee_scope"

// scope is the scope a request asks for: the team of ?team= when the
// query has one (explicit, even when "" for personal), else the cookie's.
func scope(r *http.Request) (team string, explicit bool) {
	if q := r.URL.Query(); q.Has("team") {
		return q.Get("team"), true
	}
	if c, err := r.Cookie(cookieName(r, scopeCookie)); err == nil {
		return c.Value, false
	}
	return "", false
}

// keepScope remembers team as the scope ("" forgets it).
func keepScope(w http.ResponseWriter, r *http.Request, team string) {
	c := &http.Cookie{Name: cookieName(r, scopeCookie), Value: team, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: 365 * 24 * 3600}
	if team == "" {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// rememberedScope is the cookie's team if the person is still one of its
// members, else "" and (when there was one) the name of the team they
// lost, after forgetting it.
func rememberedScope(w http.ResponseWriter, r *http.Request, teams []*apogee.TeamMembership) (team, lost string) {
	c, err := r.Cookie(cookieName(r, scopeCookie))
	if err != nil || c.Value == "" {
		return "", ""
	}
	for _, t := range teams {
		if t.Name == c.Value {
			return t.Name, ""
		}
	}
	keepScope(w, r, "")
	return "", c.Value
}
