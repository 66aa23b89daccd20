package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
)

// cliError is an error found by the CLI itself, with a code for --json
// and an optional suggestion of what to do next.
type cliError struct {
	code string
	msg  string
	hint string
	err  error
}

func (e *cliError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *cliError) Unwrap() error      { return e.err }
func (e *cliError) Suggestion() string { return e.hint }

var errNoServer = &cliError{
	code: "not_configured",
	msg:  "no Apogee server configured",
	hint: "Run `apogee login --server http://localhost:8080` (your server's URL), or set APOGEE_SERVER.",
}

// reported is an error whose result the command has printed already (a
// failed build's JSON object): the process exits non-zero and nothing
// more is printed.
type reported struct{ err error }

func (r *reported) Error() string { return r.err.Error() }
func (r *reported) Unwrap() error { return r.err }

// withHint attaches a suggestion to err when its code is code, unless
// the message already names the suggested command (in full).
func withHint(err error, code, hint string) error {
	if err == nil || apogee.ErrorCode(err) != code {
		return err
	}
	if _, rest, ok := strings.Cut(hint, "`apogee "); ok {
		cmd, _, _ := strings.Cut(rest, "`")
		if strings.Contains(apogee.ErrorMessage(err), "apogee "+cmd) {
			return err
		}
	}
	return &hinted{err: err, hint: hint}
}

// hinted is an error with a suggestion printed under it.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string      { return h.err.Error() }
func (h *hinted) Unwrap() error      { return h.err }
func (h *hinted) Suggestion() string { return h.hint }

// projectHint suggests how to find a project that was not found.
func projectHint(err error) error {
	return withHint(err, apogee.ENOTFOUND, "List your projects with `apogee projects list`.")
}

func usageError(cmd *cobra.Command, err error) error {
	return &cliError{code: "invalid", msg: err.Error(), hint: fmt.Sprintf("Run `%s --help` for usage.", cmd.CommandPath())}
}

// args wraps a cobra argument check so that its error suggests --help.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError(cmd, err)
		}
		return nil
	}
}

// describe returns the code, message and suggestion to show for err.
func describe(err error, server string) (code, msg, hint string) {
	var s interface{ Suggestion() string }
	if errors.As(err, &s) {
		hint = s.Suggestion()
	}
	var ce *cliError
	var ae *apogee.Error
	var se *client.StatusError
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled", "interrupted", ""
	case errors.As(err, &ce):
		code, msg = ce.code, ce.Error()
	case errors.As(err, &ae):
		code, msg = ae.Code, ae.Message
	case errors.As(err, &se):
		code, msg = "bad_response", err.Error()
		if hint == "" {
			hint = fmt.Sprintf("Is %s an Apogee server? Check --server or APOGEE_SERVER.", orDash(server))
		}
	case errors.Is(err, syscall.ECONNREFUSED):
		code, msg = "unreachable", fmt.Sprintf("cannot connect to %s: connection refused", orDash(server))
		if hint == "" {
			hint = "Is the server running? Start it with `apogee server`."
		}
	case errors.As(err, &ne):
		code, msg = "unreachable", err.Error()
		if hint == "" {
			hint = "Check the server URL: --server, APOGEE_SERVER or `apogee login --server URL`."
		}
	default:
		code, msg = "error", err.Error()
	}
	if hint == "" && code == apogee.ETOOMANY {
		hint = "Wait a while and try again; an API token (apogee tokens create) signs in without a password."
	}
	if hint == "" && code == apogee.EQUOTA {
		hint = "See your plan's limits and usage with `apogee usage`."
	}
	if hint == "" && code == apogee.EUNAUTHORIZED {
		u := server
		if u == "" {
			u = "URL"
		}
		hint = fmt.Sprintf("Run `apogee login --server %s`, or set APOGEE_TOKEN (which, if set, overrides the saved token).", u)
	}
	return code, msg, hint
}

// printError prints err for people on stderr, or as one JSON object on
// stdout with --json.
func printError(cmd, root *cobra.Command, err error) {
	if r := (*reported)(nil); errors.As(err, &r) {
		return
	}
	asJSON, _ := root.PersistentFlags().GetBool("json")
	server, _ := root.PersistentFlags().GetString("server")
	if server == "" {
		server = os.Getenv("APOGEE_SERVER")
	}
	if server == "" {
		if c, err := LoadConfig(); err == nil {
			server = c.Server
		}
	}
	code, msg, hint := describe(err, normalizeServer(server))
	if asJSON {
		var body struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		body.Error.Code, body.Error.Message = code, msg
		b, _ := json.MarshalIndent(body, "", "  ")
		fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
		return
	}
	w := cmd.ErrOrStderr()
	fmt.Fprintf(w, "Error: %s\n", sentence(msg))
	if hint != "" {
		fmt.Fprintln(w, hint)
	}
}
