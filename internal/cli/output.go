package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// output prints a command's result: tables and lines for people, or one
// JSON object with --json. Notes for people go to stderr, so stdout stays
// the result.
type output struct {
	json bool
	out  io.Writer
	err  io.Writer
}

func (a *app) output(cmd *cobra.Command) *output {
	return &output{json: a.json, out: cmd.OutOrStdout(), err: cmd.ErrOrStderr()}
}

// JSON prints v as the command's one JSON object.
func (o *output) JSON(v any) error {
	enc := json.NewEncoder(o.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Println prints a result line on stdout.
func (o *output) Println(args ...any) { fmt.Fprintln(o.out, args...) }

// Printf prints a result on stdout.
func (o *output) Printf(format string, args ...any) { fmt.Fprintf(o.out, format, args...) }

// Notef prints a note for people on stderr; --json hides it.
func (o *output) Notef(format string, args ...any) {
	if !o.json {
		fmt.Fprintf(o.err, format, args...)
	}
}

// Warnf prints a warning on stderr, even with --json.
func (o *output) Warnf(format string, args ...any) {
	fmt.Fprint(o.err, "Warning: "+sentence(fmt.Sprintf(format, args...)))
}

// Table prints rows under a header, aligned.
func (o *output) Table(header []string, rows [][]string) {
	tw := tabwriter.NewWriter(o.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// Fields prints "Key:  value" lines, aligned.
func (o *output) Fields(kv ...string) {
	tw := tabwriter.NewWriter(o.out, 0, 0, 2, ' ', 0)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[i], kv[i+1])
	}
	tw.Flush()
}

// isTerminal reports whether r or w is a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

// formatBytes prints n in binary units, as the dashboard and the plans do:
// "512 B", "1.2 KiB", "3.4 MiB".
func formatBytes(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }

// ago prints how long ago t was: "now", "5 minutes ago", "3 days ago";
// "-" for no time.
func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return humanize.Time(t)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// jsonList prints a list as {"key": [...]}, an empty array rather than
// null when there is nothing.
func jsonList[T any](o *output, key string, items []T) error {
	if items == nil {
		items = []T{}
	}
	return o.JSON(map[string]any{key: items})
}
