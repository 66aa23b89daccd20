package dashboard

import (
	"net/http"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/auth"
)

// expiries are the choices of a new token's lifetime.
var expiries = map[string]string{"": "", "30d": "720h", "90d": "2160h", "365d": "8760h"}

type accountData struct {
	Tokens   []*apogee.Token
	NewToken *apogee.TokenResponse // shown once, on the page that made it
	Error    string                // of the password form
	Now      time.Time
	GitHub   githubAccount // the GitHub connection (github.go)
	Usage    *planUsage    // plan and usage (usage.go)
	// Teams are the scopes a new token may have besides the whole
	// account; TeamNames names a token's team by its id.
	Teams     []*apogee.TeamMembership
	TeamNames map[string]string
	// Activity is the newest of the account's own audit log: sign-ins
	// (refused ones too), its projects' changes, its tokens.
	Activity []*apogee.AuditEntry
}

// accountActivityShown is how many of the account's audit entries its
// page shows; `apogee audit` reads the rest.
const accountActivityShown = 20

func (d *Dashboard) account(w http.ResponseWriter, r *http.Request, s *session, status int, data accountData) error {
	tokens, err := d.svc.Accounts.Tokens(r.Context())
	if err != nil {
		return err
	}
	// Newest first; revoked and expired ones after the usable ones.
	now := d.now()
	var usable, dead []*apogee.Token
	for i := len(tokens) - 1; i >= 0; i-- {
		if t := tokens[i]; t.Valid(now) {
			usable = append(usable, t)
		} else {
			dead = append(dead, t)
		}
	}
	data.Tokens = append(usable, dead...)
	data.Now = now
	if data.GitHub, err = d.githubAccount(r, s); err != nil {
		return err
	}
	if data.Usage, err = d.planUsageOf(r); err != nil {
		return err
	}
	if data.Teams, err = d.svc.Teams.Teams(r.Context()); err != nil {
		return err
	}
	if data.Activity, err = d.svc.Audit.Audit(r.Context(), apogee.AuditRequest{Limit: accountActivityShown}); err != nil {
		return err
	}
	data.TeamNames = map[string]string{}
	for _, t := range data.Teams {
		data.TeamNames[t.ID] = t.Name
	}
	d.render(w, r, status, "account", s, "Account", data)
	return nil
}

func (d *Dashboard) accountPage(w http.ResponseWriter, r *http.Request, s *session) error {
	return d.account(w, r, s, http.StatusOK, accountData{})
}

// createToken makes an API token and shows its secret on the page it
// answers with, once: it is not kept anywhere it could be shown again.
func (d *Dashboard) createToken(w http.ResponseWriter, r *http.Request, s *session) error {
	exp, ok := expiries[r.PostFormValue("expires")]
	if !ok {
		return apogee.Errorf(apogee.EINVALID, "choose an expiry from the list")
	}
	// The same scopes as `apogee tokens create --team --read-only`: the
	// platform checks the team is one of the caller's.
	req := apogee.CreateTokenRequest{Name: r.PostFormValue("name"), ExpiresIn: exp,
		Team: r.PostFormValue("team"), ReadOnly: r.PostFormValue("read_only") == "on"}
	resp, err := d.svc.Accounts.CreateToken(r.Context(), req)
	if err != nil {
		if apogee.ErrorCode(err) == apogee.EINTERNAL {
			return err
		}
		setFlash(w, r, "error", apogee.ErrorMessage(err))
		return seeOther(w, r, "/account")
	}
	return d.account(w, r, s, http.StatusOK, accountData{NewToken: resp})
}

func (d *Dashboard) revokeToken(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.svc.Accounts.RevokeToken(r.Context(), r.PathValue("id")); err != nil {
		return err // another user's token is a 404, like a missing one
	}
	setFlash(w, r, "ok", "Token revoked: it no longer works.")
	return seeOther(w, r, "/account")
}

// changePassword replaces the password after checking the current one,
// and signs out every other session of the user.
func (d *Dashboard) changePassword(w http.ResponseWriter, r *http.Request, s *session) error {
	current, next := r.PostFormValue("current"), r.PostFormValue("new")
	fail := func(status int, msg string) error {
		return d.account(w, r, s, status, accountData{Error: msg})
	}
	u, err := d.store.UserByID(r.Context(), s.user.ID)
	if err != nil {
		return errorf("change password: %w", err)
	}
	// An account made through GitHub has no password yet: setting the
	// first one asks for no current password (the session is the proof).
	ok := !u.HasPassword()
	if u.HasPassword() {
		if ok, err = auth.VerifyPassword(u.Password, current); err != nil {
			return errorf("change password: user %s: %w", u.ID, err)
		}
	}
	switch {
	case !ok:
		return fail(http.StatusBadRequest, "the current password is wrong")
	case auth.CheckNewPassword(next) != nil:
		return fail(http.StatusBadRequest, apogee.ErrorMessage(auth.CheckNewPassword(next)))
	case next != r.PostFormValue("new2"):
		return fail(http.StatusBadRequest, "the two new passwords differ")
	}
	hash, err := auth.HashPassword(next)
	if err != nil {
		return errorf("change password: %w", err)
	}
	if err := d.store.SetPassword(r.Context(), u.ID, hash); err != nil {
		return errorf("change password: %w", err)
	}
	n, err := d.store.DeleteUserSessions(r.Context(), u.ID, s.hash)
	if err != nil {
		return errorf("change password: sign out other sessions: %w", err)
	}
	d.log.Info("password changed", "user", u.ID, "sessions_ended", n)
	msg := "Password changed."
	if !u.HasPassword() {
		msg = "Password set: you can now sign in with your email and password too."
	}
	if n > 0 {
		msg += " Your other sessions were signed out."
	}
	setFlash(w, r, "ok", msg)
	return seeOther(w, r, "/account")
}
