package platform

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/auth"
	"github.com/apogee-dev/apogee/internal/traffic"
)

// admin implements apogee.AdminService: every method is for admins only
// (EFORBIDDEN for anyone else), who see every user and project.
type admin struct{ *Platform }

var _ apogee.AdminService = admin{}

func (pl admin) Users(ctx context.Context) ([]*apogee.UserView, error) {
	if _, err := pl.adminActor(ctx); err != nil {
		return nil, err
	}
	users, err := pl.store.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("platform: list users: %w", err)
	}
	views := make([]*apogee.UserView, 0, len(users))
	for _, u := range users {
		v, err := pl.userView(ctx, u)
		if err != nil {
			return nil, err
		}
		views = append(views, v)
	}
	return views, nil
}

// lookupUser finds a user by id or, with an @, by email.
func (pl *Platform) lookupUser(ctx context.Context, key string) (*apogee.User, error) {
	var u *apogee.User
	var err error
	if name, ok := strings.CutPrefix(key, "team:"); ok { // a team's account: its plan
		var t *apogee.Team
		if t, err = pl.store.TeamByName(ctx, name); err == nil {
			u, err = pl.store.UserByID(ctx, t.ID)
		}
	} else if strings.Contains(key, "@") {
		u, err = pl.store.UserByEmail(ctx, key)
	} else {
		u, err = pl.store.UserByID(ctx, key)
	}
	if errors.Is(err, apogee.ErrNotFound) {
		return nil, apogee.Errorf(apogee.ENOTFOUND, "user %q not found", key)
	}
	if err != nil {
		return nil, fmt.Errorf("platform: look up user: %w", err)
	}
	return u, nil
}

// lookupPlan finds a plan by id or name.
func (pl *Platform) lookupPlan(ctx context.Context, key string) (*apogee.Plan, error) {
	p, err := pl.store.PlanByID(ctx, key)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, apogee.ErrNotFound) {
		return nil, fmt.Errorf("platform: look up plan: %w", err)
	}
	plans, err := pl.store.ListPlans(ctx)
	if err != nil {
		return nil, fmt.Errorf("platform: look up plan: %w", err)
	}
	for _, p := range plans {
		if strings.EqualFold(p.Name, key) {
			return p, nil
		}
	}
	return nil, apogee.Errorf(apogee.ENOTFOUND, "plan %q not found", key)
}

// UpdateUser changes plan, disabled and admin of a user found by id or
// email. Everything is checked before anything changes. An admin cannot
// disable or demote themselves (another admin can), so a server is never
// left without a way in by one mistake.
func (pl admin) UpdateUser(ctx context.Context, user string, req apogee.UpdateUserRequest) (*apogee.UserView, error) {
	me, err := pl.adminActor(ctx)
	if err != nil {
		return nil, err
	}
	if req.Plan == nil && req.Disabled == nil && req.Admin == nil {
		return nil, apogee.Errorf(apogee.EINVALID, "send at least one of \"plan\", \"disabled\", \"admin\"")
	}
	u, err := pl.lookupUser(ctx, user)
	if err != nil {
		return nil, err
	}
	if u.ID == me.ID && req.Disabled != nil && *req.Disabled {
		return nil, apogee.Errorf(apogee.EINVALID, "you cannot disable your own account; ask another admin")
	}
	if u.ID == me.ID && req.Admin != nil && !*req.Admin {
		return nil, apogee.Errorf(apogee.EINVALID, "you cannot remove your own admin rights; ask another admin")
	}
	if req.Admin != nil {
		if _, err := pl.store.TeamByID(ctx, u.ID); err == nil {
			return nil, apogee.Errorf(apogee.EINVALID, "a team is no person: it cannot be an admin; only its plan and disabled state change")
		}
	}
	planID := ""
	if req.Plan != nil && *req.Plan != "" {
		p, err := pl.lookupPlan(ctx, *req.Plan)
		if err != nil {
			return nil, err
		}
		planID = p.ID
	}
	if req.Plan != nil {
		if err := pl.store.SetUserPlan(ctx, u.ID, planID); err != nil {
			return nil, fmt.Errorf("platform: set plan: %w", err)
		}
	}
	if req.Disabled != nil {
		var at *time.Time
		if *req.Disabled {
			now := pl.now().UTC()
			at = &now
		}
		if err := pl.store.SetUserDisabled(ctx, u.ID, at); err != nil {
			return nil, fmt.Errorf("platform: disable user: %w", err)
		}
	}
	if req.Admin != nil {
		if err := pl.store.SetUserAdmin(ctx, u.ID, *req.Admin); err != nil {
			return nil, fmt.Errorf("platform: set admin: %w", err)
		}
	}
	pl.log.Info("admin changed user", "admin", me.ID, "user", u.ID,
		"plan", req.Plan, "disabled", req.Disabled, "is_admin", req.Admin)
	pl.record(ctx, me, "", nil, "admin.user.update", u.Email, "")
	if u, err = pl.store.UserByID(ctx, u.ID); err != nil {
		return nil, fmt.Errorf("platform: read user back: %w", err)
	}
	return pl.userView(ctx, u)
}

func (pl admin) Plans(ctx context.Context) ([]*apogee.Plan, error) {
	if _, err := pl.adminActor(ctx); err != nil {
		return nil, err
	}
	plans, err := pl.store.ListPlans(ctx)
	if err != nil {
		return nil, fmt.Errorf("platform: list plans: %w", err)
	}
	if plans == nil {
		plans = []*apogee.Plan{}
	}
	return plans, nil
}

// CreatePlan makes a plan; limits left out are the default plan's.
func (pl admin) CreatePlan(ctx context.Context, req apogee.PlanRequest) (*apogee.Plan, error) {
	me, err := pl.adminActor(ctx)
	if err != nil {
		return nil, err
	}
	if req.Name == nil {
		return nil, apogee.Errorf(apogee.EINVALID, "a plan needs a name")
	}
	def, err := pl.store.DefaultPlan(ctx)
	if err != nil {
		return nil, fmt.Errorf("platform: default plan: %w", err)
	}
	p := &apogee.Plan{Limits: def.Limits, CreatedAt: pl.now().UTC()}
	req.Apply(p)
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := pl.store.CreatePlan(ctx, p); err != nil {
		return nil, fmt.Errorf("platform: create plan: %w", err)
	}
	pl.log.Info("admin created plan", "admin", me.ID, "plan", p.ID, "name", p.Name)
	pl.record(ctx, me, "", nil, "admin.plan.create", p.Name, "")
	return p, nil
}

func (pl admin) UpdatePlan(ctx context.Context, plan string, req apogee.PlanRequest) (*apogee.Plan, error) {
	me, err := pl.adminActor(ctx)
	if err != nil {
		return nil, err
	}
	p, err := pl.lookupPlan(ctx, plan)
	if err != nil {
		return nil, err
	}
	req.Apply(p)
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := pl.store.UpdatePlan(ctx, p); err != nil {
		return nil, fmt.Errorf("platform: update plan: %w", err)
	}
	pl.log.Info("admin updated plan", "admin", me.ID, "plan", p.ID, "name", p.Name)
	pl.record(ctx, me, "", nil, "admin.plan.update", p.Name, "")
	if p, err = pl.store.PlanByID(ctx, p.ID); err != nil {
		return nil, fmt.Errorf("platform: read plan back: %w", err)
	}
	return p, nil
}

// DeletePlan is refused while users are on the plan or it is the default.
func (pl admin) DeletePlan(ctx context.Context, plan string) error {
	me, err := pl.adminActor(ctx)
	if err != nil {
		return err
	}
	p, err := pl.lookupPlan(ctx, plan)
	if err != nil {
		return err
	}
	if err := pl.store.DeletePlan(ctx, p.ID); err != nil {
		return fmt.Errorf("platform: delete plan: %w", err)
	}
	pl.log.Info("admin deleted plan", "admin", me.ID, "plan", p.ID, "name", p.Name)
	pl.record(ctx, me, "", nil, "admin.plan.delete", p.Name, "")
	return nil
}

// Figures: the platform's counts, deployments per UTC day of the last
// FigureDays days (zero days filled in, oldest first) and, when the
// process has an edge, its traffic.
func (pl admin) Figures(ctx context.Context) (*apogee.AdminFigures, error) {
	if _, err := pl.adminActor(ctx); err != nil {
		return nil, err
	}
	now := pl.now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	since := today.AddDate(0, 0, -(apogee.FigureDays - 1))
	f, err := pl.store.SystemFigures(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("platform: admin figures: %w", err)
	}
	counts := make(map[string]int, len(f.DeploymentsPerDay))
	for _, d := range f.DeploymentsPerDay {
		counts[d.Day] = d.Count
	}
	days := make([]apogee.DayCount, apogee.FigureDays)
	for i := range days {
		day := since.AddDate(0, 0, i).Format(apogee.DayLayout)
		days[i] = apogee.DayCount{Day: day, Count: counts[day]}
	}
	f.DeploymentsPerDay = days
	out := &apogee.AdminFigures{SystemFigures: *f, Days: apogee.FigureDays, At: now}
	if pl.cfg.Edge != nil {
		t, err := pl.cfg.Edge.EdgeTraffic(ctx)
		if err != nil {
			return nil, fmt.Errorf("platform: admin figures: edge traffic: %w", err)
		}
		out.Edge = &t
	}
	if out.Traffic, err = pl.platformTraffic(ctx, now); err != nil {
		return nil, fmt.Errorf("platform: admin figures: %w", err)
	}
	return out, nil
}

// platformTraffic sums every project's traffic over the hours of
// apogee.TrafficFigureWindow up to now (the current hour included), one
// store query per project.
func (pl admin) platformTraffic(ctx context.Context, now time.Time) (*apogee.PlatformTraffic, error) {
	hours := int(apogee.TrafficFigureWindow / time.Hour)
	first := now.Truncate(time.Hour).Add(-time.Duration(hours-1) * time.Hour)
	out := &apogee.PlatformTraffic{Since: first, Until: now, Series: make([]apogee.TrafficPoint, hours), TopProjects: []apogee.Count{}}
	for i := range out.Series {
		out.Series[i].Time = first.Add(time.Duration(i) * time.Hour)
	}
	ps, err := pl.store.ListProjects(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("traffic: %w", err)
	}
	for _, p := range ps {
		t, err := traffic.Sum(ctx, pl.store, p.ID, apogee.TrafficQuery{Since: first, Until: now, Bucket: time.Hour, Top: 1})
		if err != nil {
			return nil, fmt.Errorf("traffic of %s: %w", p.Name, err)
		}
		if t.Requests == 0 {
			continue
		}
		out.Requests += t.Requests
		out.Visitors += t.Visitors
		out.Bytes += t.Bytes
		out.Errors += t.Status["5xx"]
		out.TopProjects = append(out.TopProjects, apogee.Count{Key: p.Name, Count: t.Requests})
		for _, sp := range t.Series {
			i := int(sp.Time.Sub(first) / time.Hour)
			if i < 0 || i >= hours {
				continue
			}
			pt := &out.Series[i]
			pt.Requests += sp.Requests
			pt.Visitors += sp.Visitors
			pt.Bytes += sp.Bytes
			pt.Errors += sp.Errors
		}
	}
	slices.SortFunc(out.TopProjects, func(a, b apogee.Count) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	out.TopProjects = out.TopProjects[:min(len(out.TopProjects), apogee.TopProjects)]
	return out, nil
}

func (pl admin) AllProjects(ctx context.Context) ([]*apogee.AdminProjectView, error) {
	if _, err := pl.adminActor(ctx); err != nil {
		return nil, err
	}
	sums, err := pl.store.ProjectSummaries(ctx)
	if err != nil {
		return nil, fmt.Errorf("platform: admin projects: %w", err)
	}
	views := make([]*apogee.AdminProjectView, len(sums))
	for i, ps := range sums {
		views[i] = &apogee.AdminProjectView{ProjectView: pl.projectView(ps.Project), OwnerEmail: ps.OwnerEmail}
		if ps.Last != nil {
			views[i].LastDeployment = pl.view(ps.Last, ps.Project)
		}
	}
	return views, nil
}

func (pl admin) RecentDeployments(ctx context.Context, limit int) ([]*apogee.DeploymentView, error) {
	if _, err := pl.adminActor(ctx); err != nil {
		return nil, err
	}
	if limit < 1 || limit > 1000 {
		return nil, apogee.Errorf(apogee.EINVALID, "limit %d must be from 1 to 1000", limit)
	}
	ds, err := pl.store.RecentDeployments(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("platform: admin deployments: %w", err)
	}
	ps, err := pl.store.ListProjects(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("platform: admin deployments: %w", err)
	}
	byID := make(map[string]*apogee.Project, len(ps))
	for _, p := range ps {
		byID[p.ID] = p
	}
	views := make([]*apogee.DeploymentView, 0, len(ds))
	for _, d := range ds {
		// A project deleted between the two reads takes its deployments along.
		if p, ok := byID[d.ProjectID]; ok {
			views = append(views, pl.view(d, p))
		}
	}
	return views, nil
}

// Invitations: an admin invites an email; the link, made of a random
// token whose SHA-256 alone is stored, is in the answer only. The
// dashboard's /signup?invite=… redeems it.

// Invite lifetimes: at least a minute, at most 90 days.
const (
	MinInviteTTL = time.Minute
	MaxInviteTTL = 90 * 24 * time.Hour
)

func (pl admin) Invite(ctx context.Context, req apogee.InviteRequest) (*apogee.NewInvite, error) {
	me, err := pl.adminActor(ctx)
	if err != nil {
		return nil, err
	}
	email, err := apogee.CheckEmail(req.Email)
	if err != nil {
		return nil, err
	}
	ttl := apogee.DefaultInviteTTL
	if req.ExpiresIn != 0 {
		ttl = time.Duration(req.ExpiresIn) * time.Second
		if req.ExpiresIn < 0 || ttl < MinInviteTTL || ttl > MaxInviteTTL {
			return nil, apogee.Errorf(apogee.EINVALID, "expires_in must be between %d and %d seconds (1 minute to 90 days)",
				int64(MinInviteTTL/time.Second), int64(MaxInviteTTL/time.Second))
		}
	}
	switch _, err := pl.store.UserByEmail(ctx, email); {
	case err == nil:
		return nil, apogee.Errorf(apogee.ECONFLICT, "%s has an account already; nothing to invite", email)
	case !errors.Is(err, apogee.ErrNotFound):
		return nil, fmt.Errorf("platform: invite: %w", err)
	}
	secret, hash := auth.NewToken()
	now := pl.now().UTC()
	inv := &apogee.Invite{Email: email, Hash: hash, InvitedBy: me.ID, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := pl.store.CreateInvite(ctx, inv); err != nil {
		return nil, fmt.Errorf("platform: invite: %w", err)
	}
	pl.log.Info("invite made", "invite", inv.ID, "by", me.ID, "expires", inv.ExpiresAt)
	pl.record(ctx, me, "", nil, "admin.invite.create", inv.Email, "")
	return &apogee.NewInvite{Invite: inv, URL: pl.cfg.BaseURL() + "/signup?invite=" + url.QueryEscape(secret)}, nil
}

func (pl admin) Invites(ctx context.Context) ([]*apogee.Invite, error) {
	if _, err := pl.adminActor(ctx); err != nil {
		return nil, err
	}
	list, err := pl.store.ListInvites(ctx, pl.now().UTC())
	if err != nil {
		return nil, fmt.Errorf("platform: list invites: %w", err)
	}
	if list == nil {
		list = []*apogee.Invite{}
	}
	return list, nil
}

func (pl admin) RevokeInvite(ctx context.Context, id string) error {
	me, err := pl.adminActor(ctx)
	if err != nil {
		return err
	}
	if err := pl.store.DeleteInvite(ctx, id); err != nil {
		if errors.Is(err, apogee.ErrNotFound) {
			return apogee.Errorf(apogee.ENOTFOUND, "no invite %q", id)
		}
		return fmt.Errorf("platform: revoke invite: %w", err)
	}
	pl.log.Info("invite revoked", "invite", id, "by", me.ID)
	pl.record(ctx, me, "", nil, "admin.invite.revoke", id, "")
	return nil
}
