package server

import (
	"github.com/spf13/cobra"

	"github.com/apogee-dev/apogee/internal/cli"
)

// NewRoot returns the apogee command with every subcommand: the CLI's and
// the server's. main runs it; the docs' CLI reference is generated from it
// (internal/docs).
func NewRoot() *cobra.Command {
	root := cli.New()
	root.AddCommand(NewCommand())
	// `apogee admin` has the CLI's API commands (plans, users); the
	// offline ones (create-user) join them.
	offline := NewAdminCommand()
	if admin, _, err := root.Find([]string{"admin"}); err == nil && admin != root {
		admin.AddCommand(offline.Commands()...)
	} else {
		root.AddCommand(offline)
	}
	return root
}
