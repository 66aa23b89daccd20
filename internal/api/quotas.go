package api

import (
	"context"
	"fmt"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
)

// Quotas: every way that makes a project, a domain, a deployment or a
// build passes through one of the checks below, on the plan of the
// project's owner (an admin acting on someone's project spends the
// owner's quota). A refusal is an EQUOTA error (402) that names the limit,
// what the plan allows and what to do; it is returned before anything is
// written. Two requests racing for the last unit may both pass: the
// checks read usage, then the handler writes, without a lock between.

const askAdmin = "or ask an admin for a larger plan"

func plural(n int64, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// checkProjects refuses a new project for ownerID beyond the plan.
func (a *API) checkProjects(ctx context.Context, ownerID string) error {
	p, use, err := a.planUsage(ctx, ownerID)
	if err != nil {
		return err
	}
	if l := p.Limits.Projects; !apogee.Allows(l, use.Projects, 1) {
		return apogee.QuotaError(p, apogee.LimitProjects, l, use.Projects,
			plural(l, "project", "projects"), fmt.Sprintf("you have %d", use.Projects),
			"delete one "+askAdmin)
	}
	return nil
}

// checkDomains refuses a new custom domain for ownerID beyond the plan.
func (a *API) checkDomains(ctx context.Context, ownerID string) error {
	p, use, err := a.planUsage(ctx, ownerID)
	if err != nil {
		return err
	}
	if l := p.Limits.CustomDomains; !apogee.Allows(l, use.CustomDomains, 1) {
		return apogee.QuotaError(p, apogee.LimitCustomDomains, l, use.CustomDomains,
			plural(l, "custom domain", "custom domains"), fmt.Sprintf("your projects have %d", use.CustomDomains),
			"remove one "+askAdmin)
	}
	return nil
}

// checkStorage refuses a deployment of files whose content the owner
// does not store yet when it would take them over the plan's storage.
func (a *API) checkStorage(ctx context.Context, ownerID string, files []apogee.File) error {
	p, use, err := a.planUsage(ctx, ownerID)
	if err != nil {
		return err
	}
	l := p.Limits.StorageBytes
	if l == apogee.Unlimited {
		return nil
	}
	adds, err := a.store.NewBytes(ctx, ownerID, files)
	if err != nil {
		return fmt.Errorf("api: storage quota: %w", err)
	}
	if !apogee.Allows(l, use.StorageBytes, adds) {
		return apogee.QuotaError(p, apogee.LimitStorageBytes, l, use.StorageBytes,
			apogee.FormatBytes(l)+" of storage",
			fmt.Sprintf("you use %s; this deployment adds %s", apogee.FormatBytes(use.StorageBytes), apogee.FormatBytes(adds)),
			"delete projects you no longer need "+askAdmin)
	}
	return nil
}

// checkBuild refuses a build of p when its owner is disabled, has used
// the month's build minutes, or has no storage left for the output. It
// returns the owner's plan and usage for the concurrency note.
func (a *API) checkBuild(ctx context.Context, p *apogee.Project) (*apogee.Plan, *apogee.Usage, error) {
	owner, err := a.store.UserByID(ctx, p.OwnerID)
	if err != nil {
		return nil, nil, fmt.Errorf("api: owner of project %s: %w", p.Name, err)
	}
	if owner.Disabled() {
		return nil, nil, apogee.Errorf(apogee.EFORBIDDEN, "the account that owns project %q is disabled, so it builds nothing; an admin can enable it", p.Name)
	}
	plan, use, err := a.planUsage(ctx, p.OwnerID)
	if err != nil {
		return nil, nil, err
	}
	if l := plan.Limits.BuildMinutes; l != apogee.Unlimited && use.BuildMinutes() >= l {
		next := apogee.MonthStart(a.now()).AddDate(0, 1, 0)
		return nil, nil, apogee.QuotaError(plan, apogee.LimitBuildMinutes, l, use.BuildMinutes(),
			plural(l, "build minute", "build minutes")+" a month", fmt.Sprintf("%d were used this month", use.BuildMinutes()),
			"builds start again on "+next.Format("January 2")+" (UTC) "+askAdmin+"; uploads with `apogee deploy` need no build")
	}
	if l := plan.Limits.StorageBytes; l != apogee.Unlimited && use.StorageBytes >= l {
		return nil, nil, apogee.QuotaError(plan, apogee.LimitStorageBytes, l, use.StorageBytes,
			apogee.FormatBytes(l)+" of storage", "you use "+apogee.FormatBytes(use.StorageBytes)+", leaving nothing for a build's output",
			"delete old projects "+askAdmin)
	}
	return plan, use, nil
}

// noteWaiting writes the first line of a queued build's log when its
// owner already has as many builds running as the plan allows: the
// build waits, and the log says why.
func (a *API) noteWaiting(ctx context.Context, d *apogee.Deployment, plan *apogee.Plan, use *apogee.Usage) {
	l := plan.Limits.ConcurrentBuilds
	if l == apogee.Unlimited || use.BuildsRunning < l {
		return
	}
	w := logs.NewWriter(d.ID, a.store, a.hub, logs.Options{Log: a.log, Now: a.now})
	w.Systemf("Queued: your plan %q allows %s at a time and %d %s running; this build starts when one ends (or ask an admin for a larger plan)",
		plan.Name, plural(l, "build", "builds"), use.BuildsRunning, map[bool]string{true: "is", false: "are"}[use.BuildsRunning == 1])
	if err := w.Close(ctx); err != nil {
		a.log.Warn("write queued note", "deployment", d.ID, "err", err)
	}
}

// CheckBuild returns the error a build of p would be refused with now,
// or nil. git push asks before it receives anything.
func (a *API) CheckBuild(ctx context.Context, p *apogee.Project) error {
	_, _, err := a.checkBuild(ctx, p)
	return err
}
