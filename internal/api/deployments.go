package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
)

// Deployments: the deploy protocol (manifest, missing files, finalize),
// the production alias, builds and their logs.

func (a *API) listDeployments(w http.ResponseWriter, r *http.Request) error {
	limit, err := limitParam(r, 20)
	if err != nil {
		return err
	}
	ds, err := a.svc.Deployments.Deployments(r.Context(), r.PathValue("name"), limit)
	return answer(w, http.StatusOK, map[string]any{"deployments": ds}, err)
}

func (a *API) getDeployment(w http.ResponseWriter, r *http.Request) error {
	v, err := a.svc.Deployments.Deployment(r.Context(), r.PathValue("id"))
	return answer(w, http.StatusOK, v, err)
}

// createDeployment is step one of the deploy protocol: the manifest in,
// the hashes the server lacks out.
func (a *API) createDeployment(w http.ResponseWriter, r *http.Request) error {
	var req apogee.CreateDeploymentRequest
	if err := decode(w, r, maxManifestBody, &req); err != nil {
		return err
	}
	v, err := a.svc.Deployments.CreateDeployment(r.Context(), r.PathValue("name"), req)
	return answer(w, http.StatusCreated, v, err)
}

// uploadFile is step two: one PUT per missing blob.
func (a *API) uploadFile(w http.ResponseWriter, r *http.Request) error {
	err := a.svc.Deployments.UploadFile(r.Context(), r.PathValue("id"), r.PathValue("sha256"), r.Body, r.ContentLength)
	return noContent(w, err)
}

// finalize is step three.
func (a *API) finalize(w http.ResponseWriter, r *http.Request) error {
	v, err := a.svc.Deployments.Finalize(r.Context(), r.PathValue("id"))
	return answer(w, http.StatusOK, v, err)
}

func (a *API) promote(w http.ResponseWriter, r *http.Request) error {
	var req apogee.PromoteRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	if req.DeploymentID == "" {
		return apogee.Errorf(apogee.EINVALID, "send the \"deployment_id\" to promote")
	}
	v, err := a.svc.Deployments.Promote(r.Context(), r.PathValue("name"), req.DeploymentID)
	return answer(w, http.StatusOK, v, err)
}

// rollback's body is optional: without a deployment_id production goes
// one step back.
func (a *API) rollback(w http.ResponseWriter, r *http.Request) error {
	var req apogee.PromoteRequest
	if r.ContentLength != 0 {
		if err := decode(w, r, maxJSONBody, &req); err != nil {
			return err
		}
	}
	v, err := a.svc.Deployments.Rollback(r.Context(), r.PathValue("name"), req.DeploymentID)
	return answer(w, http.StatusOK, v, err)
}

func (a *API) queueBuild(w http.ResponseWriter, r *http.Request) error {
	var req apogee.BuildRequest
	if r.ContentLength != 0 {
		if err := decode(w, r, maxJSONBody, &req); err != nil {
			return err
		}
	}
	v, err := a.svc.Builds.QueueBuild(r.Context(), r.PathValue("name"), req)
	return answer(w, http.StatusCreated, v, err)
}

func (a *API) redeploy(w http.ResponseWriter, r *http.Request) error {
	var req apogee.RedeployRequest
	if r.ContentLength != 0 {
		if err := decode(w, r, maxJSONBody, &req); err != nil {
			return err
		}
	}
	v, err := a.svc.Builds.Redeploy(r.Context(), r.PathValue("id"), req)
	return answer(w, http.StatusCreated, v, err)
}

func (a *API) cancelBuild(w http.ResponseWriter, r *http.Request) error {
	v, err := a.svc.Builds.Cancel(r.Context(), r.PathValue("id"))
	return answer(w, http.StatusOK, v, err)
}

// createUpload makes a pre-signed URL, on this server's own host, that
// takes one PUT of a ZIP of the project's source without a token.
func (a *API) createUpload(w http.ResponseWriter, r *http.Request) error {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	v, err := a.svc.Builds.CreateUpload(r.Context(), r.PathValue("name"), scheme+"://"+r.Host)
	return answer(w, http.StatusCreated, v, err)
}

// putUpload receives the ZIP of a pre-signed upload; the URL's expires
// and sig are its credential.
func (a *API) putUpload(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err != nil {
		return apogee.Errorf(apogee.EFORBIDDEN, "the upload URL's signature is missing or wrong; use the upload URL exactly as it was given")
	}
	up, err := a.svc.Builds.PutUpload(r.Context(), r.PathValue("id"), exp, q.Get("sig"), r.Body, r.ContentLength)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": up.ID, "sha256": up.BlobSHA256, "size": up.Size})
	return nil
}

// deploymentLogs returns a deployment's log lines after ?after=SEQ as
// JSON, or, with ?follow=1 or Accept: text/event-stream, streams them as
// Server-Sent Events until the build ends. A reconnecting EventSource
// sends Last-Event-ID, the seq of the last line it got.
func (a *API) deploymentLogs(w http.ResponseWriter, r *http.Request) error {
	d, err := a.svc.Deployments.Deployment(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	after, err := logs.After(r)
	if err != nil {
		return err
	}
	follow := q.Get("follow") == "1" || q.Get("follow") == "true" || strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	if !follow {
		lines, err := a.logs.Logs(r.Context(), d.ID, after, 0)
		if err != nil {
			return fmt.Errorf("api: logs: %w", err)
		}
		if lines == nil {
			lines = []apogee.LogLine{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"lines": lines, "status": d.Status})
		return nil
	}
	logs.ServeSSE(w, r, a.logs, a.hub, d.ID, after, logs.DeploymentStatus(a.logs, d.ID), a.log)
	return nil
}

// answer writes v as JSON with status, or returns err.
func answer(w http.ResponseWriter, status int, v any, err error) error {
	if err != nil {
		return err
	}
	writeJSON(w, status, v)
	return nil
}

// noContent answers 204, or returns err.
func noContent(w http.ResponseWriter, err error) error {
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
