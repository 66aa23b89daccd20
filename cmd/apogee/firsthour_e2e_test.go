package main_test

import (
	"regexp"
	"strings"
	"testing"
)

// TestFirstHourSmall: the binary names its commit; create-user without a
// terminal and without a password says what to pass; a typo of a
// subcommand fails with a suggestion.
func TestFirstHourSmall(t *testing.T) {
	w := newWorld(t)
	out, _ := w.cli(true, "--version")
	long, _ := w.cli(true, "version")
	if out != long || !regexp.MustCompile(`^apogee \S+ \(commit [0-9a-f]{12}, \d{4}-\d\d-\d\dT`).MatchString(out) {
		t.Errorf("--version %q, version %q: want the commit and its date", out, long)
	}
	_, errOut := w.cli(false, "admin", "create-user", "--data", w.data, "--email", "me@example.com")
	if !strings.Contains(errOut, "--password") || !strings.Contains(errOut, "--password-stdin") {
		t.Errorf("create-user without a password said %q", errOut)
	}
	_, errOut = w.cli(false, "projects", "craete", "web")
	if !strings.Contains(errOut, "apogee projects create") {
		t.Errorf("projects craete said %q", errOut)
	}
}
