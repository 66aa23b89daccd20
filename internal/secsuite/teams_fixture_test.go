package secsuite

import (
	"context"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/auth"
)

// The victim's team and what team rows name in it (issue 19).

// Team is the name of a team the victim owns, with no projects.
func (f *fixture) Team() string {
	if f.team == "" {
		name := f.w.unique("team")
		t, err := f.api().CreateTeam(f.ctx, name)
		if err != nil {
			f.t.Fatal(err)
		}
		f.team, f.teamID = t.Name, t.ID
		f.mark(t.Name, t.ID)
		f.t.Cleanup(func() { _ = f.w.ownerAPI.DeleteTeam(context.Background(), t.Name) })
	}
	return f.team
}

// TeamInvite is the id of a pending invitation of the victim's team.
func (f *fixture) TeamInvite() string {
	if f.teamInvite == "" {
		inv, err := f.api().InviteToTeam(f.ctx, f.Team(), apogee.TeamInviteRequest{Email: f.w.unique("teaminvitee") + "@victim.example", Role: "viewer"})
		if err != nil {
			f.t.Fatal(err)
		}
		f.teamInvite = inv.ID
		f.mark(inv.ID, inv.Email, inv.URL, inv.Token)
	}
	return f.teamInvite
}

// TeamWebhook is the id of a webhook of the victim's team.
func (f *fixture) TeamWebhook() string {
	if f.teamWebhook == "" {
		u := f.w.hooks.URL + "/" + f.w.unique("teamhook")
		secret := f.w.unique("teamwhsecret-0123456789-")
		h, err := f.api().CreateTeamWebhook(f.ctx, f.Team(), apogee.CreateWebhookRequest{URL: u, Secret: secret,
			Events: []string{apogee.NotifyDeploymentBuilding}})
		if err != nil {
			f.t.Fatal(err)
		}
		f.teamWebhook = h.ID
		f.mark(h.ID, u, secret)
	}
	return f.teamWebhook
}

// TeamMember is the email of a member (role member) of the victim's team.
func (f *fixture) TeamMember() string {
	if f.teamMember == "" {
		f.Team()
		email := f.w.unique("teammate") + "@victim.example"
		u := &apogee.User{ID: apogee.NewID(), Email: email, Password: f.w.hash, CreatedAt: time.Now()}
		if err := f.w.store.CreateUser(f.ctx, u); err != nil {
			f.t.Fatal(err)
		}
		_, hash := auth.NewToken()
		inv := &apogee.TeamInvite{TeamID: f.teamID, Role: apogee.RoleMember, Hash: hash, InvitedBy: f.w.owner.user.ID,
			CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
		if err := f.w.store.CreateTeamInvite(f.ctx, inv); err != nil {
			f.t.Fatal(err)
		}
		if _, err := f.w.store.AcceptTeamInvite(f.ctx, inv.ID, u.ID, time.Now()); err != nil {
			f.t.Fatal(err)
		}
		f.teamMember = email
		f.mark(email, u.ID)
	}
	return f.teamMember
}

// JoinToken is a fresh invitation's token (each call a new one) to a
// team of a third person, neither a principal nor the victim: whoever
// joins it changes only their own memberships.
func (f *fixture) JoinToken() string {
	ctx := f.ctx
	founder := &apogee.User{ID: apogee.NewID(), Email: f.w.unique("founder") + "@third.example", Password: f.w.hash, CreatedAt: time.Now()}
	if err := f.w.store.CreateUser(ctx, founder); err != nil {
		f.t.Fatal(err)
	}
	t := &apogee.Team{Name: f.w.unique("third"), CreatedBy: founder.ID, CreatedAt: time.Now()}
	if err := f.w.store.CreateTeam(ctx, t, founder.ID); err != nil {
		f.t.Fatal(err)
	}
	secret, hash := auth.NewToken()
	inv := &apogee.TeamInvite{TeamID: t.ID, Role: apogee.RoleViewer, Hash: hash, InvitedBy: founder.ID,
		CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := f.w.store.CreateTeamInvite(ctx, inv); err != nil {
		f.t.Fatal(err)
	}
	return secret
}

// teamSnapshot adds the victim's teams to a snapshot: each with its
// members, pending invitations and webhooks.
func (f *fixture) teamSnapshot(put func(string, any), must func(error)) {
	ctx := context.Background()
	ts, err := f.w.store.Teams(ctx, f.w.owner.user.ID)
	must(err)
	for _, t := range ts {
		put("team", t)
		ms, err := f.w.store.Members(ctx, t.ID)
		must(err)
		put("team members", ms)
		is, err := f.w.store.TeamInvites(ctx, t.ID, time.Time{})
		must(err)
		for _, i := range is {
			put("team invite", []any{i.ID, i.Email, i.Role, i.Hash, i.ExpiresAt, i.AcceptedAt})
		}
		hs, err := f.w.store.ListTeamWebhooks(ctx, t.ID)
		must(err)
		for _, h := range hs {
			// A team's webhooks hear every project of the team, so those of
			// earlier rows get deliveries at any time: only the fixture's
			// own one's last delivery is part of the snapshot (its test
			// row changes it).
			if h.ID == f.teamWebhook {
				put("team webhook", []any{h.ID, h.URL, h.Secret, h.Events, h.LastStatus, h.LastAt, h.LastCode, h.LastError})
			} else {
				put("team webhook", []any{h.ID, h.URL, h.Secret, h.Events})
			}
		}
		ps, err := f.w.store.ListProjects(ctx, t.ID)
		must(err)
		for _, p := range ps {
			put("team project", p.Name)
		}
	}
}
