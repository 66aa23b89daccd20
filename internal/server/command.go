package server

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/auth"
	"github.com/apogee-dev/apogee/internal/sqlstore"
)

// NewCommand returns `apogee server`.
func NewCommand() *cobra.Command {
	var cfg Config
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the platform: dashboard, API and edge in one process",
		Long: `Run Apogee. With no flags it keeps everything in one data folder (SQLite,
blobs) and serves the dashboard and API at http://localhost:8080 and each
project at http://<project>.localhost:8080.

Every flag can also be set as an APOGEE_* variable: --listen is APOGEE_LISTEN.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := FromEnv(cmd.Flags(), "json"); err != nil {
				return err
			}
			if err := cfg.Normalize(); err != nil {
				return err
			}
			jsonOut, _ := cmd.Flags().GetBool("json")
			log := NewLogger(cmd.ErrOrStderr(), cfg.LogLevel, cfg.LogFormat)
			ctx := cmd.Context()
			if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
				return fmt.Errorf("create data folder: %w", err)
			}
			s, err := New(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer s.Close()
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return apogee.Errorf(apogee.EINVALID, "cannot listen on %s: %v; choose another address with --listen", cfg.Listen, err)
			}
			log.Info("listening", "addr", ln.Addr().String(), "domain", cfg.Domain,
				"database", Redacted(cfg.Database), "blobs", Redacted(cfg.Blobs), "events", Redacted(cfg.Events), "data", cfg.Data)
			s.setListener(ln)
			var tlsLn net.Listener
			if cfg.TLSListen != "" {
				if tlsLn, err = net.Listen("tcp", cfg.TLSListen); err != nil {
					return apogee.Errorf(apogee.EINVALID, "cannot listen on %s: %v; choose another address with --tls-listen", cfg.TLSListen, err)
				}
				s.setTLSListener(ln, tlsLn)
				log.Info("serving HTTPS", "addr", tlsLn.Addr().String(), "acme_ca", cfg.ACMECA)
			}
			if jsonOut {
				line := map[string]string{"url": s.URL(), "addr": ln.Addr().String(), "data": cfg.Data}
				if a := s.MetricsAddr(); a != "" {
					line["metrics"] = "http://" + a + "/metrics"
				}
				_ = json.NewEncoder(cmd.OutOrStdout()).Encode(line)
			} else {
				fmt.Fprintln(cmd.OutOrStdout(), s.Hint(ctx))
			}
			return s.ServeTLS(ctx, ln, tlsLn)
		},
	}
	cfg.Flags(cmd.Flags())
	return cmd
}

// NewLogger returns the process's structured logger.
func NewLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// NewAdminCommand returns `apogee admin`, which works on the data folder
// directly, with or without a running server.
func NewAdminCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Administer a data folder directly (no server needed)",
	}
	cmd.AddCommand(newCreateUserCommand())
	return cmd
}

func newCreateUserCommand() *cobra.Command {
	var (
		data, database, email, password string
		admin, passwordStdin            bool
	)
	cmd := &cobra.Command{
		Use:   "create-user",
		Short: "Create a user in the data folder's database",
		Example: `  apogee admin create-user --data ./data --email me@example.com --password '…' --admin
  echo "$PW" | apogee admin create-user --email me@example.com --password-stdin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := FromEnv(cmd.Flags(), "json", "email", "password", "admin", "password-stdin"); err != nil {
				return err
			}
			cfg := Config{Data: data, Database: database, Domain: "localhost", Listen: ":0",
				CacheMB: 1, MaxFileMB: 1, UploadTTL: time.Hour, LogLevel: "warn", LogFormat: "text"}
			if err := cfg.Normalize(); err != nil {
				return err
			}
			addr, err := mail.ParseAddress(email)
			if err != nil || addr.Address != email || !strings.Contains(email, "@") {
				return apogee.Errorf(apogee.EINVALID, "--email %q is not an email address such as me@example.com", email)
			}
			if passwordStdin {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 4096))
				if err != nil {
					return fmt.Errorf("read password from stdin: %w", err)
				}
				password = strings.TrimRight(string(b), "\r\n")
			} else if password == "" && term.IsTerminal(int(os.Stdin.Fd())) {
				fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
				b, err := term.ReadPassword(int(os.Stdin.Fd()))
				fmt.Fprintln(cmd.ErrOrStderr())
				if err != nil {
					return fmt.Errorf("read password: %w", err)
				}
				password = string(b)
			} else if password == "" {
				return apogee.Errorf(apogee.EINVALID, "no password given, and standard input is not a terminal to ask for one: "+
					"pass --password 'a long password', or --password-stdin to read it from standard input")
			}
			if err := auth.CheckNewPassword(password); err != nil {
				return err
			}
			hash, err := auth.HashPassword(password)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
				return fmt.Errorf("create data folder: %w", err)
			}
			ctx := cmd.Context()
			st, err := sqlstore.Open(ctx, cfg.Database, NewLogger(cmd.ErrOrStderr(), "warn", "text"))
			if err != nil {
				return fmt.Errorf("open database %s: %w", Redacted(cfg.Database), err)
			}
			defer st.Close()
			u := &apogee.User{ID: apogee.NewID(), Email: strings.ToLower(email), Password: hash, Admin: admin, CreatedAt: time.Now().UTC()}
			if err := st.CreateUser(ctx, u); err != nil {
				if apogee.ErrorCode(err) == apogee.ECONFLICT {
					return apogee.Errorf(apogee.ECONFLICT, "a user with email %s exists already", u.Email)
				}
				return err
			}
			if j, _ := cmd.Flags().GetBool("json"); j {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(u)
			}
			role := "user"
			if admin {
				role = "admin"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created %s %s (id %s)\n", role, u.Email, u.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", DefaultDataDir(), "data folder")
	f.StringVar(&database, "database", "", "database URL (default: SQLite in the data folder)")
	f.StringVar(&email, "email", "", "the user's email address")
	f.StringVar(&password, "password", "", "the user's password (prompted for on a terminal if empty)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	f.BoolVar(&admin, "admin", false, "make the user an administrator")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}
