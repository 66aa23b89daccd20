package dashboard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/api"
	"github.com/apogee-dev/apogee/internal/auth"
)

// Cookie names, as sent over plain HTTP (see cookieName).
const (
	sessionCookie = "apogee_session"
	loginCookie   = "apogee_login" // CSRF token of the sign-in and sign-up forms
	flashCookie   = "apogee_flash"
)

// cookieName is the name of the dashboard's cookie base for request r.
// Over HTTPS it carries the __Host- prefix: a browser then takes the
// cookie only when it is Secure, has Path=/ and no Domain, so no other
// host (a site under the same domain among them) can set or shadow it,
// whatever the edge lets through. Every dashboard cookie is set with
// Path=/ and no Domain for that reason.
func cookieName(r *http.Request, base string) string {
	if r.TLS != nil {
		return "__Host-" + base
	}
	return base
}

// csrfField is the hidden form field that carries the CSRF token.
const csrfField = "csrf"

// touchGranularity limits writes that record a session's last use.
const touchGranularity = time.Minute

// session is a signed-in request: the user, the stored session and the
// CSRF token every form of the session carries.
type session struct {
	user *apogee.User
	hash []byte
	csrf string
}

// newSecret returns 256 random bits, base64url-encoded.
func newSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("dashboard: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashID(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// csrfToken derives a session's CSRF token from its id, which only the
// browser holds (the store has its hash): nothing to store, and a token
// is good for its session only.
func csrfToken(id string) string {
	m := hmac.New(sha256.New, []byte(id))
	m.Write([]byte("apogee dashboard csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func sameToken(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// session returns the request's valid session, or nil.
func (d *Dashboard) session(r *http.Request) (*session, error) {
	c, err := r.Cookie(cookieName(r, sessionCookie))
	if err != nil || c.Value == "" {
		return nil, nil
	}
	hash := hashID(c.Value)
	st, err := d.store.SessionByHash(r.Context(), hash)
	if errors.Is(err, apogee.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, errorf("look up session: %w", err)
	}
	now := d.now()
	if !st.Valid(now) {
		return nil, nil
	}
	u, err := d.store.UserByID(r.Context(), st.UserID)
	if errors.Is(err, apogee.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, errorf("look up session's user: %w", err)
	}
	if err := auth.CheckActive(u); err != nil {
		return nil, err // 401: the account is disabled
	}
	if now.Sub(st.LastSeen) > touchGranularity {
		if err := d.store.TouchSession(r.Context(), hash, now.UTC()); err != nil {
			d.log.Warn("record session use", "user", u.ID, "err", err)
		}
	}
	return &session{user: u, hash: hash, csrf: csrfToken(c.Value)}, nil
}

// authed passes the signed-in session to h. Without one, a GET is sent
// to the sign-in page, which comes back here after; a POST is refused.
// Every POST must carry the session's CSRF token: 403 otherwise.
func (d *Dashboard) authed(h func(http.ResponseWriter, *http.Request, *session) error) http.Handler {
	return d.wrap(func(w http.ResponseWriter, r *http.Request) error {
		s, err := d.session(r)
		if err != nil {
			return err
		}
		if s == nil {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				return apogee.Errorf(apogee.EFORBIDDEN, "you are signed out; sign in and send the form again")
			}
			return seeOther(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()))
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if !sameToken(r.PostFormValue(csrfField), s.csrf) {
				return errBadCSRF
			}
		}
		// The services act for the signed-in user.
		ctx := apogee.NewContextWithClient(apogee.NewContextWithUser(r.Context(), s.user), r.RemoteAddr)
		return h(w, r.WithContext(ctx), s)
	})
}

// maxForm bounds a form body (an environment variable's value is at most
// 64 KiB).
const maxForm = 256 << 10

var errBadCSRF = apogee.Errorf(apogee.EFORBIDDEN, "this form has expired or did not come from this dashboard; reload the page and send it again")

// safeNext returns next if it is a path on this site ("/projects/web"),
// or "/": never another site ("//evil.example", "https://…", "/\\evil").
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}

// loginToken returns the CSRF token of the sign-in forms: a random value
// in a cookie that the form must repeat (double submit), set if absent.
func (d *Dashboard) loginToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(cookieName(r, loginCookie)); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	v := newSecret()
	http.SetCookie(w, &http.Cookie{Name: cookieName(r, loginCookie), Value: v, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: 24 * 3600})
	return v
}

func checkLoginToken(r *http.Request) bool {
	c, err := r.Cookie(cookieName(r, loginCookie))
	return err == nil && sameToken(r.PostFormValue(csrfField), c.Value)
}

type loginForm struct {
	Email, Next, Token, Error string
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.URL.Query().Get("next"))
	if s, err := d.session(r); err == nil && s != nil {
		return seeOther(w, r, next)
	}
	d.render(w, r, http.StatusOK, "login", nil, "Sign in", loginForm{Next: next, Token: d.loginToken(w, r)})
	return nil
}

func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if !checkLoginToken(r) {
		return errBadCSRF
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	form := loginForm{Email: email, Next: next, Token: d.loginToken(w, r)}
	if email == "" || password == "" {
		form.Error = "enter your email and password"
		d.render(w, r, http.StatusBadRequest, "login", nil, "Sign in", form)
		return nil
	}
	u, err := d.svc.Accounts.SignIn(r.Context(), apogee.SignInRequest{Email: email, Password: password, Address: r.RemoteAddr})
	switch code := apogee.ErrorCode(err); code {
	case "":
	case apogee.EUNAUTHORIZED, apogee.ETOOMANY: // a wrong pair, a disabled account, too many tries
		form.Error = apogee.ErrorMessage(err)
		api.SetRetryAfter(w, err)
		d.render(w, r, api.StatusOf(code), "login", nil, "Sign in", form)
		return nil
	default:
		return errorf("sign in: %w", err)
	}
	if err := d.startSession(w, r, u); err != nil {
		return err
	}
	d.log.Info("dashboard sign-in", "user", u.ID)
	return seeOther(w, r, next)
}

// startSession makes a session for u and sets its cookie. Expired
// sessions of anyone are deleted on the way: sign-ins are rare enough.
func (d *Dashboard) startSession(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	now := d.now().UTC()
	if _, err := d.store.DeleteExpiredSessions(r.Context(), now); err != nil {
		d.log.Warn("delete expired sessions", "err", err)
	}
	id := newSecret()
	st := &apogee.Session{Hash: hashID(id), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(d.ttl), LastSeen: now}
	if err := d.store.CreateSession(r.Context(), st); err != nil {
		return errorf("create session: %w", err)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName(r, sessionCookie), Value: id, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode, Expires: st.ExpiresAt, MaxAge: int(d.ttl.Seconds())})
	return nil
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.store.DeleteSession(r.Context(), s.hash); err != nil {
		return errorf("sign out: %w", err)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName(r, sessionCookie), Value: "", Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	keepScope(w, r, "", nil) // the next person on this browser starts on their own projects
	setFlash(w, r, "ok", "You are signed out.")
	// A page that asked to sign in as someone else (a team invitation
	// for another account) comes back to itself.
	if next := safeNext(r.PostFormValue("next")); next != "/" {
		return seeOther(w, r, next)
	}
	return seeOther(w, r, "/login")
}

type signupForm struct {
	Email, Token, Error string
	Invite              string // the invitation token, when signing up by invitation (invites.go)
}

func (d *Dashboard) signupPage(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Query().Has("invite") {
		return d.inviteSignupPage(w, r)
	}
	if !d.signup {
		// Titled for what it is, not "Not found": the page exists, and
		// says how to get an account.
		d.render(w, r, http.StatusNotFound, "error", nil, "Sign-up is by invitation", map[string]any{
			"Status": http.StatusNotFound, "Message": apogee.ErrorMessage(errSignupClosed)})
		return nil
	}
	d.render(w, r, http.StatusOK, "signup", nil, "Sign up", signupForm{Token: d.loginToken(w, r)})
	return nil
}

var errSignupClosed = apogee.Errorf(apogee.ENOTFOUND, "sign-up on this server is by invitation: ask its admin for an invitation link")

// signupSubmit makes an account and signs it in. The first account of a
// server is its admin.
func (d *Dashboard) signupSubmit(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if r.PostFormValue("invite") != "" {
		return d.inviteSignupSubmit(w, r)
	}
	if !d.signup {
		return errSignupClosed
	}
	if !checkLoginToken(r) {
		return errBadCSRF
	}
	email := strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
	password := r.PostFormValue("password")
	form := signupForm{Email: email, Token: d.loginToken(w, r)}
	fail := func(status int, msg string) error {
		form.Error = msg
		d.render(w, r, status, "signup", nil, "Sign up", form)
		return nil
	}
	if at := strings.IndexByte(email, '@'); at < 1 || at == len(email)-1 || len(email) > 254 || strings.ContainsAny(email, " \t\r\n") {
		return fail(http.StatusBadRequest, "enter an email address such as you@example.com")
	}
	if err := auth.CheckNewPassword(password); err != nil {
		return fail(http.StatusBadRequest, apogee.ErrorMessage(err))
	}
	if password != r.PostFormValue("password2") {
		return fail(http.StatusBadRequest, "the two passwords differ")
	}
	users, err := d.store.ListUsers(r.Context())
	if err != nil {
		return errorf("sign up: %w", err)
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return errorf("sign up: %w", err)
	}
	u := &apogee.User{ID: apogee.NewID(), Email: email, Password: hash, Admin: len(users) == 0, CreatedAt: d.now().UTC()}
	if err := d.store.CreateUser(r.Context(), u); err != nil {
		if apogee.ErrorCode(err) == apogee.ECONFLICT {
			return fail(http.StatusConflict, "an account with this email exists already; sign in instead")
		}
		return errorf("sign up: %w", err)
	}
	d.log.Info("signed up", "user", u.ID, "admin", u.Admin)
	d.svc.Accounts.SignedIn(r.Context(), u, r.RemoteAddr, "signed up")
	if err := d.startSession(w, r, u); err != nil {
		return err
	}
	setFlash(w, r, "ok", "Welcome to Apogee. Create your first project below.")
	return seeOther(w, r, "/")
}

// flash is a one-time message shown on the next page (after a redirect).
type flash struct {
	Kind string // "ok" or "error"
	Text string
}

func setFlash(w http.ResponseWriter, r *http.Request, kind, text string) {
	http.SetCookie(w, &http.Cookie{Name: cookieName(r, flashCookie), Value: url.QueryEscape(kind + ":" + text), Path: "/",
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: 60})
}

// takeFlash returns the request's flash message, if any, and clears it.
func takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(cookieName(r, flashCookie))
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName(r, flashCookie), Value: "", Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	v, err := url.QueryUnescape(c.Value)
	if err != nil {
		return nil
	}
	kind, text, ok := strings.Cut(v, ":")
	if !ok || (kind != "ok" && kind != "error") || text == "" {
		return nil
	}
	return &flash{Kind: kind, Text: text}
}
