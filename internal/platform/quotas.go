package platform

import (
	"context"
	"fmt"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
)

// Quotas: every way that makes a project, a domain, a deployment or a
// build passes through one of the checks below, on the plan of the
// project's owner (an admin acting on someone's project spends the
// owner's quota). A refusal is an EQUOTA error that names the limit, what
// the plan allows and what to do; it is returned before anything is
// written. Two requests racing for the last unit may both pass: the
// checks read usage, then the caller writes, without a lock between.

const askAdmin = "or ask an admin for a larger plan"

// planUsage returns the plan and usage of a user (the owner of projects).
func (pl *Platform) planUsage(ctx context.Context, userID string) (*apogee.Plan, *apogee.Usage, error) {
	p, err := pl.store.UserPlan(ctx, userID)
	if err != nil {
		return nil, nil, fmt.Errorf("platform: plan of user %s: %w", userID, err)
	}
	now := pl.now().UTC()
	use, err := pl.store.Usage(ctx, userID, apogee.MonthStart(now), now)
	if err != nil {
		return nil, nil, fmt.Errorf("platform: usage of user %s: %w", userID, err)
	}
	return p, use, nil
}

// checkProjects refuses a new project for ownerID beyond the plan.
func (pl *Platform) checkProjects(ctx context.Context, ownerID string) error {
	p, use, err := pl.planUsage(ctx, ownerID)
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
func (pl *Platform) checkDomains(ctx context.Context, ownerID string) error {
	p, use, err := pl.planUsage(ctx, ownerID)
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

// checkDomainsN refuses n more custom domains for ownerID beyond the
// plan (a project with its domains moving in).
func (pl *Platform) checkDomainsN(ctx context.Context, ownerID string, n int64) error {
	if n == 0 {
		return nil
	}
	p, use, err := pl.planUsage(ctx, ownerID)
	if err != nil {
		return err
	}
	if l := p.Limits.CustomDomains; !apogee.Allows(l, use.CustomDomains, n) {
		return apogee.QuotaError(p, apogee.LimitCustomDomains, l, use.CustomDomains,
			plural(l, "custom domain", "custom domains"), fmt.Sprintf("there are %d and the project brings %d", use.CustomDomains, n),
			"remove some "+askAdmin)
	}
	return nil
}

// checkMovedStorage refuses moving project p to ownerID when the files of
// its deployments that ownerID does not store yet would take ownerID over
// the plan's storage.
func (pl *Platform) checkMovedStorage(ctx context.Context, ownerID string, p *apogee.Project) error {
	plan, use, err := pl.planUsage(ctx, ownerID)
	if err != nil {
		return err
	}
	l := plan.Limits.StorageBytes
	if l == apogee.Unlimited {
		return nil
	}
	ds, err := pl.store.ListDeployments(ctx, p.ID, 0)
	if err != nil {
		return fmt.Errorf("platform: deployments of %q: %w", p.Name, err)
	}
	var files []apogee.File
	for _, d := range ds {
		fs, err := pl.store.DeploymentFiles(ctx, d.ID)
		if err != nil {
			return fmt.Errorf("platform: files of %s: %w", d.ID, err)
		}
		files = append(files, fs...)
	}
	adds, err := pl.store.NewBytes(ctx, ownerID, files)
	if err != nil {
		return fmt.Errorf("platform: storage quota: %w", err)
	}
	if !apogee.Allows(l, use.StorageBytes, adds) {
		return apogee.QuotaError(plan, apogee.LimitStorageBytes, l, use.StorageBytes,
			apogee.FormatBytes(l)+" of storage",
			fmt.Sprintf("%s are used and project %s brings %s", apogee.FormatBytes(use.StorageBytes), p.Name, apogee.FormatBytes(adds)),
			"delete projects you no longer need "+askAdmin)
	}
	return nil
}

// checkZones refuses a new DNS zone for ownerID beyond the plan.
func (pl *Platform) checkZones(ctx context.Context, ownerID string) error {
	p, err := pl.store.UserPlan(ctx, ownerID)
	if err != nil {
		return fmt.Errorf("platform: plan of user %s: %w", ownerID, err)
	}
	l := p.Limits.DNSZones
	if l == apogee.Unlimited {
		return nil
	}
	zs, err := pl.store.ListZones(ctx, ownerID)
	if err != nil {
		return fmt.Errorf("platform: zones of user %s: %w", ownerID, err)
	}
	if n := int64(len(zs)); !apogee.Allows(l, n, 1) {
		return apogee.QuotaError(p, apogee.LimitDNSZones, l, n,
			plural(l, "DNS zone", "DNS zones"), fmt.Sprintf("you have %d", n), "remove one "+askAdmin)
	}
	return nil
}

// checkRecords refuses a new record in zone z, which has n, beyond the
// plan of the zone's owner.
func (pl *Platform) checkRecords(ctx context.Context, z *apogee.Zone, n int) error {
	p, err := pl.store.UserPlan(ctx, z.OwnerID)
	if err != nil {
		return fmt.Errorf("platform: plan of user %s: %w", z.OwnerID, err)
	}
	if l := p.Limits.DNSRecords; !apogee.Allows(l, int64(n), 1) {
		return apogee.QuotaError(p, apogee.LimitDNSRecords, l, int64(n),
			plural(l, "record", "records")+" per DNS zone", fmt.Sprintf("%s has %d", z.Name, n), "remove one "+askAdmin)
	}
	return nil
}

// checkStorage refuses a deployment of files whose content the owner
// does not store yet when it would take them over the plan's storage.
func (pl *Platform) checkStorage(ctx context.Context, ownerID string, files []apogee.File) error {
	p, use, err := pl.planUsage(ctx, ownerID)
	if err != nil {
		return err
	}
	l := p.Limits.StorageBytes
	if l == apogee.Unlimited {
		return nil
	}
	adds, err := pl.store.NewBytes(ctx, ownerID, files)
	if err != nil {
		return fmt.Errorf("platform: storage quota: %w", err)
	}
	if !apogee.Allows(l, use.StorageBytes, adds) {
		return apogee.QuotaError(p, apogee.LimitStorageBytes, l, use.StorageBytes,
			apogee.FormatBytes(l)+" of storage",
			fmt.Sprintf("you use %s; this deployment adds %s", apogee.FormatBytes(use.StorageBytes), apogee.FormatBytes(adds)),
			"delete projects you no longer need "+askAdmin)
	}
	return nil
}

// checkStorageBytes refuses adding adds bytes of what (a ZIP, a build's
// output) to ownerID's storage beyond the plan.
func (pl *Platform) checkStorageBytes(ctx context.Context, ownerID string, adds int64, what string) error {
	p, use, err := pl.planUsage(ctx, ownerID)
	if err != nil {
		return err
	}
	if l := p.Limits.StorageBytes; !apogee.Allows(l, use.StorageBytes, adds) {
		return apogee.QuotaError(p, apogee.LimitStorageBytes, l, use.StorageBytes,
			apogee.FormatBytes(l)+" of storage",
			fmt.Sprintf("you use %s; %s adds %s", apogee.FormatBytes(use.StorageBytes), what, apogee.FormatBytes(adds)),
			"delete projects or deployments you no longer need "+askAdmin)
	}
	return nil
}

// checkOutput refuses a build's output files when they would take the
// owner over the plan's storage.
func (pl *Platform) checkOutput(ctx context.Context, ownerID string, files []apogee.File) error {
	adds, err := pl.store.NewBytes(ctx, ownerID, files)
	if err != nil {
		return fmt.Errorf("platform: storage quota: %w", err)
	}
	return pl.checkStorageBytes(ctx, ownerID, adds, "the build's output")
}

// checkBuild refuses a build of p when its owner is disabled, has used
// the month's build minutes, or has no storage left for the output. It
// returns the owner's plan and usage for the concurrency note.
func (pl *Platform) checkBuild(ctx context.Context, p *apogee.Project) (*apogee.Plan, *apogee.Usage, error) {
	owner, err := pl.store.UserByID(ctx, p.OwnerID)
	if err != nil {
		return nil, nil, fmt.Errorf("platform: owner of project %s: %w", p.Name, err)
	}
	if owner.Disabled() {
		return nil, nil, apogee.Errorf(apogee.EFORBIDDEN, "the account that owns project %q is disabled, so it builds nothing; an admin can enable it", p.Name)
	}
	plan, use, err := pl.planUsage(ctx, p.OwnerID)
	if err != nil {
		return nil, nil, err
	}
	if l := plan.Limits.BuildMinutes; l != apogee.Unlimited && use.BuildMinutes() >= l {
		next := apogee.MonthStart(pl.now()).AddDate(0, 1, 0)
		return nil, nil, apogee.QuotaError(plan, apogee.LimitBuildMinutes, l, use.BuildMinutes(),
			plural(l, "build minute", "build minutes")+" a month", fmt.Sprintf("%d were used this month", use.BuildMinutes()),
			"builds start again on "+next.Format("January 2")+" (UTC) "+askAdmin+"; uploaded folders need no build")
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
func (pl *Platform) noteWaiting(ctx context.Context, d *apogee.Deployment, plan *apogee.Plan, use *apogee.Usage) {
	l := plan.Limits.ConcurrentBuilds
	if l == apogee.Unlimited || use.BuildsRunning < l {
		return
	}
	w := logs.NewWriter(d.ID, pl.store, pl.hub, logs.Options{Log: pl.log, Now: pl.now})
	w.Systemf("Queued: your plan %q allows %s at a time and %d %s running; this build starts when one ends (or ask an admin for a larger plan)",
		plan.Name, plural(l, "build", "builds"), use.BuildsRunning, map[bool]string{true: "is", false: "are"}[use.BuildsRunning == 1])
	if err := w.Close(ctx); err != nil {
		pl.log.Warn("write queued note", "deployment", d.ID, "err", err)
	}
}

// AppLimits returns what the plan of the owner of the project named
// project allows its app: memory, CPUs and processes per instance, how
// many instances, how many releases are kept, and its runtime log's
// retention (apogee.Plan.Apps). It is for the platform's own roles (the
// apps Manager and runtime, which start instances in these limits, and
// scale, which refuses more instances with AppLimits.CheckInstances): it
// needs no user. ENOTFOUND when there is no such project.
func (pl *Platform) AppLimits(ctx context.Context, project string) (apogee.AppLimits, error) {
	p, err := pl.store.ProjectByName(ctx, project)
	if err != nil {
		return apogee.AppLimits{}, fmt.Errorf("platform: app limits of %q: %w", project, err)
	}
	plan, err := pl.store.UserPlan(ctx, p.OwnerID)
	if err != nil {
		return apogee.AppLimits{}, fmt.Errorf("platform: plan of the owner of %q: %w", project, err)
	}
	return plan.Apps(), nil
}
