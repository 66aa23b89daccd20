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
// id (so a renamed team stays chosen): it is checked against the person's
// teams on every use, so one removed from a team (or whose team was
// deleted) is back on their personal projects, told why.

const scopeCookie = "apogee_scope"

// scope is the team a request's ?team= names, if the query has one
// (explicit, even when "" for personal).
func scope(r *http.Request) (team string, explicit bool) {
	if q := r.URL.Query(); q.Has("team") {
		return q.Get("team"), true
	}
	return "", false
}

// keepScope remembers the team of name among teams as the scope (""
// forgets it).
func keepScope(w http.ResponseWriter, r *http.Request, name string, teams []*apogee.TeamMembership) {
	id := ""
	for _, t := range teams {
		if t.Name == name {
			id = t.ID
		}
	}
	c := &http.Cookie{Name: cookieName(r, scopeCookie), Value: id, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: 365 * 24 * 3600}
	if id == "" {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// rememberedScope is the name of the cookie's team if the person is still
// one of its members, else "" and lost reports that there was one, after
// forgetting it.
func rememberedScope(w http.ResponseWriter, r *http.Request, teams []*apogee.TeamMembership) (team string, lost bool) {
	id := rememberedTeamID(r)
	if id == "" {
		return "", false
	}
	for _, t := range teams {
		if t.ID == id {
			return t.Name, false
		}
	}
	keepScope(w, r, "", nil)
	return "", true
}

func rememberedTeamID(r *http.Request) string {
	if c, err := r.Cookie(cookieName(r, scopeCookie)); err == nil {
		return c.Value
	}
	return ""
}
