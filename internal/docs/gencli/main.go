// Command gencli writes the CLI reference (internal/docs/content/cli.md)
// from the apogee command tree; `go generate ./internal/docs` runs it.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/apogee-dev/apogee/internal/docs"
	"github.com/apogee-dev/apogee/internal/server"
)

func main() {
	out := flag.String("o", docs.CLIFile, "file to write")
	flag.Parse()
	ref := docs.CLIReference(docs.ReferenceRoot(server.NewRoot))
	if err := os.WriteFile(*out, append(ref, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gencli:", err)
		os.Exit(1)
	}
}
