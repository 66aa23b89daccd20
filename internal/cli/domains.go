package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/apogee-dev/apogee"
)

func newDomainsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "domains",
		Aliases: []string{"domain"},
		Short:   "Add, verify, list and remove a project's custom domains",
		Long: `A custom domain serves a project's production deployment once you have
proved you control it: add it, create the TXT record it answers, then verify.

  apogee domains add www.example.com --project web
  apogee domains verify www.example.com
  apogee domains list --project web
  apogee domains remove www.example.com`,
		Args: args(cobra.NoArgs),
	}
	cmd.AddCommand(newDomainsAddCmd(a), newDomainsVerifyCmd(a), newDomainsListCmd(a), newDomainsRemoveCmd(a))
	return cmd
}

// domainHint suggests how to find a domain that was not found.
func domainHint(err error) error {
	return withHint(err, apogee.ENOTFOUND, "List a project's domains with `apogee domains list --project NAME`.")
}

// printRecords prints the DNS records a domain needs, as a table.
func (o *output) printRecords(d *apogee.DomainView) {
	rows := [][]string{{d.Verification.Type, d.Verification.Name, d.Verification.Value, "proves you control the domain"}}
	why := "sends the domain's traffic here"
	if d.DNS.Note != "" {
		why += " (" + d.DNS.Note + ")"
	}
	rows = append(rows, []string{d.DNS.Type, d.DNS.Name, d.DNS.Value, why})
	o.Table([]string{"TYPE", "NAME", "VALUE", "WHY"}, rows)
}

func newDomainsAddCmd(a *app) *cobra.Command {
	var projectFlag string
	cmd := &cobra.Command{
		Use:   "add DOMAIN --project P",
		Short: "Add a custom domain to a project and show the DNS records it needs",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			proj, err := project(projectFlag)
			if err != nil {
				return err
			}
			base, wildcard := apogee.WildcardBase(strings.ToLower(strings.TrimSpace(argv[0])))
			if !wildcard {
				base = argv[0]
			}
			name, err := apogee.ValidateDomainName(base, "")
			if err != nil {
				return err
			}
			if wildcard {
				name = "*." + name
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			d, err := c.AddDomain(cmd.Context(), proj, name)
			if err != nil {
				return projectHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(d)
			}
			if base, ok := apogee.WildcardBase(d.Name); ok {
				o.Printf("Added %s to project %s, verified: Apogee's DNS answers %s.\n", d.Name, d.Project, base)
				o.Printf("Each branch is served at <branch>.%s; any other name below it serves production.\n", base)
				return nil
			}
			o.Printf("Added %s to project %s. Create these DNS records:\n\n", d.Name, d.Project)
			o.printRecords(d)
			o.Printf("\nThen run `apogee domains verify %s`.\n", d.Name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&projectFlag, "project", "p", "", "project (default: $APOGEE_PROJECT)")
	return cmd
}

func newDomainsVerifyCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "verify DOMAIN",
		Short: "Check a custom domain's TXT record; once found, the domain is served",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			d, err := c.VerifyDomain(cmd.Context(), strings.ToLower(strings.TrimSuffix(argv[0], ".")))
			if err != nil {
				return domainHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(d)
			}
			o.Printf("Verified %s: it serves project %s's production deployment.\n", d.Name, d.Project)
			o.Notef("If traffic does not arrive yet, check this record:\n")
			if !o.json {
				o.Table([]string{"TYPE", "NAME", "VALUE"}, [][]string{{d.DNS.Type, d.DNS.Name, d.DNS.Value}})
			}
			o.Println(d.URL)
			return nil
		},
	}
}

func newDomainsListCmd(a *app) *cobra.Command {
	var projectFlag string
	cmd := &cobra.Command{
		Use:     "list --project P",
		Aliases: []string{"ls"},
		Short:   "List a project's custom domains",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			proj, c, err := a.projectClient(projectFlag)
			if err != nil {
				return err
			}
			ds, err := c.ListDomains(cmd.Context(), proj)
			if err != nil {
				return projectHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return jsonList(o, "domains", ds)
			}
			if len(ds) == 0 {
				o.Printf("Project %s has no custom domains.\n", proj)
				o.Notef("Add one with `apogee domains add DOMAIN --project %s`.\n", proj)
				return nil
			}
			rows := make([][]string, 0, len(ds))
			for _, d := range ds {
				status := "pending: create TXT " + d.Verification.Name + " = " + d.Verification.Value
				if d.Verified {
					status = "verified " + ago(*d.VerifiedAt)
				}
				rows = append(rows, []string{d.Name, status, d.DNS.Type + " → " + d.DNS.Value, ago(d.CreatedAt)})
			}
			o.Table([]string{"DOMAIN", "STATUS", "DNS", "ADDED"}, rows)
			return nil
		},
	}
	cmd.Flags().StringVarP(&projectFlag, "project", "p", "", "project (default: $APOGEE_PROJECT)")
	return cmd
}

func newDomainsRemoveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "remove DOMAIN",
		Aliases: []string{"rm"},
		Short:   "Remove a custom domain; it stops being served at once",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			name := strings.ToLower(strings.TrimSuffix(argv[0], "."))
			c, _, err := a.client()
			if err != nil {
				return err
			}
			if err := c.RemoveDomain(cmd.Context(), name); err != nil {
				return domainHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(map[string]any{"removed": name})
			}
			o.Printf("Removed %s.\n", name)
			return nil
		},
	}
}
