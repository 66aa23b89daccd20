package platform

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/apogee-dev/apogee"
)

// record appends a change to the audit log of ownerID (the person or team
// that owns what changed; "" for the platform's own): who made it (u, nil
// for the platform itself), from where (the client's address in ctx), the
// action ("deployment.promote") and its target. p, if set, names the
// project. A failure to write is logged, not returned: the change is made
// already, and the audit log must never be the reason a deploy fails.
func (pl *Platform) record(ctx context.Context, u *apogee.User, ownerID string, p *apogee.Project, action, target, detail string) {
	e := &apogee.AuditEntry{At: pl.now().UTC(), OwnerID: ownerID, ClientAddr: clientIP(apogee.ClientFromContext(ctx)),
		Action: action, Target: target, Detail: detail}
	if u != nil {
		e.ActorID, e.Actor = u.ID, u.Email
	}
	if p != nil {
		e.ProjectID, e.Project = p.ID, p.Name
		if e.Target == "" {
			e.Target = p.Name
		}
	}
	if err := pl.store.AddAudit(context.WithoutCancel(ctx), e); err != nil {
		pl.log.Error("audit log: write", "action", action, "err", err)
	}
}

// recordProject records a change of project p in its owner's log.
func (pl *Platform) recordProject(ctx context.Context, u *apogee.User, p *apogee.Project, action, target, detail string) {
	pl.record(ctx, u, p.OwnerID, p, action, target, detail)
}

// clientIP keeps the host of a host:port address.
func clientIP(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// audit implements apogee.AuditService.
type audit struct{ *Platform }

var _ apogee.AuditService = audit{}

// Audit reads a log: the user's own, a team's (its owners), or, for an
// admin asking for All, the platform's whole log.
func (pl audit) Audit(ctx context.Context, req apogee.AuditRequest) ([]*apogee.AuditEntry, error) {
	u, err := pl.actor(ctx)
	if err != nil {
		return nil, err
	}
	q := apogee.AuditQuery{Before: req.Before, Limit: req.Limit}
	if req.Limit < 0 || req.Limit > apogee.MaxAuditPage {
		return nil, apogee.Errorf(apogee.EINVALID, "limit must be between 1 and %d", apogee.MaxAuditPage)
	}
	if req.Since != "" {
		since, err := parseSince(req.Since, pl.now())
		if err != nil {
			return nil, err
		}
		q.Since = since
	}
	switch {
	case req.All:
		if !u.Admin {
			return nil, apogee.Errorf(apogee.EFORBIDDEN, "only an admin of this server may read the whole audit log")
		}
		q.All = true
	case req.Team != "":
		t, _, err := pl.teamAs(ctx, u, req.Team, needOwner)
		if err != nil {
			return nil, err
		}
		q.OwnerID = t.ID
	default:
		if u.Scope != nil && u.Scope.TeamID != "" {
			q.OwnerID = u.Scope.TeamID // a team's token reads the team's log
			if _, _, err := pl.roleOwner(ctx, u, q.OwnerID); err != nil {
				return nil, err
			}
		} else {
			q.OwnerID = u.ID
		}
	}
	if req.Project != "" {
		_, p, err := pl.project(ctx, req.Project, needRead)
		if err != nil {
			return nil, err
		}
		q.ProjectID = p.ID
	}
	es, err := pl.store.AuditLog(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("platform: audit log: %w", err)
	}
	return es, nil
}

// roleOwner checks that u owns the team teamID.
func (pl *Platform) roleOwner(ctx context.Context, u *apogee.User, teamID string) (*apogee.Team, apogee.Role, error) {
	role, t, err := pl.roleOn(ctx, u, teamID)
	if err != nil {
		return nil, "", err
	}
	if role != apogee.RoleOwner {
		return nil, "", forbidden(t, role, needOwner)
	}
	return t, role, nil
}

// parseSince reads "7d", "12h", "30m" (before now) or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	bad := apogee.Errorf(apogee.EINVALID, "since %q is neither a duration such as 7d, 12h or 30m nor a time such as 2026-01-02T15:04:05Z", s)
	if n := len(s); n > 1 && s[n-1] == 'd' {
		var days int
		if _, err := fmt.Sscanf(s[:n-1], "%d", &days); err != nil || days < 0 || fmt.Sprint(days) != s[:n-1] {
			return time.Time{}, bad
		}
		return now.Add(-time.Duration(days) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, bad
	}
	return now.Add(-d), nil
}

// PruneAudit drops, for every owner with entries in the audit log, those
// older than their plan keeps (audit_log_days; an owner that no longer
// exists is held to the default plan). The server calls it periodically.
func (pl *Platform) PruneAudit(ctx context.Context) (int64, error) {
	owners, err := pl.store.AuditOwners(ctx)
	if err != nil {
		return 0, fmt.Errorf("platform: audit owners: %w", err)
	}
	var total int64
	for _, id := range owners {
		plan, err := pl.store.UserPlan(ctx, id)
		if errors.Is(err, apogee.ErrNotFound) || id == "" {
			plan, err = pl.store.DefaultPlan(ctx)
		}
		if err != nil {
			return total, fmt.Errorf("platform: plan of %s: %w", id, err)
		}
		days := plan.Limits.AuditLogDays
		if days == apogee.Unlimited {
			continue
		}
		n, err := pl.store.PruneAudit(ctx, id, pl.now().Add(-time.Duration(days)*24*time.Hour))
		if err != nil {
			return total, fmt.Errorf("platform: prune audit log of %s: %w", id, err)
		}
		total += n
	}
	return total, nil
}

// recordCtx records a change of project p by whoever acts in ctx (nil for
// the platform's own roles: the builder, a signed webhook).
func (pl *Platform) recordCtx(ctx context.Context, p *apogee.Project, action, target, detail string) {
	pl.record(ctx, apogee.UserFromContext(ctx), p.OwnerID, p, action, target, detail)
}

func branchNote(branch string) string {
	if branch == "" {
		return ""
	}
	return " of " + branch
}
