package dashboard

import (
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/apogee-dev/apogee"
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
	d.render(w, r, http.StatusOK, "deployment", s, "Deployment "+v.ID, map[string]any{
		"D": row(v, d.now()), "Lines": lines, "Live": apogee.Building(v.Status), "LastSeq": last,
		"Truncated": len(lines) == maxPageLines,
		"Files":     rows, "FileCount": len(files), "MoreFiles": len(files) > len(shown),
	})
	return nil
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
	logs.ServeSSE(w, r, d.store, d.hub, v.ID, after, logs.DeploymentStatus(d.store, v.ID), d.log)
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
