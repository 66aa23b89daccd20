// Command apogee is the whole platform: the server and the CLI.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/apogee-dev/apogee/internal/cli"
	"github.com/apogee-dev/apogee/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := server.NewRoot()
	code := cli.Execute(ctx, root)
	stop()
	os.Exit(code)
}
