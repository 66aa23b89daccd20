package cli

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/apogee-dev/apogee"
)

func newProjectsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "projects",
		Aliases: []string{"project"},
		Short:   "Create, list, show, update and delete projects",
		Args:    args(cobra.NoArgs),
	}
	cmd.AddCommand(newProjectsCreateCmd(a), newProjectsListCmd(a), newProjectsShowCmd(a), newProjectsUpdateCmd(a), newProjectsDeleteCmd(a),
		newProjectsMoveCmd(a)) // teams.go
	return cmd
}

func newProjectsCreateCmd(a *app) *cobra.Command {
	var git apogee.GitSource
	var appFlags appSettingFlags
	var team string
	cmd := &cobra.Command{
		Use:   "create NAME [--team TEAM] [--git URL [--branch BRANCH]] [--kind static|app] [--start-command C] [--health-path P]",
		Short: "Create a project; its name is also its host name",
		Long: `Create makes a project; its name is also its host name.

With --git the platform builds the project from that repository: pushes to
--branch (default main) deploy to production, other branches make
previews. Build it with ` + "`apogee deploy --project NAME --git`" + `, a GitHub webhook,
or push to the platform itself (git push http://x:TOKEN@SERVER/git/NAME.git).

Whether a project is a static site or a Node.js app is detected at each
build (a Procfile web: line, a start script, server.js, Next.js in server
mode make an app); --kind fixes it. For an app, --start-command replaces
the Procfile's web: line or npm start, --health-path is the path its
health check GETs (default /), --boot-timeout the seconds an instance has
to answer it (default 60) and --instances how many serve (default 1).

--team makes the project a team's (default: the scope chosen with
` + "`apogee switch`" + `, else your own).`,
		Example: `  apogee projects create my-site
  apogee projects create web --team acme
  apogee projects create web --git https://github.com/acme/web.git --branch main
  apogee projects create api --git https://github.com/acme/api.git --kind app --health-path /healthz`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if err := apogee.ValidateProjectName(argv[0]); err != nil {
				return err
			}
			c, cfg, err := a.client()
			if err != nil {
				return err
			}
			req := apogee.CreateProjectRequest{Name: argv[0], Team: scope(cmd, team, cfg)}
			if git.URL != "" {
				git.URL = localGitURL(git.URL) // localgit.go
				req.Git = &git
			} else if git.Branch != "" {
				return usageError(cmd, errors.New("--branch needs --git URL"))
			}
			settings, err := appFlags.settings(cmd)
			if err != nil {
				return err
			}
			if settings != (apogee.AppSettings{}) {
				req.App = &settings
			}
			p, err := c.CreateProjectWith(cmd.Context(), req)
			if req.Git != nil {
				err = localGitHint(err, git.URL, argv[0])
			}
			if err != nil {
				return withHint(err, apogee.ECONFLICT, "Pick another name; see yours with `apogee projects list`.")
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(p)
			}
			if p.Team != "" {
				o.Printf("Created project %s in team %s.\n", p.Name, p.Team)
			} else {
				o.Printf("Created project %s.\n", p.Name)
			}
			if p.Git != nil {
				o.Notef("Pushes to %s of %s deploy to production; build it now with `apogee deploy --project %s --git`.\n", p.Git.Branch, p.Git.URL, p.Name)
			} else {
				o.Notef("Deploy to it with `apogee deploy DIR --project %s`.\n", p.Name)
			}
			o.Println(p.URL)
			return nil
		},
	}
	cmd.Flags().StringVar(&git.URL, "git", "", "Git repository to build from (https://…; a local path or file://… only where the server runs with --allow-file-git)")
	cmd.Flags().StringVar(&git.Branch, "branch", "", "production branch of the repository (default main)")
	cmd.Flags().StringVar(&team, "team", "", "make it a team's project (default: the scope of `apogee switch`)")
	appFlags.add(cmd)
	return cmd
}

func newProjectsListCmd(a *app) *cobra.Command {
	var team string
	cmd := &cobra.Command{
		Use:     "list [--team TEAM]",
		Aliases: []string{"ls"},
		Short:   "List your projects, or a team's",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, cfg, err := a.client()
			if err != nil {
				return err
			}
			ps, err := c.ListTeamProjects(cmd.Context(), scope(cmd, team, cfg))
			if err != nil {
				return err
			}
			o := a.output(cmd)
			if a.json {
				return jsonList(o, "projects", ps)
			}
			if len(ps) == 0 {
				o.Println("No projects yet.")
				o.Notef("Create one with `apogee projects create NAME`.\n")
				return nil
			}
			rows := make([][]string, 0, len(ps))
			for _, p := range ps {
				rows = append(rows, []string{p.Name, orDash(p.ProductionID), p.URL, ago(p.CreatedAt)})
			}
			o.Table([]string{"NAME", "PRODUCTION", "URL", "CREATED"}, rows)
			return nil
		},
	}
	cmd.Flags().StringVar(&team, "team", "", "list a team's projects (default: the scope of `apogee switch`)")
	return cmd
}

func newProjectsShowCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show a project",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			p, err := c.GetProject(cmd.Context(), argv[0])
			if err != nil {
				return projectHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(p)
			}
			o.Fields(
				"Name", p.Name,
				"ID", p.ID,
				"URL", p.URL,
				"Production", orDash(p.ProductionID),
				"Sandbox", orDefault(p.Settings.App.Sandbox, "the server's"),
				"Created", p.CreatedAt.Local().Format(time.DateTime)+" ("+ago(p.CreatedAt)+")",
			)
			return nil
		},
	}
}

func newProjectsDeleteCmd(a *app) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a project and all its deployments",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			name := argv[0]
			c, _, err := a.client()
			if err != nil {
				return err
			}
			if !yes {
				in := cmd.InOrStdin()
				if a.json || !isTerminal(in) {
					return &cliError{code: "invalid", msg: "deleting project " + name + " needs confirmation",
						hint: "Pass --yes to delete without asking."}
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "Delete project %s and all its deployments? This cannot be undone.\nType the project name to confirm: ", name)
				line, _ := bufio.NewReader(in).ReadString('\n')
				if strings.TrimSpace(line) != name {
					return &cliError{code: "canceled", msg: "not deleted: the name did not match"}
				}
			}
			if err := c.DeleteProject(cmd.Context(), name); err != nil {
				return projectHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(map[string]any{"deleted": name})
			}
			o.Printf("Deleted project %s.\n", name)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "delete without asking")
	return cmd
}
