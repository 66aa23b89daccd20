package dashboard

import (
	"bufio"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/ansi"
	"github.com/apogee-dev/apogee/internal/logs"
)

// maxPageLines is how many stored log lines the page itself shows; the
// rest of a longer log is linked as the API's JSON.
const maxPageLines = 5000

// maxPageFiles is how many files of a deployment its page lists.
const maxPageFiles = 1000

// fileRow is one file of a deployment as its page lists it: opened on
// the deployment's own URL.
type fileRow struct {
	apogee.File
	Type string
	Open string
}

// contentType names a file's type by its extension, as the edge serves
// it.
func contentType(p string) string {
	if t := mime.TypeByExtension(path.Ext(p)); t != "" {
		t, _, _ = strings.Cut(t, ";")
		return t
	}
	return "application/octet-stream"
}

// escapePath escapes each segment of a manifest path for a URL.
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// deployment returns the deployment of the request's path if the user
// may see it (the service decides: another user's is a 404).
func (d *Dashboard) deployment(r *http.Request) (*apogee.DeploymentView, error) {
	return d.svc.Deployments.Deployment(r.Context(), r.PathValue("id"))
}

// deploymentPage shows a deployment and its build log: the stored lines
// in the page, then, while it builds, the rest live (deploymentLog).
func (d *Dashboard) deploymentPage(w http.ResponseWriter, r *http.Request, s *session) error {
	v, err := d.deployment(r)
	if err != nil {
		return err
	}
	lines, err := d.store.Logs(r.Context(), v.ID, 0, maxPageLines)
	if err != nil {
		return errorf("logs of %s: %w", v.ID, err)
	}
	var last int64
	if len(lines) > 0 {
		last = lines[len(lines)-1].Seq
	}
	files, err := d.store.DeploymentFiles(r.Context(), v.ID)
	if err != nil {
		return errorf("files of %s: %w", v.ID, err)
	}
	shown := files[:min(len(files), maxPageFiles)]
	rows := make([]fileRow, len(shown))
	for i, f := range shown {
		rows[i] = fileRow{File: f, Type: contentType(f.Path), Open: strings.TrimSuffix(v.URL, "/") + "/" + escapePath(f.Path)}
	}
	view := logView(lines)
	var failure *buildFailure
	if v.Status == apogee.StatusError {
		failure = failureOf(v.Error, view)
	}
	// The stable URL of the deployment's branch, if it has one.
	var branch *apogee.BranchURL
	if v.Branch != "" {
		p, err := d.svc.Projects.Project(r.Context(), v.Project)
		if err != nil {
			return err
		}
		for i := range p.Branches {
			if p.Branches[i].Branch == v.Branch {
				branch = &p.Branches[i]
			}
		}
	}
	d.render(w, r, http.StatusOK, "deployment", s, "Deployment "+v.ID, map[string]any{
		"Branch": branch,
		"D":      row(v, d.now()), "Lines": view, "Live": apogee.Building(v.Status), "LastSeq": last,
		"Truncated": len(lines) == maxPageLines, "Failure": failure,
		"Files": rows, "FileCount": len(files), "MoreFiles": len(files) > len(shown),
	})
	return nil
}

// deploymentLogText serves the whole build log as a text file to
// download: one line each, its time (UTC, milliseconds), its stream and
// its text without terminal colours.
func (d *Dashboard) deploymentLogText(w http.ResponseWriter, r *http.Request, s *session) error {
	v, err := d.deployment(r)
	if err != nil {
		return err
	}
	lines, err := d.store.Logs(r.Context(), v.ID, 0, 0)
	if err != nil {
		return errorf("logs of %s: %w", v.ID, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+v.Project+"-"+v.ID+`.log"`)
	h.Set("Cache-Control", "no-store")
	bw := bufio.NewWriter(w)
	for _, l := range lines {
		fmt.Fprintf(bw, "%s %-6s %s\n", l.Time.UTC().Format("2006-01-02T15:04:05.000Z"), l.Stream, ansi.Strip(l.Text))
	}
	return bw.Flush()
}

// logLine is a build log line as the page shows it: its text as HTML
// (terminal colours as spans, escaped) and whether it is the first line
// that reads as an error.
type logLine struct {
	apogee.LogLine
	HTML       template.HTML `json:"html"`
	FirstError bool          `json:"-"`
}

func newLogLine(l apogee.LogLine) logLine {
	return logLine{LogLine: l, HTML: template.HTML(ansi.HTML(l.Text))}
}

func logView(lines []apogee.LogLine) []logLine {
	out := make([]logLine, len(lines))
	for i, l := range lines {
		out[i] = newLogLine(l)
	}
	return out
}

// buildFailure is what the page says first about a failed build: the
// reason (which names the command and its exit code), the step that
// failed, and the step's last lines of output, which usually say why.
type buildFailure struct {
	Reason string
	Step   string // "Building: npm run build"; "" when the log names none
	Tail   []logLine
	// FirstError is the seq of the first line that reads as an error
	// (0: none), where the page opens the log.
	FirstError int64
}

// tailLines is how many of the failing step's last lines the summary
// shows.
const tailLines = 12

// errorLine matches a build tool's error lines: "error", "ERR!",
// "fatal", "failed" as words, and TypeScript's "error TS2345".
var errorLine = regexp.MustCompile(`(?i)(^|[^a-z0-9_])(error|errors?:|err!|fatal|failed)([^a-z0-9_]|$)`)

// failureOf reads a failed build's log: the last step the builder
// started ("Installing: …", "Building: …"), its last lines, and the
// first error line in it (else in the whole log), which it marks.
func failureOf(reason string, lines []logLine) *buildFailure {
	f := &buildFailure{Reason: reason}
	start := 0
	for i, l := range lines {
		if l.Stream != apogee.StreamSystem {
			continue
		}
		for _, p := range []string{"Installing: ", "Building: ", "Pruning devDependencies: ", "Release command: "} {
			if strings.HasPrefix(l.Text, p) {
				f.Step, start = l.Text, i+1
			}
		}
	}
	var out []logLine
	for _, l := range lines[start:] {
		if l.Stream != apogee.StreamSystem && strings.TrimSpace(ansi.Strip(l.Text)) != "" {
			out = append(out, l)
		}
	}
	f.Tail = out[max(0, len(out)-tailLines):]
	first := -1
	for _, from := range []int{start, 0} {
		for i := from; i < len(lines) && first < 0; i++ {
			if l := lines[i]; l.Stream != apogee.StreamSystem && errorLine.MatchString(ansi.Strip(l.Text)) {
				first = i
			}
		}
	}
	if first < 0 {
		// No line says "error": the step's last output, else the end.
		switch {
		case len(f.Tail) > 0:
			first = slices.IndexFunc(lines, func(l logLine) bool { return l.Seq == f.Tail[0].Seq })
		case len(lines) > 0:
			first = len(lines) - 1
		}
	}
	if first >= 0 {
		lines[first].FirstError = true
		f.FirstError = lines[first].Seq
	}
	return f
}

// deploymentLog streams the log lines after ?after=SEQ (or the
// Last-Event-ID a reconnecting EventSource sends) as Server-Sent Events
// until the build ends, then sends "end" with the final status. The
// events are those of GET /api/v1/deployments/{id}/logs?follow=1.
func (d *Dashboard) deploymentLog(w http.ResponseWriter, r *http.Request, s *session) error {
	v, err := d.deployment(r)
	if err != nil {
		return err
	}
	after, err := logs.After(r)
	if err != nil {
		return err
	}
	logs.ServeSSEAs(w, r, d.store, d.hub, v.ID, after, logs.DeploymentStatus(d.store, v.ID), d.log,
		func(l apogee.LogLine) any { return newLogLine(l) })
	return nil
}

func (d *Dashboard) cancel(w http.ResponseWriter, r *http.Request, s *session) error {
	v, err := d.deployment(r)
	if err != nil {
		return err
	}
	_, err = d.svc.Builds.Cancel(r.Context(), v.ID)
	switch {
	case apogee.ErrorCode(err) == apogee.EINTERNAL:
		return err
	case err != nil:
		setFlash(w, r, "error", apogee.ErrorMessage(err))
	default:
		setFlash(w, r, "ok", "Build canceled.")
	}
	return seeOther(w, r, "/deployments/"+url.PathEscape(v.ID))
}
