package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/apogee-dev/apogee"
)

// Invitations: `apogee admin users invite EMAIL` makes a sign-up link,
// `apogee admin invites list|revoke` manages the pending ones.

var inviteHeader = []string{"ID", "EMAIL", "EXPIRES", "INVITED"}

func inviteRow(i apogee.Invite) []string {
	return []string{i.ID, i.Email, i.ExpiresAt.Local().Format(time.DateTime), i.CreatedAt.Local().Format(time.DateTime)}
}

func newAdminUsersInviteCmd(a *app) *cobra.Command {
	var expires time.Duration
	cmd := &cobra.Command{
		Use:   "invite EMAIL",
		Short: "Invite an email: prints a sign-up link, shown this once, good for --expires",
		Long: "Invite an email to make an account. The printed link opens the dashboard's sign-up form with the\n" +
			"email fixed; it works once, until it expires or is revoked (apogee admin invites revoke ID),\n" +
			"whatever the server's --signup mode. Send it to the person yourself: Apogee sends no email.",
		Example: "  apogee admin users invite ada@example.com\n  apogee admin users invite ada@example.com --expires 48h --json",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if expires < time.Minute || expires > 90*24*time.Hour {
				return usageError(cmd, fmt.Errorf("--expires %s must be between 1m and 2160h (90 days)", expires))
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			inv, err := c.AdminInvite(cmd.Context(), apogee.InviteRequest{Email: argv[0], ExpiresIn: int64(expires / time.Second)})
			if err != nil {
				return adminHint(withHint(err, apogee.ECONFLICT, "List accounts with `apogee admin users list`."))
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(inv)
			}
			o.Notef("Invited %s until %s. Send them this link (it is not shown again):\n",
				inv.Email, inv.ExpiresAt.Local().Format(time.DateTime))
			o.Println(inv.URL)
			return nil
		},
	}
	cmd.Flags().DurationVar(&expires, "expires", apogee.DefaultInviteTTL, "how long the link works (1m to 2160h)")
	return cmd
}

func newAdminInvitesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "invites", Short: "List and revoke pending invitations (admins only; make one with `apogee admin users invite`)"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List invitations neither used nor expired",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			invites, err := c.AdminInvites(cmd.Context())
			if err != nil {
				return adminHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return jsonList(o, "invites", invites)
			}
			if len(invites) == 0 {
				o.Println("No pending invitations. Invite someone with `apogee admin users invite EMAIL`.")
				return nil
			}
			rows := make([][]string, len(invites))
			for i, inv := range invites {
				rows[i] = inviteRow(inv)
			}
			o.Table(inviteHeader, rows)
			return nil
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an invitation: its link stops working at once",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			if err := c.AdminRevokeInvite(cmd.Context(), argv[0]); err != nil {
				return adminHint(err)
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(map[string]any{"revoked": argv[0]})
			}
			o.Printf("Revoked invitation %s\n", argv[0])
			return nil
		},
	}
	cmd.AddCommand(list, revoke)
	return cmd
}
