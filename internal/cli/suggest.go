package cli

import (
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
)

// strictGroups makes every command that only groups others (root,
// `projects`, `admin`, …) refuse an argument that names none of its
// commands, suggesting the closest ones, instead of printing its help and
// exiting 0: `apogee projects craete` fails and says "Did you mean
// `apogee projects create`?". Without arguments a group prints its help.
// Execute calls it on the whole tree, so commands added after New (the
// server's) are covered too.
func strictGroups(cmd *cobra.Command) {
	cmd.SuggestionsMinimumDistance = 2
	if cmd.HasSubCommands() && !cmd.Runnable() {
		cmd.Args = unknownSubcommand
		cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
	for _, c := range cmd.Commands() {
		strictGroups(c)
	}
}

// unknownSubcommand is the Args check of a group command.
func unknownSubcommand(cmd *cobra.Command, argv []string) error {
	if len(argv) == 0 {
		return nil
	}
	hint := ""
	switch s := cmd.SuggestionsFor(argv[0]); len(s) {
	case 0:
	case 1:
		hint = fmt.Sprintf("Did you mean `%s %s`? ", cmd.CommandPath(), s[0])
	default:
		hint = "Did you mean one of these: "
		for i, name := range s {
			if i > 0 {
				hint += ", "
			}
			hint += "`" + cmd.CommandPath() + " " + name + "`"
		}
		hint += "? "
	}
	hint += fmt.Sprintf("Run `%s --help` to see its commands.", cmd.CommandPath())
	return &cliError{code: "invalid", msg: fmt.Sprintf("unknown command %q for %q", argv[0], cmd.CommandPath()), hint: hint}
}

// sentence starts s with a capital letter: messages for people do, while
// errors inside the program follow Go's lower-case habit.
func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || !unicode.IsLower(r) {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}
