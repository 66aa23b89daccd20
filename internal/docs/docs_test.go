package docs_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/apogee-dev/apogee/internal/docs"
	"github.com/apogee-dev/apogee/internal/server"
)

// TestCLIReferenceIsCurrent fails when the committed CLI reference is not
// what the command tree says: a command or flag changed without
// `go generate ./internal/docs`.
func TestCLIReferenceIsCurrent(t *testing.T) {
	want := append(docs.CLIReference(docs.ReferenceRoot(server.NewRoot)), '\n')
	got, err := os.ReadFile(docs.CLIFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s is out of date; run `go generate ./internal/docs` and commit it.\nfirst difference, line %d:\n  file:     %q\n  commands: %q", docs.CLIFile, i+1, g, w)
			}
		}
	}
}

// TestCLIReferenceHasEveryCommand checks the reference against the tree
// itself: every visible command has its heading and every flag its row.
func TestCLIReferenceHasEveryCommand(t *testing.T) {
	root := docs.ReferenceRoot(server.NewRoot)
	ref := string(docs.CLIReference(root))
	n := 0
	for _, c := range allCommands(root) {
		n++
		if !strings.Contains(ref, "\n## "+c.CommandPath()+"\n") {
			t.Errorf("no section for %q", c.CommandPath())
		}
		for _, name := range flagNames(c) {
			if !strings.Contains(ref, "`--"+name) {
				t.Errorf("%s: flag --%s missing", c.CommandPath(), name)
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d commands found; the walk is broken", n)
	}
}

func TestPagesRender(t *testing.T) {
	pages, err := docs.Pages()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		html := string(p.HTML)
		if !strings.Contains(html, "<h1") || len(p.Headings) == 0 {
			t.Errorf("page %q has no title or no sections", p.Slug)
		}
		for _, h := range p.Headings {
			if !strings.Contains(html, `id="`+h.ID+`"`) || !strings.Contains(html, `href="#`+h.ID+`"`) || strings.Contains(h.Text, "#") {
				t.Errorf("page %q: heading %q (%s) has no id or anchor link, or its text has the anchor", p.Slug, h.Text, h.ID)
			}
		}
	}
}

// allCommands are root's visible commands below it, depth first.
func allCommands(root *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, c := range root.Commands() {
		if c.IsAvailableCommand() {
			out = append(out, c)
			out = append(out, allCommands(c)...)
		}
	}
	return out
}

func flagNames(c *cobra.Command) []string {
	var names []string
	c.LocalFlags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	})
	return names
}
