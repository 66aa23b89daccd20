package dashboard

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/auth"
	"github.com/apogee-dev/apogee/internal/github"
)

// Sign-in with GitHub: GET /auth/github starts the authorization code
// flow; GitHub sends the browser back to GET /auth/github/callback. The
// flow's state and PKCE verifier ride in a short-lived cookie that only
// these two routes see, so a callback is accepted only in the browser
// that started it, once.

// oauthCookie holds one flow: state, PKCE verifier, where to go after.
const oauthCookie = "apogee_oauth"

// oauthFlowTTL bounds how long a person may take at GitHub.
const oauthFlowTTL = 10 * time.Minute

const githubPath = "/auth/github"

func (d *Dashboard) githubCallbackURL() string { return d.baseURL() + githubPath + "/callback" }

// githubStart sends the browser to GitHub's consent page. A signed-in
// user who starts it connects GitHub to their account.
func (d *Dashboard) githubStart(w http.ResponseWriter, r *http.Request) error {
	state, verifier := newSecret(), oauth2.GenerateVerifier()
	v := url.Values{"state": {state}, "verifier": {verifier}, "next": {safeNext(r.URL.Query().Get("next"))}}
	http.SetCookie(w, &http.Cookie{Name: cookieName(r, oauthCookie), Value: base64.RawURLEncoding.EncodeToString([]byte(v.Encode())),
		Path: "/", HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: int(oauthFlowTTL.Seconds())})
	http.Redirect(w, r, d.gh.AuthCodeURL(state, verifier, d.githubCallbackURL()), http.StatusFound)
	return nil
}

// githubFlow reads and clears the flow cookie; nil if absent or spoilt.
func githubFlow(w http.ResponseWriter, r *http.Request) url.Values {
	c, err := r.Cookie(cookieName(r, oauthCookie))
	http.SetCookie(w, &http.Cookie{Name: cookieName(r, oauthCookie), Value: "", Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	if err != nil {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil
	}
	v, err := url.ParseQuery(string(raw))
	if err != nil || len(v.Get("state")) != 43 || v.Get("verifier") == "" {
		return nil
	}
	return v
}

var (
	errGitHubState = apogee.Errorf(apogee.EFORBIDDEN,
		"this GitHub sign-in was not started in this browser, or took longer than 10 minutes; nothing was changed: start again")
	errGitHubEmail = apogee.Errorf(apogee.EFORBIDDEN,
		"your GitHub account has no verified primary email address, so Apogee cannot tell who you are; verify one at GitHub (Settings → Emails) and try again")
	errGitHubSignupClosed = apogee.Errorf(apogee.EFORBIDDEN,
		"there is no Apogee account for this GitHub account and sign-up on this server is by invitation; ask its admin for an invitation link, then connect GitHub on your Account page")
)

// githubAttempts is the account name sign-ins through GitHub are counted
// under by the guard: no email can be it.
const githubAttempts = "\x00github"

// githubCallback finishes the flow: check the state, trade the code for
// tokens, read the GitHub account, then sign in (or connect) as the user
// it belongs to. Every refusal ends on a page that says why, with nothing
// created.
func (d *Dashboard) githubCallback(w http.ResponseWriter, r *http.Request) error {
	flow := githubFlow(w, r)
	q := r.URL.Query()
	// The same limits as password sign-ins, under an account name of its
	// own: a failure is a callback whose state, code or account is wrong.
	attempt, err := d.guard.Begin(r.RemoteAddr, githubAttempts)
	if err != nil {
		d.log.Warn("GitHub sign-in rate limited", "address", r.RemoteAddr)
		return err
	}
	counted := false
	defer func() {
		if !counted { // ended for another reason than a failure or a success
			attempt.Forget()
		}
	}()
	failed := func(err error) error {
		counted = true
		return err
	}
	if flow == nil || !sameToken(q.Get("state"), flow.Get("state")) {
		return failed(errGitHubState)
	}
	if e := q.Get("error"); e != "" {
		if e == "access_denied" {
			return apogee.Errorf(apogee.EFORBIDDEN, "you did not allow Apogee to use your GitHub account, so nothing was changed; sign in with your email and password, or try GitHub again")
		}
		desc := q.Get("error_description")
		if desc == "" {
			desc = e
		}
		return failed(apogee.Errorf(apogee.EUNAUTHORIZED, "GitHub refused the sign-in: %s", desc))
	}
	if q.Get("code") == "" {
		return failed(apogee.Errorf(apogee.EINVALID, "GitHub sent no sign-in code; start again"))
	}
	tok, err := d.gh.Exchange(r.Context(), q.Get("code"), flow.Get("verifier"), d.githubCallbackURL())
	if err != nil {
		if apogee.ErrorCode(err) == apogee.EUNAUTHORIZED {
			return failed(err)
		}
		return err
	}
	acct, err := d.gh.FetchAccount(r.Context(), tok)
	if err != nil {
		return errorf("GitHub sign-in: %w", err)
	}
	next := safeNext(flow.Get("next"))

	// Signed in already: connect GitHub to this account.
	if s, err := d.session(r); err != nil {
		return err
	} else if s != nil {
		if _, err := d.gh.Save(r.Context(), s.user.ID, acct, tok); err != nil {
			return errorf("connect GitHub: %w", err)
		}
		d.log.Info("GitHub connected", "user", s.user.ID, "github", acct.Login)
		setFlash(w, r, "ok", "Connected to GitHub as @"+acct.Login+".")
		return seeOther(w, r, "/account")
	}

	u, created, err := d.githubUser(r, acct)
	if err != nil {
		return err
	}
	if err := refuseDisabled(u); err != nil {
		return failed(err)
	}
	if created {
		// Only now is anything written: the user, then the link.
		if err := d.store.CreateUser(r.Context(), u); err != nil {
			return errorf("GitHub sign-up: %w", err)
		}
		d.log.Info("signed up with GitHub", "user", u.ID, "admin", u.Admin, "github", acct.Login)
	}
	if _, err := d.gh.Save(r.Context(), u.ID, acct, tok); err != nil {
		return errorf("GitHub sign-in: %w", err)
	}
	attempt.Succeeded()
	counted = true
	if err := d.startSession(w, r, u); err != nil {
		return err
	}
	d.log.Info("dashboard sign-in with GitHub", "user", u.ID, "github", acct.Login)
	via := "with GitHub as @" + acct.Login
	if created {
		via = "signed up " + via
	}
	d.svc.Accounts.SignedIn(r.Context(), u, r.RemoteAddr, via)
	if created {
		setFlash(w, r, "ok", "Welcome to Apogee, @"+acct.Login+". Create your first project below.")
		return seeOther(w, r, "/")
	}
	return seeOther(w, r, next)
}

// githubUser finds who a GitHub account signs in as: the user it is
// linked to, else the user whose email is the account's verified primary
// email, else a new user (not yet stored; created is true) when sign-up
// is open.
func (d *Dashboard) githubUser(r *http.Request, acct *github.Account) (u *apogee.User, created bool, err error) {
	id, err := d.gh.ByAccount(r.Context(), acct.ID)
	switch {
	case err == nil:
		u, err := d.store.UserByID(r.Context(), id.UserID)
		if err != nil {
			return nil, false, errorf("GitHub sign-in: %w", err)
		}
		return u, false, nil
	case !errors.Is(err, apogee.ErrNotFound):
		return nil, false, errorf("GitHub sign-in: %w", err)
	}
	if acct.Email == "" {
		return nil, false, errGitHubEmail
	}
	u, err = d.store.UserByEmail(r.Context(), acct.Email)
	switch {
	case err == nil:
		if _, err := d.gh.Identity(r.Context(), u.ID); err == nil {
			return nil, false, apogee.Errorf(apogee.ECONFLICT,
				"the Apogee account for %s is connected to another GitHub account; sign in with it, or with your password", acct.Email)
		}
		return u, false, nil
	case !errors.Is(err, apogee.ErrNotFound):
		return nil, false, errorf("GitHub sign-in: %w", err)
	}
	if !d.signup {
		return nil, false, errGitHubSignupClosed
	}
	users, err := d.store.ListUsers(r.Context())
	if err != nil {
		return nil, false, errorf("GitHub sign-up: %w", err)
	}
	// No password signs in to this account (Password "": auth.Login
	// refuses it) until its owner sets one on the Account page.
	return &apogee.User{ID: apogee.NewID(), Email: acct.Email, Password: "", Admin: len(users) == 0,
		CreatedAt: d.now().UTC()}, true, nil
}

// refuseDisabled refuses a user an admin has disabled (auth.ErrDisabled),
// as password sign-in does.
func refuseDisabled(u *apogee.User) error { return auth.CheckActive(u) }

// githubDisconnect forgets the user's GitHub account (POST, CSRF).
func (d *Dashboard) githubDisconnect(w http.ResponseWriter, r *http.Request, s *session) error {
	if !s.user.HasPassword() { // GitHub is their only way in
		setFlash(w, r, "error", "Set a password below first: without GitHub or a password you could not sign in again.")
		return seeOther(w, r, "/account")
	}
	if err := d.gh.Disconnect(r.Context(), s.user.ID); err != nil {
		if errors.Is(err, apogee.ErrNotFound) {
			setFlash(w, r, "error", "GitHub was not connected.")
			return seeOther(w, r, "/account")
		}
		return errorf("disconnect GitHub: %w", err)
	}
	d.log.Info("GitHub disconnected", "user", s.user.ID)
	setFlash(w, r, "ok", "GitHub disconnected. You can revoke Apogee's access at GitHub too (Settings → Applications).")
	return seeOther(w, r, "/account")
}

// githubAccount is what the Account page shows about GitHub.
type githubAccount struct {
	Enabled   bool
	Login     string // "" when not connected
	Reconnect string // why the connection needs renewing, if it does
}

func (d *Dashboard) githubAccount(r *http.Request, s *session) (githubAccount, error) {
	if d.gh == nil {
		return githubAccount{}, nil
	}
	g := githubAccount{Enabled: true}
	id, err := d.gh.Identity(r.Context(), s.user.ID)
	switch {
	case errors.Is(err, apogee.ErrNotFound):
		return g, nil
	case err != nil:
		return g, errorf("GitHub connection: %w", err)
	}
	g.Login, g.Reconnect = id.Login, id.Reconnect
	return g, nil
}

// githubRepos is the new-project page's lists of the user's
// repositories: those granted to the platform's GitHub App (App, built
// through its installation: no webhook), and the others their connected
// account reaches (Repos, built through a repository webhook).
type githubRepos struct {
	Connected bool
	App       []repoChoice
	Repos     []repoChoice
	Error     string
	AppError  string
}

// repoChoice is a repository and the link that picks it.
type repoChoice struct {
	github.Repo
	Pick    string // /projects/new?… with its URL, branch and a name filled in
	Account string // the account the GitHub App is installed on (App only)
}

func (d *Dashboard) githubRepos(r *http.Request, s *session) githubRepos {
	if d.gh == nil {
		return githubRepos{}
	}
	if _, err := d.gh.Identity(r.Context(), s.user.ID); err != nil {
		if !errors.Is(err, apogee.ErrNotFound) {
			d.log.Error("GitHub connection", "user", s.user.ID, "err", err)
		}
		return githubRepos{}
	}
	repos, err := d.gh.Repos(r.Context(), s.user.ID)
	if err != nil {
		if !errors.Is(err, github.ErrReconnect) {
			d.log.Error("list GitHub repositories", "user", s.user.ID, "err", err)
			return githubRepos{Connected: true, Error: "GitHub did not answer with your repositories; enter the URL by hand or reload the page"}
		}
		return githubRepos{Connected: true, Error: github.Message(err)}
	}
	pick := func(repo github.Repo) string {
		q := url.Values{"kind": {"git"}, "git_url": {repo.CloneURL}, "branch": {repo.DefaultBranch}, "name": {repoName(repo.FullName)}}
		return "/projects/new?" + q.Encode()
	}
	g := githubRepos{Connected: true}
	viaApp := map[string]bool{}
	if d.app != nil {
		// The app's repositories that the user's account reaches: the
		// import links only those (linkGitHubApp).
		reach := map[string]bool{}
		for _, repo := range repos {
			reach[strings.ToLower(repo.FullName)] = true
		}
		granted, err := d.app.Repos(r.Context())
		if err != nil {
			d.log.Error("list the GitHub App's repositories", "err", err)
			g.AppError = "GitHub did not answer with the GitHub App's repositories; reload the page"
		}
		for _, repo := range granted {
			name := strings.ToLower(repo.FullName)
			if reach[name] && !viaApp[name] {
				viaApp[name] = true
				g.App = append(g.App, repoChoice{Repo: repo.Repo, Pick: pick(repo.Repo), Account: repo.Installation.Account})
			}
		}
	}
	for _, repo := range repos {
		if !viaApp[strings.ToLower(repo.FullName)] {
			g.Repos = append(g.Repos, repoChoice{Repo: repo, Pick: pick(repo)})
		}
	}
	return g
}

// repoName suggests a project name for a repository "owner/Name.js":
// "name-js", a DNS label.
func repoName(fullName string) string {
	_, name, _ := strings.Cut(fullName, "/")
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}
