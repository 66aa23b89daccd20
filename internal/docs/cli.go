package docs

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// CLIFile is the generated CLI reference, relative to this package.
const CLIFile = "content/cli.md"

// ReferenceRoot builds the command tree with newRoot in an environment
// that makes defaults the same on every machine (the data folder's
// default shows as ~/.local/share/apogee), for CLIReference.
func ReferenceRoot(newRoot func() *cobra.Command) *cobra.Command {
	restore := setenv(map[string]string{"HOME": "~", "XDG_DATA_HOME": ""})
	defer restore()
	return newRoot()
}

func setenv(vars map[string]string) (restore func()) {
	old := map[string]*string{}
	for k, v := range vars {
		if o, ok := os.LookupEnv(k); ok {
			old[k] = &o
		} else {
			old[k] = nil
		}
		os.Setenv(k, v)
	}
	return func() {
		for k, v := range old {
			if v == nil {
				os.Unsetenv(k)
			} else {
				os.Setenv(k, *v)
			}
		}
	}
}

// CLIReference writes the Markdown reference of root's command tree:
// every visible command, depth first in the order cobra lists them,
// with its usage, description, examples and flags.
func CLIReference(root *cobra.Command) []byte {
	var b bytes.Buffer
	b.WriteString("<!-- Generated from the command tree by `go generate ./internal/docs`; DO NOT EDIT. -->\n\n")
	b.WriteString("# CLI reference\n\n")
	fmt.Fprintf(&b, "One binary is the server and the CLI. %s\n\n", sentence(root.Short))
	b.WriteString("Every command takes the global flags below, and `--json` prints one JSON object on stdout for scripts. ")
	b.WriteString("The server and token come from the flags, then `APOGEE_SERVER` and `APOGEE_TOKEN`, then the file `apogee login` writes. ")
	b.WriteString("A command that fails exits with status 1 and says what to do next.\n\n")
	b.WriteString("## Global flags\n\n")
	flagTable(&b, root.PersistentFlags())
	b.WriteString("## Commands\n\n")
	walk(root, func(c *cobra.Command) {
		if c == root {
			return
		}
		depth := strings.Count(c.CommandPath(), " ")
		indent := strings.Repeat("  ", depth-1)
		fmt.Fprintf(&b, "%s- [`%s`](#%s): %s\n", indent, c.CommandPath(), anchor(c.CommandPath()), c.Short)
	})
	b.WriteString("\n")
	walk(root, func(c *cobra.Command) {
		if c == root {
			return
		}
		fmt.Fprintf(&b, "## %s\n\n", c.CommandPath())
		fmt.Fprintf(&b, "%s\n\n", sentence(c.Short))
		if c.Runnable() {
			fmt.Fprintf(&b, "```\n%s\n```\n\n", c.UseLine())
		}
		if long := strings.TrimSpace(c.Long); long != "" && long != strings.TrimSpace(c.Short) {
			b.WriteString(prose(long))
		}
		if len(c.Aliases) > 0 {
			fmt.Fprintf(&b, "Aliases: `%s`.\n\n", strings.Join(c.Aliases, "`, `"))
		}
		if ex := strings.TrimRight(c.Example, "\n "); ex != "" {
			fmt.Fprintf(&b, "Examples:\n\n```\n%s\n```\n\n", dedent(ex))
		}
		if c.HasAvailableLocalFlags() {
			flagTable(&b, c.LocalFlags())
		}
		var subs []string
		for _, s := range c.Commands() {
			if s.IsAvailableCommand() {
				subs = append(subs, fmt.Sprintf("[`%s`](#%s)", s.Name(), anchor(s.CommandPath())))
			}
		}
		if len(subs) > 0 {
			fmt.Fprintf(&b, "Subcommands: %s.\n\n", strings.Join(subs, ", "))
		}
	})
	return bytes.TrimRight(b.Bytes(), "\n")
}

// walk calls f for c and each visible command below it, depth first.
func walk(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() {
			walk(s, f)
		}
	}
}

// anchor is the id goldmark gives the heading "## text".
func anchor(text string) string {
	return strings.ReplaceAll(strings.ToLower(text), " ", "-")
}

// sentence ends s with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasSuffix(s, ".") {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

// prose turns a cobra Long text into Markdown: indented lines (commands,
// examples) become code blocks, other lines paragraphs as written.
func prose(long string) string {
	var b strings.Builder
	lines := strings.Split(long, "\n")
	for i := 0; i < len(lines); {
		if isIndented(lines[i]) {
			j := i
			for j < len(lines) && (isIndented(lines[j]) || strings.TrimSpace(lines[j]) == "" && j+1 < len(lines) && isIndented(lines[j+1])) {
				j++
			}
			b.WriteString("```\n" + dedent(strings.Join(lines[i:j], "\n")) + "\n```\n\n")
			i = j
			continue
		}
		j := i
		for j < len(lines) && strings.TrimSpace(lines[j]) != "" && !isIndented(lines[j]) {
			j++
		}
		if j > i {
			b.WriteString(escapeMD(strings.Join(lines[i:j], "\n")) + "\n\n")
		}
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		i = j
	}
	return b.String()
}

func isIndented(l string) bool {
	return strings.HasPrefix(l, "  ") || strings.HasPrefix(l, "\t")
}

// dedent removes the indentation every non-empty line shares.
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	min := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " \t"))
		if min < 0 || n < min {
			min = n
		}
	}
	for i, l := range lines {
		if len(l) >= min && min > 0 {
			lines[i] = l[min:]
		}
	}
	return strings.Join(lines, "\n")
}

// escapeMD keeps prose from turning into Markdown or HTML by accident.
// Code spans (`…`) are kept as written, but for "|", which would end a
// table cell.
func escapeMD(s string) string {
	r := strings.NewReplacer("<", "&lt;", ">", "&gt;", "*", `\*`, "_", `\_`, "|", `\|`)
	parts := strings.Split(s, "`")
	for i, p := range parts {
		if i%2 == 0 || i == len(parts)-1 {
			parts[i] = r.Replace(p)
		} else {
			parts[i] = strings.ReplaceAll(p, "|", `\|`)
		}
	}
	return strings.Join(parts, "`")
}

// flagTable writes fs's visible flags as a table.
func flagTable(b *bytes.Buffer, fs *pflag.FlagSet) {
	b.WriteString("| Flag | Default | Description |\n|---|---|---|\n")
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		name := "`--" + f.Name
		if f.Value.Type() != "bool" {
			name += " " + f.Value.Type()
		}
		name += "`"
		if f.Shorthand != "" {
			name = "`-" + f.Shorthand + "`, " + name
		}
		def := ""
		switch {
		case f.Value.Type() == "bool" && f.DefValue == "false":
		case f.DefValue == "" || f.DefValue == "[]" || f.DefValue == "0" && f.Value.Type() != "int":
		default:
			def = "`" + f.DefValue + "`"
		}
		usage := strings.ReplaceAll(escapeMD(f.Usage), "\n", " ")
		if f.Deprecated != "" {
			usage += " (deprecated: " + escapeMD(f.Deprecated) + ")"
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", name, def, usage)
	})
	b.WriteString("\n")
}
