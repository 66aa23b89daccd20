package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/apogee-dev/apogee"
)

func newEnvCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Set, list and remove a project's environment variables",
		Long: `Environment variables are given to a project's builds. They are stored
encrypted; a variable set with --secret is never shown again and is
masked in build logs.

  apogee env set NODE_ENV=production API_URL=https://api.example.com --project web
  apogee env set STRIPE_KEY=sk_live_… --secret --project web
  printf %s "$KEY" | apogee env set STRIPE_KEY --secret --project web   # value from stdin
  apogee env ls --project web
  apogee env rm API_URL --project web`,
		Args: args(cobra.NoArgs),
	}
	cmd.AddCommand(newEnvSetCmd(a), newEnvListCmd(a), newEnvRemoveCmd(a))
	return cmd
}

// envHint suggests how to find a project that was not found; the
// server's message for a missing variable says what to do already.
func envHint(err error) error {
	if strings.Contains(apogee.ErrorMessage(err), "environment variable") {
		return err
	}
	return projectHint(err)
}

// envPair is one KEY=VALUE of `env set`.
type envPair struct{ key, value string }

// parseEnvArgs splits KEY=VALUE arguments and checks them all before
// anything is sent, so that a typo in the third does not leave the first
// two set. A lone KEY takes its value from stdin.
func parseEnvArgs(cmd *cobra.Command, argv []string, secret bool) ([]envPair, error) {
	pairs := make([]envPair, 0, len(argv))
	seen := map[string]bool{}
	for _, arg := range argv {
		k, v, ok := strings.Cut(arg, "=")
		if !ok {
			if len(argv) > 1 {
				return nil, usageError(cmd, fmt.Errorf("%q has no \"=\": give KEY=VALUE pairs, or one KEY alone to read its value from stdin", k))
			}
			var err error
			if v, err = readEnvValue(cmd, k, secret); err != nil {
				return nil, err
			}
		}
		if err := apogee.ValidateEnvKey(k); err != nil {
			return nil, err
		}
		if err := apogee.ValidateEnvValue(k, v); err != nil {
			return nil, err
		}
		if seen[k] {
			return nil, usageError(cmd, fmt.Errorf("%s is given twice", k))
		}
		seen[k] = true
		pairs = append(pairs, envPair{k, v})
	}
	return pairs, nil
}

// readEnvValue reads key's value from stdin: all of it, less one final
// newline, so multi-line values (PEM keys) work. On a terminal it prompts,
// without echo for a secret.
func readEnvValue(cmd *cobra.Command, key string, secret bool) (string, error) {
	in := cmd.InOrStdin()
	if isTerminal(in) {
		fmt.Fprintf(cmd.ErrOrStderr(), "Value of %s: ", key)
		if secret {
			b, err := term.ReadPassword(int(in.(*os.File).Fd()))
			fmt.Fprintln(cmd.ErrOrStderr())
			if err != nil {
				return "", fmt.Errorf("read the value of %s: %w", key, err)
			}
			return string(b), nil
		}
		line, err := readLine(in)
		if err != nil {
			return "", fmt.Errorf("read the value of %s: %w", key, err)
		}
		return line, nil
	}
	b, err := io.ReadAll(io.LimitReader(in, apogee.MaxEnvValueLen+2))
	if err != nil {
		return "", fmt.Errorf("read the value of %s from stdin: %w", key, err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

func newEnvSetCmd(a *app) *cobra.Command {
	var (
		projectFlag string
		secret      bool
	)
	cmd := &cobra.Command{
		Use:   "set KEY=VALUE [KEY=VALUE…] --project P [--secret]",
		Short: "Set environment variables of a project (replacing any of the same name)",
		Long: `Set environment variables of a project, replacing any of the same name.
Names are letters, digits and underscores, not starting with a digit;
names starting with APOGEE_ are the platform's. With --secret the values
are never shown again and are masked in build logs. A single KEY without
"=" reads its value from stdin (prompting, without echo for --secret, on
a terminal), which keeps it out of your shell history.

New values apply to the next build.`,
		Example: `  apogee env set NODE_ENV=production --project web
  apogee env set DATABASE_URL=postgres://… --secret --project web
  apogee env set TLS_KEY --secret --project web < key.pem`,
		Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			proj, err := project(projectFlag)
			if err != nil {
				return err
			}
			pairs, err := parseEnvArgs(cmd, argv, secret)
			if err != nil {
				return err
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			o := a.output(cmd)
			if secret { // before any is set: all or none
				for _, p := range pairs {
					if err := apogee.ValidateSecretValue(p.key, p.value); err != nil {
						return err
					}
				}
			}
			set := make([]apogee.EnvVarView, 0, len(pairs))
			for _, p := range pairs {
				v, err := c.SetEnv(cmd.Context(), proj, p.key, p.value, secret)
				if err != nil {
					if len(set) > 0 {
						o.Warnf("%s set before the error: %s\n", plural(len(set), "variable was", "variables were"), envKeys(set))
					}
					return projectHint(err)
				}
				set = append(set, *v)
			}
			if a.json {
				return o.JSON(map[string]any{"project": proj, "env": set})
			}
			kind := "variable"
			if secret {
				kind = "secret variable"
			}
			for _, v := range set {
				o.Printf("Set %s %s in project %s.\n", kind, v.Key, proj)
			}
			o.Notef("New values apply to the next build.\n")
			return nil
		},
	}
	cmd.Flags().StringVarP(&projectFlag, "project", "p", "", "project (default: $APOGEE_PROJECT)")
	cmd.Flags().BoolVar(&secret, "secret", false, "never show the values again and mask them in build logs")
	return cmd
}

func envKeys(vs []apogee.EnvVarView) string {
	keys := make([]string, len(vs))
	for i, v := range vs {
		keys[i] = v.Key
	}
	return strings.Join(keys, ", ")
}

func newEnvListCmd(a *app) *cobra.Command {
	var projectFlag string
	cmd := &cobra.Command{
		Use:     "ls --project P",
		Aliases: []string{"list"},
		Short:   "List a project's environment variables (secret values are never shown)",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			proj, c, err := a.projectClient(projectFlag)
			if err != nil {
				return err
			}
			vs, err := c.ListEnv(cmd.Context(), proj)
			if err != nil {
				return projectHint(err)
			}
			o := a.output(cmd)
			if a.json {
				if vs == nil {
					vs = []apogee.EnvVarView{}
				}
				return o.JSON(map[string]any{"project": proj, "env": vs})
			}
			if len(vs) == 0 {
				o.Printf("Project %s has no environment variables.\n", proj)
				o.Notef("Set one with `apogee env set KEY=VALUE --project %s`.\n", proj)
				return nil
			}
			rows := make([][]string, 0, len(vs))
			for _, v := range vs {
				value := "(secret)"
				if !v.Secret && v.Value != nil {
					value = displayValue(*v.Value)
				}
				rows = append(rows, []string{v.Key, value, ago(v.UpdatedAt)})
			}
			o.Table([]string{"KEY", "VALUE", "UPDATED"}, rows)
			return nil
		},
	}
	cmd.Flags().StringVarP(&projectFlag, "project", "p", "", "project (default: $APOGEE_PROJECT)")
	return cmd
}

// displayValue fits a non-secret value on one table row.
func displayValue(v string) string {
	if v == "" {
		return `""`
	}
	if i := strings.IndexAny(v, "\r\n"); i >= 0 {
		v = v[:i] + " …"
	}
	if r := []rune(v); len(r) > 60 {
		v = string(r[:59]) + "…"
	}
	return v
}

func newEnvRemoveCmd(a *app) *cobra.Command {
	var projectFlag string
	cmd := &cobra.Command{
		Use:     "rm KEY [KEY…] --project P",
		Aliases: []string{"remove"},
		Short:   "Remove environment variables from a project",
		Args:    args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			proj, err := project(projectFlag)
			if err != nil {
				return err
			}
			for _, k := range argv {
				if err := apogee.ValidateEnvKey(k); err != nil {
					return err
				}
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			o := a.output(cmd)
			removed := make([]string, 0, len(argv))
			for _, k := range argv {
				if err := c.DeleteEnv(cmd.Context(), proj, k); err != nil {
					if len(removed) > 0 {
						o.Warnf("removed before the error: %s\n", strings.Join(removed, ", "))
					}
					return envHint(err)
				}
				removed = append(removed, k)
			}
			if a.json {
				return o.JSON(map[string]any{"project": proj, "removed": removed})
			}
			for _, k := range removed {
				o.Printf("Removed %s from project %s.\n", k, proj)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&projectFlag, "project", "p", "", "project (default: $APOGEE_PROJECT)")
	return cmd
}
