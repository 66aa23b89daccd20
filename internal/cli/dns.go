package cli

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/apogee-dev/apogee"
)

func newDNSCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "Manage DNS zones delegated to Apogee and their records",
		Long: `Point a domain's nameservers at Apogee and it answers the domain's DNS:
the apex and www serve a project without any record by hand, and you
manage the other records here.

  apogee dns zones add example.com --project web    # prints the nameservers to set at the registrar
  apogee dns zones add example.org --team acme      # a team's zone: its members manage it
  apogee dns zones verify example.com               # checks the delegation
  apogee dns records add example.com www CNAME web.apogee.example --ttl 300
  apogee dns records add example.com @ MX "10 mail.example.com"
  apogee dns records list example.com
  apogee dns records update example.com RECORD_ID --value "20 mail.example.com"
  apogee dns records remove example.com RECORD_ID`,
		Args: args(cobra.NoArgs),
	}
	zones := &cobra.Command{Use: "zones", Aliases: []string{"zone"}, Short: "Add, verify, list and remove delegated zones", Args: args(cobra.NoArgs)}
	zones.AddCommand(newZonesAddCmd(a), newZonesVerifyCmd(a), newZonesListCmd(a), newZonesRemoveCmd(a))
	records := &cobra.Command{Use: "records", Aliases: []string{"record"}, Short: "Add, list, update and remove a zone's records", Args: args(cobra.NoArgs)}
	records.AddCommand(newRecordsAddCmd(a), newRecordsListCmd(a), newRecordsUpdateCmd(a), newRecordsRemoveCmd(a))
	cmd.AddCommand(zones, records)
	return cmd
}

// zoneHint suggests how to find a zone that was not found.
func zoneHint(err error) error {
	return withHint(err, apogee.ENOTFOUND, "List your zones with `apogee dns zones list`.")
}

func zoneArg(s string) string { return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), ".")) }

func newZonesAddCmd(a *app) *cobra.Command {
	var projectFlag, team string
	cmd := &cobra.Command{
		Use:   "add ZONE [--project P] [--team TEAM]",
		Short: "Delegate a zone to Apogee and show the nameservers to set at its registrar",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			name, err := apogee.ValidateDomainName(argv[0], "")
			if err != nil {
				return err
			}
			c, cfg, err := a.client()
			if err != nil {
				return err
			}
			z, err := c.AddZone(cmd.Context(), apogee.AddZoneRequest{Name: name, Team: scope(cmd, team, cfg), Project: projectFlag})
			if err != nil {
				return projectHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(z)
			}
			o.Printf("Added zone %s", z.Name)
			if z.Team != "" {
				o.Printf(" to team %s", z.Team)
			}
			if z.Project != "" {
				o.Printf(": its apex and www serve project %s", z.Project)
			}
			o.Printf(".\nSet these nameservers at your registrar:\n\n")
			for _, ns := range z.Nameservers {
				o.Printf("  %s\n", ns)
			}
			o.Printf("\nThen run `apogee dns zones verify %s`.\n", z.Name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&projectFlag, "project", "p", "", "project the zone's apex and www serve, of the zone's owner (default: none)")
	cmd.Flags().StringVar(&team, "team", "", "make it a team's zone (default: the scope of `apogee switch`)")
	return cmd
}

func newZonesVerifyCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "verify ZONE",
		Short: "Check that the zone's registrar names Apogee's nameservers",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			z, err := c.VerifyZone(cmd.Context(), zoneArg(argv[0]))
			if err != nil {
				return zoneHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(z)
			}
			o.Printf("Verified %s: it is delegated to %s.\n", z.Name, strings.Join(z.Nameservers, ", "))
			if z.Project != "" {
				o.Printf("%s and www.%s serve project %s.\n", z.Name, z.Name, z.Project)
			}
			return nil
		},
	}
}

func newZonesListCmd(a *app) *cobra.Command {
	var team string
	cmd := &cobra.Command{
		Use:     "list [--team TEAM]",
		Aliases: []string{"ls"},
		Short:   "List your delegated zones, or a team's",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, cfg, err := a.client()
			if err != nil {
				return err
			}
			zs, err := c.ListZones(cmd.Context(), scope(cmd, team, cfg))
			if err != nil {
				return err
			}
			o := a.output(cmd)
			if a.json {
				return jsonList(o, "zones", zs)
			}
			if len(zs) == 0 {
				if t := scope(cmd, team, cfg); t != "" {
					o.Printf("Team %s has no DNS zones.\n", t)
					o.Notef("Add one with `apogee dns zones add ZONE --team %s`.\n", t)
					return nil
				}
				o.Printf("You have no DNS zones.\n")
				o.Notef("Add one with `apogee dns zones add ZONE --project P`.\n")
				return nil
			}
			rows := make([][]string, 0, len(zs))
			for _, z := range zs {
				status := "pending: set nameservers " + strings.Join(z.Nameservers, ", ")
				if z.Verified {
					status = "verified " + ago(*z.VerifiedAt)
				}
				project := z.Project
				if project == "" {
					project = "-"
				}
				rows = append(rows, []string{z.Name, project, status, strconv.FormatInt(z.Serial, 10), ago(z.CreatedAt)})
			}
			o.Table([]string{"ZONE", "PROJECT", "STATUS", "SERIAL", "ADDED"}, rows)
			return nil
		},
	}
	cmd.Flags().StringVar(&team, "team", "", "list a team's zones (default: the scope of `apogee switch`)")
	return cmd
}

func newZonesRemoveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "remove ZONE",
		Aliases: []string{"rm"},
		Short:   "Remove a zone and its records; Apogee stops answering for it at once",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			name := zoneArg(argv[0])
			c, _, err := a.client()
			if err != nil {
				return err
			}
			if err := c.RemoveZone(cmd.Context(), name); err != nil {
				return zoneHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(map[string]any{"removed": name})
			}
			o.Printf("Removed zone %s.\n", name)
			return nil
		},
	}
}

func newRecordsAddCmd(a *app) *cobra.Command {
	var ttl int
	cmd := &cobra.Command{
		Use:   "add ZONE NAME TYPE VALUE [--ttl N]",
		Short: "Add a record (A, AAAA, CNAME, MX, TXT, CAA, SRV, NS); NAME is relative to the zone, @ for the apex",
		Args:  args(cobra.ExactArgs(4)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			r, err := c.AddRecord(cmd.Context(), zoneArg(argv[0]),
				apogee.AddRecordRequest{Name: argv[1], Type: strings.ToUpper(argv[2]), Value: argv[3], TTL: ttl})
			if err != nil {
				return zoneHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(r)
			}
			o.Printf("Added %s %s %s (TTL %d, id %s).\n", r.FQDN(), r.Type, r.Value, r.TTL, r.ID)
			return nil
		},
	}
	cmd.Flags().IntVar(&ttl, "ttl", 0, "time to live in seconds, 60 to 86400 (default 300)")
	return cmd
}

func newRecordsListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "list ZONE",
		Aliases: []string{"ls"},
		Short:   "List a zone's records",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			zone := zoneArg(argv[0])
			c, _, err := a.client()
			if err != nil {
				return err
			}
			rs, err := c.ListRecords(cmd.Context(), zone)
			if err != nil {
				return zoneHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return jsonList(o, "records", rs)
			}
			if len(rs) == 0 {
				o.Printf("Zone %s has no records of its own.\n", zone)
				o.Notef("Add one with `apogee dns records add %s NAME TYPE VALUE`.\n", zone)
				return nil
			}
			rows := make([][]string, 0, len(rs))
			for _, r := range rs {
				rows = append(rows, []string{r.ID, r.Name, r.Type, r.Value, strconv.Itoa(r.TTL)})
			}
			o.Table([]string{"ID", "NAME", "TYPE", "VALUE", "TTL"}, rows)
			return nil
		},
	}
}

func newRecordsUpdateCmd(a *app) *cobra.Command {
	var name, typ, value string
	var ttl int
	cmd := &cobra.Command{
		Use:   "update ZONE ID [--name NAME] [--type TYPE] [--value VALUE] [--ttl N]",
		Short: "Change a record in place (see `apogee dns records list` for ids); flags not given keep their value",
		Long: `Change a record's name, type, value or TTL in one step: the flags given
replace the record's, the rest stay. The result is checked as a new record
is (a CNAME at the apex, conflicts with the zone's other records, bad names,
values and TTLs are refused, and nothing changes).

  apogee dns records update example.com RECORD_ID --value "20 mail.example.com"
  apogee dns records update example.com RECORD_ID --name api --type A --value 192.0.2.10 --ttl 600`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			zone := zoneArg(argv[0])
			var req apogee.UpdateRecordRequest
			f := cmd.Flags()
			if f.Changed("name") {
				req.Name = &name
			}
			if f.Changed("type") {
				typ = strings.ToUpper(typ)
				req.Type = &typ
			}
			if f.Changed("value") {
				req.Value = &value
			}
			if f.Changed("ttl") {
				req.TTL = &ttl
			}
			if req == (apogee.UpdateRecordRequest{}) {
				return apogee.Errorf(apogee.EINVALID, "nothing to change: give --name, --type, --value or --ttl")
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			r, err := c.UpdateRecord(cmd.Context(), zone, argv[1], req)
			if err != nil {
				return withHint(err, apogee.ENOTFOUND, "List the zone's records with `apogee dns records list "+zone+"` (and your zones with `apogee dns zones list`).")
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(r)
			}
			o.Printf("Updated %s: %s %s %s (TTL %d).\n", r.ID, r.FQDN(), r.Type, r.Value, r.TTL)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the record's new name, relative to the zone (@ for the apex)")
	cmd.Flags().StringVar(&typ, "type", "", "the record's new type (A, AAAA, CNAME, MX, TXT, CAA, SRV, NS)")
	cmd.Flags().StringVar(&value, "value", "", "the record's new value, as in a zone file")
	cmd.Flags().IntVar(&ttl, "ttl", 0, "the record's new time to live in seconds, 60 to 86400")
	return cmd
}

func newRecordsRemoveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "remove ZONE ID",
		Aliases: []string{"rm"},
		Short:   "Remove a record by its id (see `apogee dns records list`)",
		Args:    args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			zone := zoneArg(argv[0])
			c, _, err := a.client()
			if err != nil {
				return err
			}
			if err := c.RemoveRecord(cmd.Context(), zone, argv[1]); err != nil {
				return withHint(err, apogee.ENOTFOUND, "List the zone's records with `apogee dns records list "+zone+"` (and your zones with `apogee dns zones list`).")
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(map[string]any{"removed": argv[1]})
			}
			o.Printf("Removed record %s from %s.\n", argv[1], zone)
			return nil
		},
	}
}
