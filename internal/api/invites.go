package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/auth"
)

// Invitations (/api/v1/admin/invites): an admin invites an email; the
// link, made of a random token whose SHA-256 alone is stored, is in the
// answer to the POST only. The dashboard's /signup?invite=… redeems it.

// InviteTTL bounds: an invite lasts at least a minute and at most 90 days.
const (
	MinInviteTTL = time.Minute
	MaxInviteTTL = 90 * 24 * time.Hour
)

func (a *API) inviteRoutes(authed func(string, func(http.ResponseWriter, *http.Request, *apogee.User) error)) {
	authed("POST /api/v1/admin/invites", adminOnly(a.createInvite))
	authed("GET /api/v1/admin/invites", adminOnly(a.listInvites))
	authed("DELETE /api/v1/admin/invites/{id}", adminOnly(a.deleteInvite))
}

func (a *API) createInvite(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	var req apogee.InviteRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	email, err := apogee.CheckEmail(req.Email)
	if err != nil {
		return err
	}
	ttl := apogee.DefaultInviteTTL
	if req.ExpiresIn != 0 {
		ttl = time.Duration(req.ExpiresIn) * time.Second
		if req.ExpiresIn < 0 || ttl < MinInviteTTL || ttl > MaxInviteTTL {
			return apogee.Errorf(apogee.EINVALID, "expires_in must be between %d and %d seconds (1 minute to 90 days)",
				int64(MinInviteTTL/time.Second), int64(MaxInviteTTL/time.Second))
		}
	}
	switch _, err := a.store.UserByEmail(r.Context(), email); {
	case err == nil:
		return apogee.Errorf(apogee.ECONFLICT, "%s has an account already; nothing to invite", email)
	case !errors.Is(err, apogee.ErrNotFound):
		return fmt.Errorf("api: invite: %w", err)
	}
	secret, hash := auth.NewToken()
	now := a.now().UTC()
	inv := &apogee.Invite{Email: email, Hash: hash, InvitedBy: u.ID, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := a.store.CreateInvite(r.Context(), inv); err != nil {
		return fmt.Errorf("api: invite: %w", err)
	}
	a.log.Info("invite made", "invite", inv.ID, "by", u.ID, "expires", inv.ExpiresAt)
	writeJSON(w, http.StatusCreated, apogee.NewInvite{Invite: inv, URL: a.baseURL() + "/signup?invite=" + url.QueryEscape(secret)})
	return nil
}

func (a *API) listInvites(w http.ResponseWriter, r *http.Request, _ *apogee.User) error {
	list, err := a.store.ListInvites(r.Context(), a.now().UTC())
	if err != nil {
		return fmt.Errorf("api: list invites: %w", err)
	}
	if list == nil {
		list = []*apogee.Invite{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"invites": list})
	return nil
}

func (a *API) deleteInvite(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	id := r.PathValue("id")
	if err := a.store.DeleteInvite(r.Context(), id); err != nil {
		if errors.Is(err, apogee.ErrNotFound) {
			return apogee.Errorf(apogee.ENOTFOUND, "no invite %q; apogee admin invites list shows the pending ones", id)
		}
		return fmt.Errorf("api: revoke invite: %w", err)
	}
	a.log.Info("invite revoked", "invite", id, "by", u.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
