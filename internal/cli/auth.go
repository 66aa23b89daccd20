package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/apogee-dev/apogee"
)

func newLoginCmd(a *app) *cobra.Command {
	var email, password string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login --server URL",
		Short: "Log in to an Apogee server and keep a token in the config file",
		Example: `  apogee login --server http://localhost:8080
  echo "$PASSWORD" | apogee login --server https://apogee.example.com --email me@example.com --password-stdin`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := a.output(cmd)
			cfg, err := a.resolve()
			if err != nil {
				return err
			}
			if cfg.Server == "" {
				return errNoServer
			}
			in := cmd.InOrStdin()
			tty := isTerminal(in) && !a.json
			if passwordStdin {
				if password != "" {
					return usageError(cmd, fmt.Errorf("--password and --password-stdin exclude each other"))
				}
				if password, err = readLine(in); err != nil {
					return fmt.Errorf("read password from stdin: %w", err)
				}
				tty = false
			}
			r := bufio.NewReader(in)
			if email == "" {
				if !tty {
					return usageError(cmd, fmt.Errorf("--email is required when stdin is not a terminal"))
				}
				fmt.Fprint(cmd.ErrOrStderr(), "Email: ")
				line, err := r.ReadString('\n')
				if err != nil && line == "" {
					return fmt.Errorf("read email: %w", err)
				}
				email = strings.TrimSpace(line)
			}
			if password == "" {
				if !tty {
					return usageError(cmd, fmt.Errorf("--password or --password-stdin is required when stdin is not a terminal"))
				}
				fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
				b, err := term.ReadPassword(int(in.(*os.File).Fd()))
				fmt.Fprintln(cmd.ErrOrStderr())
				if err != nil {
					return fmt.Errorf("read password: %w", err)
				}
				password = string(b)
			}
			host, _ := os.Hostname()
			name := "cli"
			if host != "" {
				name = "cli@" + host
			}
			c := newClient(cfg.Server, "")
			tr, err := c.Login(cmd.Context(), apogee.LoginRequest{Email: email, Password: password, TokenName: name})
			if err != nil {
				return withHint(err, apogee.EUNAUTHORIZED, "Check the email and password. An admin can reset them.")
			}
			file, err := LoadConfig()
			if err != nil {
				return err
			}
			file.Server, file.Token, file.Email = cfg.Server, tr.Token, email
			file.TokenID, file.Team = "", "" // a new sign-in starts in the personal scope
			if tr.Detail != nil {
				file.TokenID = tr.Detail.ID
			}
			if tr.User != nil {
				file.Email = tr.User.Email
			}
			if err := SaveConfig(file); err != nil {
				return err
			}
			if a.json {
				return o.JSON(map[string]any{"server": cfg.Server, "email": file.Email, "token_id": file.TokenID, "user": tr.User})
			}
			path, _ := ConfigPath()
			o.Printf("Logged in to %s as %s.\n", cfg.Server, file.Email)
			o.Notef("The token is saved in %s.\n", path)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&email, "email", "", "your email (prompted for on a terminal)")
	f.StringVar(&password, "password", "", "your password (prompted for on a terminal; prefer --password-stdin)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin")
	return cmd
}

// readLine reads r up to the first newline, without it.
func readLine(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return "", err
	}
	s, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimRight(s, "\r"), nil
}

func newLogoutCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Revoke the saved token and remove it from the config file",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := a.output(cmd)
			file, err := LoadConfig()
			if err != nil {
				return err
			}
			revoked := false
			if file.Token != "" && file.TokenID != "" && file.Server != "" {
				err := newClient(file.Server, file.Token).RevokeToken(cmd.Context(), file.TokenID)
				switch apogee.ErrorCode(err) {
				case "":
					revoked = true
				case apogee.EUNAUTHORIZED, apogee.ENOTFOUND:
					// Already revoked or expired.
				default:
					o.Warnf("could not revoke the token on %s: %v\n", file.Server, err)
				}
			}
			wasIn := file.Token != ""
			file.Token, file.TokenID, file.Email, file.Team = "", "", "", ""
			if wasIn {
				if err := SaveConfig(file); err != nil {
					return err
				}
			}
			if os.Getenv("APOGEE_TOKEN") != "" {
				o.Warnf("APOGEE_TOKEN is still set in the environment.\n")
			}
			if a.json {
				return o.JSON(map[string]any{"logged_out": wasIn, "revoked": revoked, "server": file.Server})
			}
			if !wasIn {
				o.Println("Not logged in.")
				return nil
			}
			o.Printf("Logged out of %s.\n", orDash(file.Server))
			return nil
		},
	}
}

func newWhoamiCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show the user the token belongs to, with their plan and usage",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, cfg, err := a.client()
			if err != nil {
				return err
			}
			u, err := c.Me(cmd.Context())
			if err != nil {
				return err
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(struct {
					*apogee.UserView
					Server string `json:"server"`
				}{u, cfg.Server})
			}
			role := ""
			if u.Admin {
				role = " (admin)"
			}
			o.Printf("%s%s on %s\n", u.Email, role, cfg.Server)
			printUsage(o, u.Plan, u.Usage)
			return nil
		},
	}
}
