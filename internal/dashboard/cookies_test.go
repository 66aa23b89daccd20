package dashboard

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestCookieNames: over HTTPS every dashboard cookie carries the __Host-
// prefix (Secure, Path=/, no Domain: a browser lets no other host set or
// shadow it), and signing in, flashes and signing out work under those
// names; over plain HTTP the names stay apogee_*.
func TestCookieNames(t *testing.T) {
	e := newEnv(t, SignupInvite)
	tlsSrv := httptest.NewTLSServer(e.srv.Config.Handler)
	t.Cleanup(tlsSrv.Close)

	for _, tc := range []struct {
		name, prefix string
		srv          *httptest.Server
	}{
		{"http", "", e.srv},
		{"https", "__Host-", tlsSrv},
	} {
		t.Run(tc.name, func(t *testing.T) {
			on := *e
			on.srv = tc.srv
			jar, _ := cookiejar.New(nil)
			hc := tc.srv.Client()
			hc.Jar = jar
			hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			b := &browser{e: &on, c: hc}

			var set []*http.Cookie
			record := func(res *http.Response) {
				set = append(set, res.Cookies()...)
			}
			page := func(path string) {
				res, err := hc.Get(tc.srv.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				record(res)
			}
			page("/login")
			b.get("/login")
			in := b.post("/login", url.Values{"email": {"alice@example.com"}, "password": {password}, "next": {"/"}})
			if in.code != http.StatusSeeOther {
				t.Fatalf("sign in: %d %.200s", in.code, in.body)
			}
			// The attributes a browser requires of a __Host- cookie.
			header := strings.Join(in.header.Values("Set-Cookie"), "\n")
			if !strings.Contains(header, tc.prefix+"apogee_session=") || !strings.Contains(header, "Path=/;") ||
				strings.Contains(header, "Secure") != (tc.prefix != "") || strings.Contains(strings.ToLower(header), "domain=") {
				t.Errorf("Set-Cookie of the sign-in:\n%s", header)
			}
			want(t, "signed in", b.get("/"), http.StatusOK, "alice@example.com")
			for _, c := range jar.Cookies(mustURL(tc.srv.URL)) {
				set = append(set, c)
			}
			res := b.post("/logout", nil)
			if res.code != http.StatusSeeOther {
				t.Fatalf("sign out: %d", res.code)
			}
			if got := b.get("/account"); got.code != http.StatusSeeOther || !strings.HasPrefix(got.location, "/login") {
				t.Fatalf("after sign-out /account = %d %q, want a redirect to /login", got.code, got.location)
			}

			names := map[string]bool{}
			for _, c := range set {
				names[c.Name] = true
				if !strings.HasPrefix(c.Name, tc.prefix+"apogee_") || strings.HasPrefix(c.Name, "__Host-") != (tc.prefix != "") {
					t.Errorf("cookie %q, want the prefix %q", c.Name, tc.prefix)
				}
				if c.Domain != "" {
					t.Errorf("cookie %s has Domain %q", c.Name, c.Domain)
				}
			}
			for _, n := range []string{loginCookie, sessionCookie} {
				if !names[tc.prefix+n] {
					t.Errorf("no %s%s cookie among %v", tc.prefix, n, names)
				}
			}
		})
	}

}
