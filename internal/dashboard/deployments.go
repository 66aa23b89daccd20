package dashboard

import (
	"net/http"
	"net/url"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
)

// maxPageLines is how many stored log lines the page itself shows; the
// rest of a longer log is linked as the API's JSON.
const maxPageLines = 5000

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
	d.render(w, r, http.StatusOK, "deployment", s, "Deployment "+v.ID, map[string]any{
		"D": row(v, d.now()), "Lines": lines, "Live": apogee.Building(v.Status), "LastSeq": last,
		"Truncated": len(lines) == maxPageLines,
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
