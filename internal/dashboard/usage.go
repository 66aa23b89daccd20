package dashboard

import (
	"net/http"
	"strconv"

	"github.com/apogee-dev/apogee"
)

// planUsage is the Account page's "Plan and usage" card.
type planUsage struct {
	Plan string
	Rows []usageRow
}

// usageRow is one limit: what is used, what the plan allows, and whether
// the limit is reached (shown in colour and words).
type usageRow struct {
	Name, Used, Limit string
	Full              bool
	Detail            string // what the use is made of, if told
}

// planUsageOf reads the signed-in user's plan and usage.
func (d *Dashboard) planUsageOf(r *http.Request) (*planUsage, error) {
	pv, err := d.svc.Accounts.Usage(r.Context())
	if err != nil {
		return nil, err
	}
	return usageCard(pv), nil
}

// usageCard is the "Plan and usage" card of a plan and its use (the
// Account page's, a team page's).
func usageCard(pv *apogee.PlanView) *planUsage {
	if pv == nil || pv.Plan == nil || pv.Usage == nil {
		return nil
	}
	l, u := pv.Plan.Limits, pv.Usage
	row := func(name string, used, limit int64, bytes, full bool) usageRow {
		text := func(n int64) string {
			if bytes {
				return apogee.FormatBytes(n)
			}
			return strconv.FormatInt(n, 10)
		}
		lim := "unlimited"
		if limit != apogee.Unlimited {
			lim = text(limit)
		}
		return usageRow{Name: name, Used: text(used), Limit: lim, Full: full && limit != apogee.Unlimited}
	}
	storage := row("Storage", u.StorageBytes, l.StorageBytes, true, u.StorageBytes >= l.StorageBytes)
	st := u.Storage
	storage.Detail = "files " + apogee.FormatBytes(st.Files) + ", compressed copies " + apogee.FormatBytes(st.Variants) +
		", ZIP uploads " + apogee.FormatBytes(st.Uploads) + ", dependency caches " + apogee.FormatBytes(st.Caches) +
		", build logs " + apogee.FormatBytes(st.Logs)
	return &planUsage{Plan: pv.Plan.Name, Rows: []usageRow{
		row("Projects", u.Projects, l.Projects, false, u.Projects >= l.Projects),
		row("Builds at once", u.BuildsRunning, l.ConcurrentBuilds, false, u.BuildsRunning >= l.ConcurrentBuilds),
		row("Build minutes this month", u.BuildMinutes(), l.BuildMinutes, false, u.BuildMinutes() >= l.BuildMinutes),
		storage,
		row("Custom domains", u.CustomDomains, l.CustomDomains, false, u.CustomDomains >= l.CustomDomains),
	}}
}
