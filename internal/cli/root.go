// Package cli is Apogee's command line: `apogee login`, `apogee deploy`
// and the rest, in the habits of vercel, netlify and flyctl. Every
// command takes --json, which makes it print exactly one JSON object on
// stdout; errors then print {"error": {"code", "message"}}.
//
// cmd/apogee builds the root with New, adds the server and admin
// commands, and runs it with Execute.
package cli

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/apogee-dev/apogee/internal/client"
)

// app holds what the persistent flags set, shared by every command.
type app struct {
	json   bool
	server string // --server
	token  string // --token
}

// New returns the root `apogee` command with the client commands.
func New() *cobra.Command {
	a := &app{}
	root := &cobra.Command{
		Use:   "apogee",
		Short: "Deploy sites and apps to your own Apogee server",
		Long: `Apogee deploys folders and Node.js apps to a server you run yourself.

  apogee login --server http://localhost:8080
  apogee projects create my-site
  apogee deploy ./public --project my-site --prod`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	pf := root.PersistentFlags()
	pf.BoolVar(&a.json, "json", false, "print one JSON object on stdout, for scripts")
	pf.StringVar(&a.server, "server", "", "Apogee server URL (default: $APOGEE_SERVER, then the config file)")
	pf.StringVar(&a.token, "token", "", "API token (default: $APOGEE_TOKEN, then the config file)")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError(cmd, err)
	})
	root.AddCommand(
		newLoginCmd(a),
		newLogoutCmd(a),
		newWhoamiCmd(a),
		newProjectsCmd(a),
		newDeployCmd(a),
		newDeploymentsCmd(a),
		newInspectCmd(a),
		newPromoteCmd(a),
		newRollbackCmd(a),
		newTokensCmd(a),
		newDomainsCmd(a),
		newDNSCmd(a),
		newEnvCmd(a),
		newLogsCmd(a),
		newAnalyticsCmd(a),
		newCancelCmd(a),
		newRedeployCmd(a),
		newAdminCmd(a), newUsageCmd(a), // admin.go
		newWebhooksCmd(a),                               // webhooks.go
		newLinkCmd(a),                                   // link.go
		newAppsCmd(a),                                   // apps.go
		newTeamsCmd(a), newSwitchCmd(a), newAuditCmd(a), // teams.go
	)
	setVersion(a, root) // version.go
	return root
}

// Execute runs root with ctx (which should end on SIGINT and SIGTERM),
// prints any error, with a suggestion of what to do next, and returns the
// process's exit code: 0, or 1 on error.
func Execute(ctx context.Context, root *cobra.Command) int {
	strictGroups(root)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	if cmd == nil {
		cmd = root
	}
	printError(cmd, root, err)
	return 1
}

// client returns an API client for the resolved server and token. It
// fails with a suggestion when either is missing.
func (a *app) client() (*client.Client, *Config, error) {
	cfg, err := a.resolve()
	if err != nil {
		return nil, nil, err
	}
	if cfg.Server == "" {
		return nil, nil, errNoServer
	}
	if cfg.Token == "" {
		return nil, nil, &cliError{
			code: "unauthorized",
			msg:  "not logged in to " + cfg.Server,
		}
	}
	return newClient(cfg.Server, cfg.Token), cfg, nil
}

// cliTimeout bounds one API call of the CLI. A call that makes an app's
// release (a variable set, a rollback, a settings change) returns once
// its instances are ready, which takes their boot and the release
// command: minutes, at worst. Ctrl-C ends the wait sooner.
const cliTimeout = 10 * time.Minute

func newClient(server, token string) *client.Client {
	return client.New(server, token, client.WithUserAgent("apogee-cli"), client.WithTimeout(cliTimeout))
}

// projectClient resolves the project of a command (--project or
// APOGEE_PROJECT) and makes the API client.
func (a *app) projectClient(flag string) (string, *client.Client, error) {
	proj, err := project(flag)
	if err != nil {
		return "", nil, err
	}
	c, _, err := a.client()
	if err != nil {
		return "", nil, err
	}
	return proj, c, nil
}

// project returns the --project flag's value, or $APOGEE_PROJECT, or the
// project the current folder is linked to (.apogee/project.json).
func project(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if p := os.Getenv("APOGEE_PROJECT"); p != "" {
		return p, nil
	}
	if l, err := readLink("."); err != nil || l != nil { // link.go
		if err != nil {
			return "", err
		}
		return l.Project, nil
	}
	return "", errNoProject
}

var errNoProject = &cliError{
	code: "invalid",
	msg:  "no project given",
	hint: "Pass --project NAME, set APOGEE_PROJECT, or link the folder with `apogee link --project NAME`. List your projects with `apogee projects list`.",
}

// normalizeServer accepts "localhost:8080" for "http://localhost:8080"
// and drops a trailing slash.
func normalizeServer(s string) string {
	s = strings.TrimRight(strings.TrimSpace(s), "/")
	if s == "" || strings.Contains(s, "://") {
		return s
	}
	host := s
	if i := strings.IndexAny(host, ":/"); i >= 0 {
		host = host[:i]
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || strings.HasPrefix(host, "127.") || strings.HasPrefix(s, "[::1]") {
		return "http://" + s
	}
	return "https://" + s
}
