package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
)

func newDeploymentsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "deployments",
		Aliases: []string{"deployment", "dep"},
		Short:   "List and show deployments",
		Args:    args(cobra.NoArgs),
	}
	cmd.AddCommand(newDeploymentsListCmd(a), newDeploymentsShowCmd(a, "show ID"))
	return cmd
}

func newDeploymentsListCmd(a *app) *cobra.Command {
	var projectFlag string
	var limit int
	cmd := &cobra.Command{
		Use:     "list --project P",
		Aliases: []string{"ls"},
		Short:   "List a project's deployments, newest first",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			proj, c, err := a.projectClient(projectFlag)
			if err != nil {
				return err
			}
			ds, err := c.ListDeployments(cmd.Context(), proj, limit)
			if err != nil {
				return projectHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return jsonList(o, "deployments", ds)
			}
			if len(ds) == 0 {
				o.Printf("Project %s has no deployments yet.\n", proj)
				o.Notef("Deploy a folder with `apogee deploy DIR --project %s`.\n", proj)
				return nil
			}
			rows := make([][]string, 0, len(ds))
			for _, d := range ds {
				status := statusWord(d.Deployment)
				if d.Production {
					status += " (production)"
				}
				if d.Error != "" {
					status += ": " + shortError(d.Error)
				}
				rows = append(rows, []string{d.ID, status, d.Target, commitCell(d.Branch, d.Commit, d.CommitMessage), itoa(d.Files), formatBytes(d.Size), ago(d.CreatedAt), d.URL})
			}
			o.Table([]string{"ID", "STATUS", "TARGET", "COMMIT", "FILES", "SIZE", "CREATED", "URL"}, rows)
			return nil
		},
	}
	cmd.Flags().StringVarP(&projectFlag, "project", "p", "", "project (default: $APOGEE_PROJECT)")
	cmd.Flags().IntVar(&limit, "limit", 20, "how many to list")
	return cmd
}

// newDeploymentsShowCmd serves `deployments show ID` and `inspect ID`.
func newDeploymentsShowCmd(a *app, use string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: "Show a deployment",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			d, err := c.GetDeployment(cmd.Context(), argv[0])
			if err != nil {
				return withHint(err, apogee.ENOTFOUND, "List deployments with `apogee deployments list --project NAME`.")
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(d)
			}
			ready := "-"
			if d.ReadyAt != nil {
				ready = d.ReadyAt.Local().Format(time.DateTime)
			}
			prod := "no"
			if d.Production {
				prod = "yes"
			}
			fields := []string{
				"ID", d.ID,
				"Project", d.Project,
				"Status", statusWord(d.Deployment),
				"Target", d.Target,
				"Production", prod,
				"Files", itoa(d.Files),
				"Size", formatBytes(d.Size),
				"Created", d.CreatedAt.Local().Format(time.DateTime) + " (" + ago(d.CreatedAt) + ")",
				"Ready", ready,
				"URL", d.URL,
			}
			if d.Commit != "" {
				fields = append(fields,
					"Branch", orDash(d.Branch),
					"Commit", d.Commit,
					"Message", orDash(d.CommitMessage),
					"Author", orDash(d.CommitAuthor),
					"Commit URL", orDash(d.CommitURL),
				)
			}
			if d.Framework != "" {
				fields = append(fields, "Framework", d.Framework, "Node.js", orDash(d.NodeVersion))
			}
			o.Fields(fields...)
			printRuleWarnings(o, d.Warnings)
			return nil
		},
	}
}

func newInspectCmd(a *app) *cobra.Command {
	cmd := newDeploymentsShowCmd(a, "inspect ID")
	cmd.Short = "Show a deployment (same as `deployments show`)"
	return cmd
}

func newPromoteCmd(a *app) *cobra.Command {
	var projectFlag string
	cmd := &cobra.Command{
		Use:   "promote ID [--project P]",
		Short: "Make a ready deployment the project's production",
		Long: `Promote points the project's production URL at a ready deployment, at once
and without a rebuild. Without --project (or $APOGEE_PROJECT), the
deployment's own project is used.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			id := argv[0]
			proj, err := project(projectFlag)
			if err != nil {
				d, err := c.GetDeployment(cmd.Context(), id)
				if err != nil {
					return withHint(err, apogee.ENOTFOUND, "List deployments with `apogee deployments list --project NAME`.")
				}
				proj = d.Project
			}
			d, err := c.Promote(cmd.Context(), proj, id)
			if err != nil {
				return projectHint(err)
			}
			return printAlias(cmd.Context(), a, a.output(cmd), c, proj, d)
		},
	}
	cmd.Flags().StringVarP(&projectFlag, "project", "p", "", "project (default: $APOGEE_PROJECT, then the deployment's)")
	return cmd
}

func newRollbackCmd(a *app) *cobra.Command {
	var projectFlag, to string
	cmd := &cobra.Command{
		Use:   "rollback --project P [--to ID]",
		Short: "Point production back at the previous deployment, or at --to",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			proj, c, err := a.projectClient(projectFlag)
			if err != nil {
				return err
			}
			d, err := c.Rollback(cmd.Context(), proj, to)
			if err != nil {
				err = withHint(err, apogee.ECONFLICT, "Name a ready deployment with --to ID; list them with `apogee deployments list --project "+proj+"`.")
				return projectHint(err)
			}
			return printAlias(cmd.Context(), a, a.output(cmd), c, proj, d)
		},
	}
	cmd.Flags().StringVarP(&projectFlag, "project", "p", "", "project (default: $APOGEE_PROJECT)")
	cmd.Flags().StringVar(&to, "to", "", "deployment to roll back to (default: the previous production)")
	return cmd
}

// printAlias says which deployment production now serves, and where.
func printAlias(ctx context.Context, a *app, o *output, c *client.Client, proj string, d *apogee.DeploymentView) error {
	prodURL := ""
	if p, err := c.GetProject(ctx, proj); err == nil {
		prodURL = p.URL
	}
	if a.json {
		return o.JSON(struct {
			*apogee.DeploymentView
			ProductionURL string `json:"production_url,omitempty"`
		}{d, prodURL})
	}
	o.Printf("Production of %s now serves deployment %s.\n", proj, d.ID)
	o.Printf("Deployment URL: %s\n", d.URL)
	if prodURL != "" {
		o.Printf("Production URL: %s\n", prodURL)
	}
	return nil
}

// commitCell is a deployment's commit in a list: the branch, the short
// SHA and the start of the subject line; "-" for a deployment not from
// Git.
func commitCell(branch, sha, message string) string {
	if sha == "" {
		return "-"
	}
	s := sha[:min(7, len(sha))]
	if branch != "" {
		s = branch + "@" + s
	}
	if message != "" {
		if r := []rune(message); len(r) > 40 {
			message = string(r[:39]) + "…"
		}
		s += " " + message
	}
	return s
}

// statusWord is a deployment's status as the CLI shows it: "skipped" for
// a build a monorepo's push did not need (stored as canceled).
func statusWord(d *apogee.Deployment) string {
	if d.Skipped {
		return "skipped"
	}
	return string(d.Status)
}
