package dashboard

import (
	"errors"
	"net/http"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/auth"
)

// Sign-up by invitation. An admin invites an email on /admin/users (the
// API's /api/v1/admin/invites makes the link); the link,
// /signup?invite=TOKEN, opens the sign-up form with the email fixed by
// the invite. It works in every --signup mode, once, until it expires or
// is revoked.

// inviteExpiries are the choices of an invite's lifetime on the form:
// value → seconds.
var inviteExpiries = []struct {
	Value, Label string
	Seconds      int64
}{
	{"1d", "1 day", 24 * 3600},
	{"7d", "7 days", 7 * 24 * 3600},
	{"30d", "30 days", 30 * 24 * 3600},
}

var errInviteInvalid = apogee.Errorf(apogee.ENOTFOUND,
	"this invitation link does not work: it was used already, was revoked or has expired. Ask the admin who invited you for a new one.")

// invite returns the pending invite of a link's token, or
// errInviteInvalid.
func (d *Dashboard) invite(r *http.Request, token string) (*apogee.Invite, error) {
	if token == "" {
		return nil, errInviteInvalid
	}
	inv, err := d.store.InviteByHash(r.Context(), auth.HashToken(token))
	if errors.Is(err, apogee.ErrNotFound) {
		return nil, errInviteInvalid
	}
	if err != nil {
		return nil, errorf("look up invite: %w", err)
	}
	if !inv.Pending(d.now()) {
		return nil, errInviteInvalid
	}
	return inv, nil
}

func (d *Dashboard) inviteSignupPage(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("invite")
	inv, err := d.invite(r, token)
	if err != nil {
		return err
	}
	d.render(w, r, http.StatusOK, "signup", nil, "Sign up", signupForm{Email: inv.Email, Invite: token, Token: d.loginToken(w, r)})
	return nil
}

// inviteSignupSubmit makes the invited account with the invite's email
// (whatever the form says), marks the invite used in the same
// transaction, and signs it in.
func (d *Dashboard) inviteSignupSubmit(w http.ResponseWriter, r *http.Request) error {
	if !checkLoginToken(r) {
		return errBadCSRF
	}
	token := r.PostFormValue("invite")
	inv, err := d.invite(r, token)
	if err != nil {
		return err
	}
	password := r.PostFormValue("password")
	form := signupForm{Email: inv.Email, Invite: token, Token: d.loginToken(w, r)}
	fail := func(status int, msg string) error {
		form.Error = msg
		d.render(w, r, status, "signup", nil, "Sign up", form)
		return nil
	}
	if err := auth.CheckNewPassword(password); err != nil {
		return fail(http.StatusBadRequest, apogee.ErrorMessage(err))
	}
	if password != r.PostFormValue("password2") {
		return fail(http.StatusBadRequest, "the two passwords differ")
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return errorf("sign up by invitation: %w", err)
	}
	u := &apogee.User{ID: apogee.NewID(), Email: inv.Email, Password: hash, CreatedAt: d.now().UTC()}
	switch err := d.store.AcceptInvite(r.Context(), inv.ID, u); {
	case errors.Is(err, apogee.ErrInviteUsed): // used or revoked meanwhile
		return errInviteInvalid
	case apogee.ErrorCode(err) == apogee.ECONFLICT:
		return fail(http.StatusConflict, "an account with this email exists already; sign in instead")
	case err != nil:
		return errorf("sign up by invitation: %w", err)
	}
	d.log.Info("signed up by invitation", "user", u.ID, "invite", inv.ID, "invited_by", inv.InvitedBy)
	d.svc.Accounts.SignedIn(r.Context(), u, r.RemoteAddr, "signed up by invitation")
	if err := d.startSession(w, r, u); err != nil {
		return err
	}
	setFlash(w, r, "ok", "Welcome to Apogee. Create your first project below.")
	return seeOther(w, r, "/")
}

// pendingInvites lists the invitations an admin may revoke.
func (d *Dashboard) pendingInvites(r *http.Request) ([]*apogee.Invite, error) {
	return d.svc.Admin.Invites(r.Context())
}

// adminInvite makes an invitation and answers with the users page
// showing its link, once: it is not kept anywhere it could be shown
// again. A refusal (bad email, an existing account) goes back with the
// service's message and nothing made.
func (d *Dashboard) adminInvite(w http.ResponseWriter, r *http.Request, s *session) error {
	var secs int64
	for _, e := range inviteExpiries {
		if e.Value == r.PostFormValue("expires") {
			secs = e.Seconds
		}
	}
	if secs == 0 {
		setFlash(w, r, "error", "choose how long the invitation works from the list")
		return seeOther(w, r, "/admin/users")
	}
	req := apogee.InviteRequest{Email: r.PostFormValue("email"), ExpiresIn: secs}
	inv, err := d.svc.Admin.Invite(r.Context(), req)
	if err != nil {
		return backTo(w, r, "/admin/users", err, "")
	}
	return d.adminUsersPage(w, r, s, inv)
}

func (d *Dashboard) adminRevokeInvite(w http.ResponseWriter, r *http.Request, s *session) error {
	err := d.svc.Admin.RevokeInvite(r.Context(), r.PathValue("id"))
	return backTo(w, r, "/admin/users", err, "Invitation revoked: its link no longer works.")
}
