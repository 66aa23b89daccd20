package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/apogee-dev/apogee"
)

// newAdminCmd is `apogee admin`: plans and users through the API, as the
// logged-in admin. The server adds its offline commands (create-user) to
// the same command.
func newAdminCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Administer the server: plans and users (as an admin), accounts in a data folder",
	}
	cmd.AddCommand(newAdminPlansCmd(a), newAdminUsersCmd(a))
	cmd.AddCommand(newAdminInvitesCmd(a)) // invites.go
	return cmd
}

// limitText writes a limit for people: "unlimited", a count or a size.
func limitText(n int64, bytes bool) string {
	switch {
	case n == apogee.Unlimited:
		return "unlimited"
	case bytes:
		return apogee.FormatBytes(n)
	}
	return strconv.FormatInt(n, 10)
}

// usedOf writes "used / limit".
func usedOf(used, limit int64, bytes bool) string {
	u := strconv.FormatInt(used, 10)
	if bytes {
		u = apogee.FormatBytes(used)
	}
	return u + " / " + limitText(limit, bytes)
}

// parseLimit reads a limit flag: "unlimited" or -1, a number, or for
// sizes a number with a unit (500MiB, 1GiB, 1.5G…; 500MB is 500,000,000 bytes).
func parseLimit(flag, s string, size bool) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "unlimited" || t == "-1" {
		return apogee.Unlimited, nil
	}
	mult := int64(1)
	if size {
		for _, u := range []struct {
			suffix string
			n      int64
		}{
			{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
			{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
			{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40}, {"b", 1},
		} {
			if strings.HasSuffix(t, u.suffix) {
				t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.n
				break
			}
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || (!size && f != float64(int64(f))) {
		what := "a whole number"
		if size {
			what = "a size such as 500MiB or 1GiB"
		}
		return 0, &cliError{code: apogee.EINVALID, msg: fmt.Sprintf("--%s %q is not %s or \"unlimited\"", flag, s, what)}
	}
	return int64(f * float64(mult)), nil
}

// planFlags are the limit flags of plans create and update; only those
// given are sent.
type planFlags struct {
	name, projects, builds, minutes, storage, domains string
	appMemory, appCPUs, appPids, appInstances         string
	releases, logSize, logDays                        string
	dnsZones, dnsRecords                              string
	requestDays, requestRows                          string
	auditDays                                         string
	isDefault                                         bool
}

func (f *planFlags) register(cmd *cobra.Command, withName bool) {
	fl := cmd.Flags()
	if withName {
		fl.StringVar(&f.name, "name", "", "rename the plan")
	}
	fl.StringVar(&f.projects, "projects", "", `projects a user may own ("unlimited" or -1 for no limit)`)
	fl.StringVar(&f.builds, "concurrent-builds", "", "builds a user's projects may run at once; more wait queued")
	fl.StringVar(&f.minutes, "build-minutes", "", "build minutes per calendar month (UTC)")
	fl.StringVar(&f.storage, "storage", "", "storage of a user's deployments, e.g. 500MiB, 10GiB")
	fl.StringVar(&f.domains, "custom-domains", "", "custom domains across a user's projects")
	fl.StringVar(&f.appMemory, "app-memory", "", "memory of each app instance, e.g. 512MiB, 2GiB (0: the default, 512 MiB)")
	fl.StringVar(&f.appCPUs, "app-cpus", "", "CPUs of each app instance, e.g. 0.5, 2 (0: the default, 1)")
	fl.StringVar(&f.appPids, "app-pids", "", "processes and threads of each app instance (0: the default, 256)")
	fl.StringVar(&f.appInstances, "app-instances", "", "instances one app may run (0: no apps)")
	fl.StringVar(&f.releases, "releases-kept", "", "newest releases of an app kept for rollback (0: the default, 10)")
	fl.StringVar(&f.logSize, "runtime-log-size", "", "runtime log kept per app, e.g. 100MiB (its oldest lines go first)")
	fl.StringVar(&f.logDays, "runtime-log-days", "", "days of runtime log kept per app")
	fl.StringVar(&f.dnsZones, "dns-zones", "", "DNS zones a user may delegate to the platform")
	fl.StringVar(&f.dnsRecords, "dns-records", "", "records each of a user's DNS zones may hold")
	fl.StringVar(&f.requestDays, "request-log-days", "", "days of each project's request log kept")
	fl.StringVar(&f.requestRows, "request-log-rows", "", "records of each project's request log kept")
	fl.StringVar(&f.auditDays, "audit-log-days", "", "days of an owner's audit log kept")
	fl.BoolVar(&f.isDefault, "default", false, "make it the default plan (users without a plan of their own)")
}

func (f *planFlags) request(cmd *cobra.Command) (apogee.PlanRequest, error) {
	var req apogee.PlanRequest
	fl := cmd.Flags()
	if fl.Changed("name") {
		req.Name = &f.name
	}
	if fl.Changed("default") {
		req.Default = &f.isDefault
	}
	for _, l := range []struct {
		flag, val string
		size      bool
		dst       **int64
	}{
		{"projects", f.projects, false, &req.Projects},
		{"concurrent-builds", f.builds, false, &req.ConcurrentBuilds},
		{"build-minutes", f.minutes, false, &req.BuildMinutes},
		{"storage", f.storage, true, &req.StorageBytes},
		{"custom-domains", f.domains, false, &req.CustomDomains},
		{"app-memory", f.appMemory, true, &req.AppMemoryMB},
		{"app-pids", f.appPids, false, &req.AppPids},
		{"app-instances", f.appInstances, false, &req.AppInstances},
		{"releases-kept", f.releases, false, &req.ReleasesKept},
		{"runtime-log-size", f.logSize, true, &req.RuntimeLogBytes},
		{"runtime-log-days", f.logDays, false, &req.RuntimeLogDays},
		{"dns-zones", f.dnsZones, false, &req.DNSZones},
		{"dns-records", f.dnsRecords, false, &req.DNSRecords},
		{"request-log-days", f.requestDays, false, &req.RequestLogDays},
		{"request-log-rows", f.requestRows, false, &req.RequestLogRows},
		{"audit-log-days", f.auditDays, false, &req.AuditLogDays},
	} {
		if !fl.Changed(l.flag) {
			continue
		}
		n, err := parseLimit(l.flag, l.val, l.size)
		if err != nil {
			return req, err
		}
		if l.flag == "app-memory" && n > 0 {
			n = (n + 1<<20 - 1) >> 20 // the plan counts MiB
		}
		*l.dst = &n
	}
	if fl.Changed("app-cpus") {
		t := strings.ToLower(strings.TrimSpace(f.appCPUs))
		c, err := strconv.ParseFloat(t, 64)
		if t == "unlimited" {
			c, err = float64(apogee.Unlimited), nil
		}
		if err != nil || c < 0 && c != float64(apogee.Unlimited) {
			return req, &cliError{code: apogee.EINVALID, msg: fmt.Sprintf("--app-cpus %q is not a number of CPUs (0.5, 2) or \"unlimited\"", f.appCPUs)}
		}
		req.AppCPUs = &c
	}
	return req, nil
}

func planRow(p apogee.Plan) []string {
	def := ""
	if p.Default {
		def = "default"
	}
	l := p.Limits
	return []string{p.Name, def, limitText(l.Projects, false), limitText(l.ConcurrentBuilds, false),
		limitText(l.BuildMinutes, false), limitText(l.StorageBytes, true), limitText(l.CustomDomains, false),
		strconv.Itoa(p.Users), strconv.Itoa(p.Teams)}
}

var planHeader = []string{"NAME", "DEFAULT", "PROJECTS", "CONCURRENT BUILDS", "BUILD MIN/MONTH", "STORAGE", "DOMAINS", "USERS", "TEAMS"}

// planAppRow is a plan's app limits as `plans list` shows them.
func planAppRow(p apogee.Plan) []string {
	a := p.Apps()
	mem, cpus, pids := "unlimited", "unlimited", "unlimited"
	if a.MemoryBytes > 0 {
		mem = apogee.FormatBytes(a.MemoryBytes)
	}
	if a.CPUs > 0 {
		cpus = strconv.FormatFloat(a.CPUs, 'f', -1, 64)
	}
	if a.Pids > 0 {
		pids = strconv.FormatInt(a.Pids, 10)
	}
	return []string{p.Name, mem, cpus, pids, limitText(a.MaxInstances, false), limitText(a.ReleasesKept, false),
		limitText(p.Limits.RuntimeLogDays, false), limitText(p.Limits.RuntimeLogBytes, true)}
}

var planAppHeader = []string{"NAME", "APP MEMORY", "APP CPUS", "APP PIDS", "INSTANCES", "RELEASES KEPT", "LOG DAYS", "LOG SIZE"}

// adminHint says what to do when the server refuses an admin command.
func adminHint(err error) error {
	return withHint(err, apogee.EFORBIDDEN, "These commands need an admin's token; an admin can run `apogee admin users list` to see who is one.")
}

func newAdminPlansCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "plans", Short: "List, create, change and delete plans (admins only)"}

	list := &cobra.Command{
		Use:   "list",
		Short: "List plans and their limits",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			plans, err := c.AdminPlans(cmd.Context())
			if err != nil {
				return adminHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return jsonList(o, "plans", plans)
			}
			rows := make([][]string, len(plans))
			appRows := make([][]string, len(plans))
			for i, p := range plans {
				rows[i] = planRow(p)
				appRows[i] = planAppRow(p)
			}
			o.Table(planHeader, rows)
			o.Println()
			o.Table(planAppHeader, appRows)
			return nil
		},
	}

	var cf planFlags
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a plan; limits not given are the default plan's",
		Example: "  apogee admin plans create pro --projects 100 --concurrent-builds 4 --build-minutes 6000 --storage 100GiB --custom-domains unlimited\n" +
			"  apogee admin plans create apps --app-memory 2GiB --app-cpus 2 --app-instances 10 --releases-kept 30 --runtime-log-size 1GiB --runtime-log-days 30",
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			req, err := cf.request(cmd)
			if err != nil {
				return err
			}
			req.Name = &argv[0]
			c, _, err := a.client()
			if err != nil {
				return err
			}
			p, err := c.AdminCreatePlan(cmd.Context(), req)
			if err != nil {
				return adminHint(err)
			}
			return a.printPlan(cmd, "Created", p)
		},
	}
	cf.register(create, false)

	var uf planFlags
	update := &cobra.Command{
		Use:     "update PLAN",
		Short:   "Change a plan's name, limits, or make it the default",
		Example: "  apogee admin plans update free --build-minutes 300\n  apogee admin plans update pro --default\n  apogee admin plans update free --app-instances 0   # no apps on the free plan",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			req, err := uf.request(cmd)
			if err != nil {
				return err
			}
			if req == (apogee.PlanRequest{}) {
				return usageError(cmd, fmt.Errorf("nothing to change: give --name, --default or a limit flag"))
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			p, err := c.AdminUpdatePlan(cmd.Context(), argv[0], req)
			if err != nil {
				return adminHint(withHint(err, apogee.ENOTFOUND, "List plans with `apogee admin plans list`."))
			}
			return a.printPlan(cmd, "Updated", p)
		},
	}
	uf.register(update, true)

	del := &cobra.Command{
		Use:   "delete PLAN",
		Short: "Delete a plan no user is on (not the default)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			if err := c.AdminDeletePlan(cmd.Context(), argv[0]); err != nil {
				return adminHint(withHint(err, apogee.ECONFLICT, "Move its users and teams with `apogee admin users set-plan USER PLAN` (a team as team:NAME) first."))
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(map[string]any{"deleted": argv[0]})
			}
			o.Printf("Deleted plan %s\n", argv[0])
			return nil
		},
	}
	cmd.AddCommand(list, create, update, del)
	return cmd
}

func (a *app) printPlan(cmd *cobra.Command, verb string, p *apogee.Plan) error {
	o := a.output(cmd)
	if a.json {
		return o.JSON(p)
	}
	o.Printf("%s plan %s\n", verb, p.Name)
	o.Table(planHeader, [][]string{planRow(*p)})
	o.Println()
	o.Table(planAppHeader, [][]string{planAppRow(*p)})
	return nil
}

func userRow(u apogee.UserView) []string {
	status := "active"
	if u.Disabled {
		status = "disabled"
	}
	role := ""
	if u.Admin {
		role = "admin"
	}
	plan := "-"
	var l apogee.PlanLimits
	if u.Plan != nil {
		plan, l = u.Plan.Name, u.Plan.Limits
	}
	var use apogee.Usage
	if u.Usage != nil {
		use = *u.Usage
	}
	return []string{u.Email, plan, role, status, usedOf(use.Projects, l.Projects, false),
		usedOf(use.BuildMinutes(), l.BuildMinutes, false), usedOf(use.StorageBytes, l.StorageBytes, true)}
}

var userHeader = []string{"EMAIL", "PLAN", "ROLE", "STATUS", "PROJECTS", "BUILD MIN", "STORAGE"}

func newAdminUsersCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "List and invite users, set their plan, disable or enable them (admins only)"}

	update := func(cmd *cobra.Command, user string, req apogee.UpdateUserRequest, verb string) error {
		c, _, err := a.client()
		if err != nil {
			return err
		}
		u, err := c.AdminUpdateUser(cmd.Context(), user, req)
		if err != nil {
			return adminHint(withHint(err, apogee.ENOTFOUND, "List users with `apogee admin users list` and plans with `apogee admin plans list`."))
		}
		o := a.output(cmd)
		if a.json {
			return o.JSON(u)
		}
		o.Printf("%s %s\n", verb, u.Email)
		o.Table(userHeader, [][]string{userRow(*u)})
		return nil
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List every user with plan and usage",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			users, err := c.AdminUsers(cmd.Context())
			if err != nil {
				return adminHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return jsonList(o, "users", users)
			}
			rows := make([][]string, len(users))
			for i, u := range users {
				rows[i] = userRow(u)
			}
			o.Table(userHeader, rows)
			return nil
		},
	}

	var toDefault bool
	setPlan := &cobra.Command{
		Use:     "set-plan USER [PLAN]",
		Short:   "Put a user (email or id) on a plan (name or id), or back on the default with --default",
		Example: "  apogee admin users set-plan ada@example.com pro\n  apogee admin users set-plan ada@example.com --default",
		Args:    args(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			plan := ""
			switch {
			case len(argv) == 2 && toDefault:
				return usageError(cmd, fmt.Errorf("give a PLAN or --default, not both"))
			case len(argv) == 2:
				plan = argv[1]
			case !toDefault:
				return usageError(cmd, fmt.Errorf("give a PLAN, or --default for the default plan"))
			}
			return update(cmd, argv[0], apogee.UpdateUserRequest{Plan: &plan}, "Changed the plan of")
		},
	}
	setPlan.Flags().BoolVar(&toDefault, "default", false, "put the user back on the default plan")

	yes, no := true, false
	disable := &cobra.Command{
		Use:   "disable USER",
		Short: "Disable a user: no sign-in, tokens and sessions stop at once, nothing of theirs builds (sites keep serving)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return update(cmd, argv[0], apogee.UpdateUserRequest{Disabled: &yes}, "Disabled")
		},
	}
	enable := &cobra.Command{
		Use:   "enable USER",
		Short: "Enable a disabled user again",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return update(cmd, argv[0], apogee.UpdateUserRequest{Disabled: &no}, "Enabled")
		},
	}
	cmd.AddCommand(list, setPlan, disable, enable)
	cmd.AddCommand(newAdminUsersInviteCmd(a)) // invites.go
	return cmd
}

// newUsageCmd is `apogee usage`: the caller's plan, limits and usage.
func newUsageCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "usage",
		Short: "Show your plan, its limits and what you use of them this month",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			pv, err := c.Usage(cmd.Context())
			if err != nil {
				return err
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(pv)
			}
			printUsage(o, pv.Plan, pv.Usage)
			return nil
		},
	}
}

// printUsage prints a plan's limits beside what is used.
func printUsage(o *output, p *apogee.Plan, u *apogee.Usage) {
	if p == nil || u == nil {
		return
	}
	l := p.Limits
	o.Fields(
		"Plan", p.Name,
		"Projects", usedOf(u.Projects, l.Projects, false),
		"Builds running", usedOf(u.BuildsRunning, l.ConcurrentBuilds, false)+fmt.Sprintf(" (%d queued)", u.BuildsQueued),
		"Build minutes", usedOf(u.BuildMinutes(), l.BuildMinutes, false)+" this month (UTC)",
		"Storage", usedOf(u.StorageBytes, l.StorageBytes, true),
		"Storage made of", storageParts(u.Storage),
		"Custom domains", usedOf(u.CustomDomains, l.CustomDomains, false),
	)
	r := planAppRow(*p)
	o.Fields(
		"App instance", r[1]+" memory, "+r[2]+" CPUs, "+r[3]+" processes",
		"Instances per app", r[4],
		"Releases kept", r[5],
		"Runtime log kept", retentionText(p.Limits),
		"DNS zones", limitText(p.Limits.DNSZones, false)+" of "+limitText(p.Limits.DNSRecords, false)+" records each",
		"Request log kept", limitText(p.Limits.RequestLogDays, false)+" days, "+limitText(p.Limits.RequestLogRows, false)+" records a project",
		"Audit log kept", limitText(p.Limits.AuditLogDays, false)+" days",
	)
}

// retentionText says how much runtime log a plan keeps: "7 days or
// 100 MiB", "30 days", "unlimited".
func retentionText(l apogee.PlanLimits) string {
	var parts []string
	if l.RuntimeLogDays != apogee.Unlimited {
		parts = append(parts, fmt.Sprintf("%d days", l.RuntimeLogDays))
	}
	if l.RuntimeLogBytes != apogee.Unlimited {
		parts = append(parts, apogee.FormatBytes(l.RuntimeLogBytes))
	}
	if len(parts) == 0 {
		return "unlimited"
	}
	return strings.Join(parts, " or ")
}

// storageParts says what a user's storage is made of.
func storageParts(s apogee.StorageUse) string {
	return fmt.Sprintf("files %s, compressed copies %s, ZIP uploads %s, dependency caches %s, build logs %s",
		apogee.FormatBytes(s.Files), apogee.FormatBytes(s.Variants), apogee.FormatBytes(s.Uploads),
		apogee.FormatBytes(s.Caches), apogee.FormatBytes(s.Logs))
}
