package cli

import (
	"cmp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/apogee-dev/apogee"
)

// scope is the team a command acts in: its --team flag, else the scope
// chosen with `apogee switch` (cfg.Team), else "" (personal). A flag
// given as "" is personal whatever the scope.
func scope(cmd *cobra.Command, flag string, cfg *Config) string {
	if cmd.Flags().Changed("team") {
		return flag
	}
	if cfg != nil {
		return cfg.Team
	}
	return ""
}

func newTeamsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "teams",
		Aliases: []string{"team"},
		Short:   "Create teams, invite people, list members and change their roles",
		Long: `A team owns projects as a person does, with a plan of its own. Its
members have roles: owner (members, the plan, deleting the team and any
project), member (create and deploy projects, variables, domains, promote
and roll back) and viewer (see projects, deployments and logs; no secret
values, no changes). Apogee sends no mail: an invitation is a link the
owner passes on; whoever opens it joins with its role, signing in to
their account or, new to the server, making one on the link's page
(whatever the server's --signup mode).`,
		Args: args(cobra.NoArgs),
	}
	cmd.AddCommand(newTeamsCreateCmd(a), newTeamsListCmd(a), newTeamsShowCmd(a), newTeamsInviteCmd(a), newTeamsJoinCmd(a),
		newTeamsMembersCmd(a), newTeamsRoleCmd(a), newTeamsRemoveCmd(a), newTeamsRenameCmd(a), newTeamsDeleteCmd(a))
	return cmd
}

func newTeamsCreateCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "create NAME",
		Short:   "Create a team; you are its owner",
		Example: "  apogee teams create acme",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			t, err := c.CreateTeam(cmd.Context(), argv[0])
			if err != nil {
				return withHint(err, apogee.ECONFLICT, "Pick another name; see your teams with `apogee teams list`.")
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(t)
			}
			o.Printf("Created team %s.\n", t.Name)
			o.Notef("Invite people with `apogee teams invite %s EMAIL --role member`; make it your scope with `apogee switch %s`.\n", t.Name, t.Name)
			return nil
		},
	}
}

func newTeamsListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List your teams and your role in each",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, cfg, err := a.client()
			if err != nil {
				return err
			}
			ts, err := c.Teams(cmd.Context())
			if err != nil {
				return err
			}
			o := a.output(cmd)
			if a.json {
				return jsonList(o, "teams", ts)
			}
			if len(ts) == 0 {
				o.Println("No teams yet.")
				o.Notef("Create one with `apogee teams create NAME`.\n")
				return nil
			}
			rows := make([][]string, 0, len(ts))
			for _, t := range ts {
				cur := ""
				if t.Name == cfg.Team {
					cur = "*"
				}
				rows = append(rows, []string{cur, t.Name, string(t.Role), ago(t.CreatedAt)})
			}
			o.Table([]string{"", "NAME", "ROLE", "CREATED"}, rows)
			return nil
		},
	}
}

func newTeamsShowCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "show TEAM",
		Short: "Show a team: members, pending invitations, plan and usage",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			t, err := c.Team(cmd.Context(), argv[0])
			if err != nil {
				return withHint(err, apogee.ENOTFOUND, "See your teams with `apogee teams list`.")
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(t)
			}
			plan := "-"
			if t.Plan != nil && t.Plan.Plan != nil {
				plan = t.Plan.Plan.Name
			}
			o.Fields("Name", t.Name, "Your role", string(t.Role), "Plan", plan, "Members", plural(len(t.Members), "member", "members"))
			printMembers(o, t.Members)
			if len(t.Invites) > 0 {
				o.Println()
				printInvites(o, t.Invites)
			}
			if t.Plan != nil && t.Plan.Plan != nil && t.Plan.Usage != nil {
				o.Println()
				printUsage(o, t.Plan.Plan, t.Plan.Usage)
			}
			return nil
		},
	}
}

func printMembers(o *output, ms []*apogee.Member) {
	rows := make([][]string, 0, len(ms))
	for _, m := range ms {
		rows = append(rows, []string{m.Email, string(m.Role), ago(m.CreatedAt)})
	}
	o.Table([]string{"EMAIL", "ROLE", "JOINED"}, rows)
}

func printInvites(o *output, is []*apogee.TeamInvite) {
	rows := make([][]string, 0, len(is))
	for _, i := range is {
		rows = append(rows, []string{i.ID, orDash(i.Email), string(i.Role), i.ExpiresAt.Local().Format(time.DateTime)})
	}
	o.Table([]string{"INVITATION", "FOR", "ROLE", "EXPIRES"}, rows)
}

func newTeamsInviteCmd(a *app) *cobra.Command {
	var role string
	var expires time.Duration
	cmd := &cobra.Command{
		Use:   "invite TEAM [EMAIL] [--role owner|member|viewer] [--expires 168h]",
		Short: "Make an invitation link for a team (owners); Apogee sends no mail: pass the link on",
		Example: `  apogee teams invite acme dev@example.com --role member
  apogee teams invite acme --role viewer --expires 24h`,
		Args: args(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			req := apogee.TeamInviteRequest{Role: role, ExpiresIn: int64(expires / time.Second)}
			if len(argv) == 2 {
				req.Email = argv[1]
			}
			if _, err := apogee.CheckRole(role); err != nil {
				return usageError(cmd, err)
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			inv, err := c.InviteToTeam(cmd.Context(), argv[0], req)
			if err != nil {
				return err
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(inv)
			}
			who := "whoever opens it"
			if inv.Email != "" {
				who = inv.Email + " (only that account may accept it)"
			}
			o.Notef("Invitation to %s as %s for %s, until %s. Send this link; it is not shown again:\n", argv[0], inv.Role, who,
				inv.ExpiresAt.Local().Format(time.DateTime))
			o.Println(inv.URL)
			o.Notef("They open it signed in to the dashboard, or run `apogee teams join LINK`.\n")
			return nil
		},
	}
	cmd.Flags().StringVar(&role, "role", "member", "owner, member or viewer")
	cmd.Flags().DurationVar(&expires, "expires", 0, "how long the link is good for (default 168h, at most 720h)")
	return cmd
}

func newTeamsJoinCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "join LINK",
		Short: "Join a team by an invitation link (or its token)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			m, err := c.JoinTeam(cmd.Context(), argv[0])
			if err != nil {
				return err
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(m)
			}
			o.Printf("Joined team %s as %s.\n", m.Name, m.Role)
			o.Notef("Make it your scope with `apogee switch %s`.\n", m.Name)
			return nil
		},
	}
}

func newTeamsMembersCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "members TEAM",
		Short: "List a team's members and their roles",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			ms, err := c.Members(cmd.Context(), argv[0])
			if err != nil {
				return withHint(err, apogee.ENOTFOUND, "See your teams with `apogee teams list`.")
			}
			o := a.output(cmd)
			if a.json {
				return jsonList(o, "members", ms)
			}
			pm := make([]*apogee.Member, len(ms))
			for i := range ms {
				pm[i] = &ms[i]
			}
			printMembers(o, pm)
			return nil
		},
	}
}

func newTeamsRoleCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "role TEAM EMAIL owner|member|viewer",
		Short:   "Change a member's role (owners)",
		Example: "  apogee teams role acme dev@example.com viewer",
		Args:    args(cobra.ExactArgs(3)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if _, err := apogee.CheckRole(argv[2]); err != nil {
				return usageError(cmd, err)
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			m, err := c.SetRole(cmd.Context(), argv[0], argv[1], argv[2])
			if err != nil {
				return err
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(m)
			}
			o.Printf("%s is now %s of %s.\n", m.Email, articled(string(m.Role)), argv[0])
			return nil
		},
	}
}

func articled(role string) string {
	if role == "owner" {
		return "an owner"
	}
	return "a " + role
}

func newTeamsRemoveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "remove TEAM EMAIL",
		Short: "Remove a member (owners; your own email leaves the team): their access ends at once",
		Args:  args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			if err := c.RemoveMember(cmd.Context(), argv[0], argv[1]); err != nil {
				return err
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(map[string]any{"removed": argv[1], "team": argv[0]})
			}
			o.Printf("Removed %s from %s; their tokens for the team are revoked.\n", argv[1], argv[0])
			return nil
		},
	}
}

func newTeamsRenameCmd(a *app) *cobra.Command {
	var display string
	cmd := &cobra.Command{
		Use:   "rename TEAM [NEW-NAME] [--display-name TEXT]",
		Short: "Rename a team (owners): its name, the handle in URLs and --team, and/or its display name",
		Long: `Rename changes a team's name (a DNS label, the handle the CLI, the API and the
dashboard's URLs use) and/or its display name (free text its pages show).
The old name stops working at once; your CLI scope follows the rename.
Projects, members, tokens and the plan stay as they are.`,
		Example: `  apogee teams rename acme acme-inc
  apogee teams rename acme --display-name "Acme, Inc."`,
		Args: args(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			var req apogee.RenameTeamRequest
			if len(argv) == 2 {
				req.Name = &argv[1]
			}
			if cmd.Flags().Changed("display-name") {
				req.DisplayName = &display
			}
			if req.Name == nil && req.DisplayName == nil {
				return usageError(cmd, &cliError{code: "invalid", msg: "give a new name, --display-name or both"})
			}
			c, cfg, err := a.client()
			if err != nil {
				return err
			}
			t, err := c.RenameTeam(cmd.Context(), argv[0], req)
			if err != nil {
				return withHint(err, apogee.ECONFLICT, "Pick another name; see your teams with `apogee teams list`.")
			}
			if cfg.Team == argv[0] && t.Name != argv[0] {
				if err := saveScope(t.Name); err != nil {
					return err
				}
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(t)
			}
			o.Printf("Team %s is now %s", argv[0], t.Name)
			if t.DisplayName != "" {
				o.Printf(" (%s)", t.DisplayName)
			}
			o.Println(".")
			return nil
		},
	}
	cmd.Flags().StringVar(&display, "display-name", "", `the name the team's pages show ("" clears it)`)
	return cmd
}

func newTeamsDeleteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "delete TEAM",
		Short: "Delete a team that owns no projects (owners)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, cfg, err := a.client()
			if err != nil {
				return err
			}
			if err := c.DeleteTeam(cmd.Context(), argv[0]); err != nil {
				return withHint(err, apogee.ECONFLICT, "Move its projects out with `apogee projects move NAME --personal`, or delete them.")
			}
			if cfg.Team == argv[0] {
				if err := saveScope(""); err != nil {
					return err
				}
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(map[string]any{"deleted": argv[0]})
			}
			o.Printf("Deleted team %s.\n", argv[0])
			return nil
		},
	}
}

// saveScope writes the CLI's current team to the config file.
func saveScope(team string) error {
	c, err := LoadConfig()
	if err != nil {
		return err
	}
	c.Team = team
	return SaveConfig(c)
}

func newSwitchCmd(a *app) *cobra.Command {
	var personal bool
	cmd := &cobra.Command{
		Use:   "switch [TEAM | --personal]",
		Short: "Choose the scope of later commands: a team of yours, or your own account",
		Long: `Switch sets the CLI's current scope, as vercel switch does: new projects,
the project list and the audit log are the team's from then on. With no
argument it shows the scope; --personal goes back to your own account.`,
		Example: `  apogee switch acme
  apogee switch --personal`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, cfg, err := a.client()
			if err != nil {
				return err
			}
			o := a.output(cmd)
			team := cfg.Team
			switch {
			case personal && len(argv) == 1:
				return usageError(cmd, &cliError{code: "invalid", msg: "give a team or --personal, not both"})
			case personal:
				team = ""
			case len(argv) == 1:
				t, err := c.Team(cmd.Context(), strings.ToLower(argv[0]))
				if err != nil {
					return withHint(err, apogee.ENOTFOUND, "See your teams with `apogee teams list`.")
				}
				team = t.Name
			default:
				if a.json {
					return o.JSON(map[string]any{"team": team})
				}
				if team == "" {
					o.Println("Scope: your own account.")
				} else {
					o.Printf("Scope: team %s.\n", team)
				}
				return nil
			}
			if err := saveScope(team); err != nil {
				return err
			}
			if a.json {
				return o.JSON(map[string]any{"team": team})
			}
			if team == "" {
				o.Println("Switched to your own account.")
			} else {
				o.Printf("Switched to team %s.\n", team)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&personal, "personal", false, "switch to your own account")
	return cmd
}

func newProjectsMoveCmd(a *app) *cobra.Command {
	var team string
	var personal bool
	cmd := &cobra.Command{
		Use:   "move NAME (--team TEAM | --personal)",
		Short: "Move a project to a team or to your own account (owners of both sides)",
		Long: `Move gives a project to a team, or back to you. Only an owner of both sides
may, and the receiving side's plan must have room for the project and its
custom domains and storage. Its URLs stay.`,
		Example: `  apogee projects move web --team acme
  apogee projects move web --personal`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if (team == "") == !personal {
				return usageError(cmd, &cliError{code: "invalid", msg: "give --team TEAM or --personal"})
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			p, err := c.MoveProject(cmd.Context(), argv[0], team)
			if err != nil {
				return projectHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(p)
			}
			if p.Team != "" {
				o.Printf("Moved project %s to team %s.\n", p.Name, p.Team)
			} else {
				o.Printf("Moved project %s to your own account.\n", p.Name)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&team, "team", "", "the team to give the project to")
	cmd.Flags().BoolVar(&personal, "personal", false, "move it to your own account")
	return cmd
}

func newAuditCmd(a *app) *cobra.Command {
	var team, since, project string
	var all bool
	var limit int
	cmd := &cobra.Command{
		Use:   "audit [--team TEAM] [--since 7d] [--project NAME] [--all]",
		Short: "Show who changed what, when and from where",
		Long: `Audit prints the audit log, newest first: your own account's, a team's
(its owners; default: the scope of ` + "`apogee switch`" + `), or with --all the whole
platform's (admins). Every change is there: deploys, promotes, rollbacks,
variables, domains, members, roles, tokens and settings, each with who
made it, when and from which address. Each plan keeps it for its
audit_log_days (90 by default).`,
		Example: `  apogee audit --team acme --since 7d
  apogee audit --project web --json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, cfg, err := a.client()
			if err != nil {
				return err
			}
			req := apogee.AuditRequest{Team: scope(cmd, team, cfg), Since: since, Project: project, All: all, Limit: limit}
			if all {
				req.Team = ""
			}
			es, err := c.Audit(cmd.Context(), req)
			if err != nil {
				return err
			}
			o := a.output(cmd)
			if a.json {
				return jsonList(o, "entries", es)
			}
			if len(es) == 0 {
				o.Println("Nothing in the audit log for this.")
				return nil
			}
			rows := make([][]string, 0, len(es))
			for _, e := range es {
				target := e.Target
				if e.Project != "" && e.Project != e.Target {
					target = e.Project + " " + target
				}
				rows = append(rows, []string{e.At.Local().Format(time.DateTime), cmp.Or(e.Actor, "the platform"), orDash(e.ClientAddr),
					e.Action, orDash(strings.TrimSpace(target)), e.Detail})
			}
			o.Table([]string{"TIME", "ACTOR", "FROM", "ACTION", "TARGET", "DETAIL"}, rows)
			return nil
		},
	}
	cmd.Flags().StringVar(&team, "team", "", "a team's log (its owners; default: the scope of `apogee switch`)")
	cmd.Flags().StringVar(&since, "since", "", "only entries newer than this: 7d, 12h, 30m or a time (RFC 3339)")
	cmd.Flags().StringVar(&project, "project", "", "only this project's entries")
	cmd.Flags().BoolVar(&all, "all", false, "the whole platform's log (admins)")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many entries (default and most: 1000)")
	return cmd
}
