package cli

import (
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/apogee-dev/apogee"
)

func newTokensCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "tokens",
		Aliases: []string{"token"},
		Short:   "Create, list and revoke API tokens",
		Args:    args(cobra.NoArgs),
	}
	cmd.AddCommand(newTokensCreateCmd(a), newTokensListCmd(a), newTokensRevokeCmd(a))
	return cmd
}

func newTokensCreateCmd(a *app) *cobra.Command {
	var expires, team string
	var readOnly bool
	cmd := &cobra.Command{
		Use:     "create NAME [--expires 720h] [--team TEAM] [--read-only]",
		Short:   "Create an API token, for CI for example; its secret is shown once",
		Example: "  apogee tokens create github-actions --expires 720h\n  apogee tokens create ci --team acme --read-only",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if expires != "" {
				if d, err := time.ParseDuration(expires); err != nil || d <= 0 {
					return usageError(cmd, &cliError{code: "invalid", msg: "--expires " + strconv.Quote(expires) + " is not a positive duration such as 720h"})
				}
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			tr, err := c.CreateToken(cmd.Context(), apogee.CreateTokenRequest{Name: argv[0], ExpiresIn: expires,
				Team: team, ReadOnly: readOnly})
			if err != nil {
				return err
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(tr)
			}
			if tr.Detail != nil {
				exp := "never expires"
				if tr.Detail.ExpiresAt != nil {
					exp = "expires " + tr.Detail.ExpiresAt.Local().Format(time.DateTime)
				}
				o.Notef("Created token %s (%s, %s). Copy it now: it is not shown again.\n", tr.Detail.Name, tr.Detail.ID, exp)
			}
			o.Println(tr.Token)
			return nil
		},
	}
	cmd.Flags().StringVar(&expires, "expires", "", "lifetime, such as 720h (default: never expires)")
	cmd.Flags().StringVar(&team, "team", "", "scope the token to a team: it acts on that team and its projects only")
	cmd.Flags().BoolVar(&readOnly, "read-only", false, "a token that may see but change nothing")
	return cmd
}

func newTokensListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List your API tokens",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			ts, err := c.ListTokens(cmd.Context())
			if err != nil {
				return err
			}
			o := a.output(cmd)
			if a.json {
				return jsonList(o, "tokens", ts)
			}
			now := time.Now()
			rows := make([][]string, 0, len(ts))
			for _, t := range ts {
				state := "active"
				switch {
				case t.RevokedAt != nil:
					state = "revoked"
				case !t.Valid(now):
					state = "expired"
				}
				exp, used := "never", "never"
				if t.ExpiresAt != nil {
					exp = t.ExpiresAt.Local().Format(time.DateOnly)
				}
				if t.LastUsed != nil {
					used = ago(*t.LastUsed)
				}
				rows = append(rows, []string{t.ID, t.Name, state, ago(t.CreatedAt), exp, used})
			}
			o.Table([]string{"ID", "NAME", "STATE", "CREATED", "EXPIRES", "LAST USED"}, rows)
			return nil
		},
	}
}

func newTokensRevokeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			if err := c.RevokeToken(cmd.Context(), argv[0]); err != nil {
				return withHint(err, apogee.ENOTFOUND, "List your tokens with `apogee tokens list`.")
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(map[string]any{"revoked": argv[0]})
			}
			o.Printf("Revoked token %s.\n", argv[0])
			return nil
		},
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
