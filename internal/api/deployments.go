package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/deploy"
)

// deployment returns a deployment and its project if u may see them.
func (a *API) deployment(r *http.Request, u *apogee.User, id string) (*apogee.Deployment, *apogee.Project, error) {
	notFound := apogee.Errorf(apogee.ENOTFOUND, "deployment %q not found; list them with `apogee deployments list --project NAME`", id)
	d, err := a.store.DeploymentByID(r.Context(), id)
	if errors.Is(err, apogee.ErrNotFound) {
		return nil, nil, notFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("api: look up deployment %q: %w", id, err)
	}
	p, err := a.store.ProjectByID(r.Context(), d.ProjectID)
	if errors.Is(err, apogee.ErrNotFound) {
		return nil, nil, notFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("api: look up project of deployment %q: %w", id, err)
	}
	if !p.MayAccess(u) {
		return nil, nil, notFound
	}
	return d, p, nil
}

func (a *API) view(d *apogee.Deployment, p *apogee.Project) *apogee.DeploymentView {
	return &apogee.DeploymentView{
		Deployment: d,
		Project:    p.Name,
		URL:        a.siteURL(d.Host),
		Production: p.ProductionID == d.ID,
	}
}

func (a *API) listDeployments(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	p, err := a.project(r, u, r.PathValue("name"))
	if err != nil {
		return err
	}
	limit := 20
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return apogee.Errorf(apogee.EINVALID, "limit %q must be a number from 1 to 1000", s)
		}
		limit = n
	}
	ds, err := a.store.ListDeployments(r.Context(), p.ID, limit)
	if err != nil {
		return fmt.Errorf("api: list deployments: %w", err)
	}
	views := make([]*apogee.DeploymentView, len(ds))
	for i, d := range ds {
		views[i] = a.view(d, p)
	}
	writeJSON(w, http.StatusOK, map[string]any{"deployments": views})
	return nil
}

func (a *API) getDeployment(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	d, p, err := a.deployment(r, u, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.view(d, p))
	return nil
}

// createDeployment is step one of the deploy protocol: the client sends
// the manifest; the server records it and answers which blobs it lacks.
func (a *API) createDeployment(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	p, err := a.project(r, u, r.PathValue("name"))
	if err != nil {
		return err
	}
	var req apogee.CreateDeploymentRequest
	if err := decode(w, r, maxManifestBody, &req); err != nil {
		return err
	}
	switch req.Target {
	case "":
		req.Target = apogee.TargetPreview
	case apogee.TargetPreview, apogee.TargetProduction:
	default:
		return apogee.Errorf(apogee.EINVALID, "target %q must be \"production\" or \"preview\"", req.Target)
	}
	files, err := apogee.ValidateManifest(req.Files, a.maxFile)
	if err != nil {
		return err
	}
	if err := a.checkStorage(r.Context(), p.OwnerID, files); err != nil {
		return err
	}
	hashes := distinctHashes(files)
	id := apogee.NewID()
	d := &apogee.Deployment{
		ID:        id,
		ProjectID: p.ID,
		Status:    apogee.StatusUploading,
		Target:    req.Target,
		Host:      apogee.DeploymentHost(p.Name, id),
		CreatedBy: u.ID,
		CreatedAt: a.now().UTC(),
	}
	missing, err := a.blobs.Missing(r.Context(), hashes)
	if err != nil {
		return fmt.Errorf("api: check blobs: %w", err)
	}
	if err := a.store.CreateDeployment(r.Context(), d, files); err != nil {
		return fmt.Errorf("api: create deployment: %w", err)
	}
	a.log.Info("deployment created", "project", p.Name, "deployment", d.ID, "files", len(files), "missing", len(missing))
	v := a.view(d, p)
	v.Missing = missing
	if v.Missing == nil {
		v.Missing = []string{}
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// uploadFile is step two: one PUT per missing blob, verified against its
// hash as it arrives. Only hashes of the deployment's own manifest are
// taken, and only while it is uploading.
func (a *API) uploadFile(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	d, _, err := a.deployment(r, u, r.PathValue("id"))
	if err != nil {
		return err
	}
	hash := r.PathValue("sha256")
	if !apogee.ValidHash(hash) {
		return apogee.Errorf(apogee.EINVALID, "%q is not a SHA-256: send 64 lower-case hex digits", hash)
	}
	if d.Status != apogee.StatusUploading {
		return apogee.Errorf(apogee.ECONFLICT, "deployment %s is %s and takes no more files; start a new deployment", d.ID, d.Status)
	}
	ok, err := a.store.HasFile(r.Context(), d.ID, hash)
	if err != nil {
		return fmt.Errorf("api: check manifest: %w", err)
	}
	if !ok {
		return apogee.Errorf(apogee.EINVALID, "sha256 %s is not in deployment %s's manifest", hash, d.ID)
	}
	if r.ContentLength > a.maxFile {
		return apogee.Errorf(apogee.ETOOLARGE, "file is %d bytes; the limit is %d", r.ContentLength, a.maxFile)
	}
	body := http.MaxBytesReader(w, r.Body, a.maxFile+1)
	n, err := a.blobs.Put(r.Context(), hash, body, a.maxFile)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return apogee.Errorf(apogee.ETOOLARGE, "file is larger than the limit of %d bytes", a.maxFile)
		}
		if c := apogee.ErrorCode(err); c == apogee.EINVALID || c == apogee.ETOOLARGE {
			return err
		}
		return fmt.Errorf("api: store blob %s: %w", hash, err)
	}
	a.metrics.uploadBytes.Add(float64(n))
	a.metrics.uploadFiles.Inc()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// finalize is step three: once every blob is stored the deployment becomes
// ready, and for production also live, in one transaction.
func (a *API) finalize(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	d, p, err := a.deployment(r, u, r.PathValue("id"))
	if err != nil {
		return err
	}
	if d.Status != apogee.StatusUploading {
		return apogee.Errorf(apogee.ECONFLICT, "deployment %s is %s already; it cannot be finalized again", d.ID, d.Status)
	}
	files, err := a.store.DeploymentFiles(r.Context(), d.ID)
	if err != nil {
		return fmt.Errorf("api: read manifest: %w", err)
	}
	missing, err := a.blobs.Missing(r.Context(), distinctHashes(files))
	if err != nil {
		return fmt.Errorf("api: check blobs: %w", err)
	}
	if len(missing) > 0 {
		return &apogee.Error{
			Code:    apogee.EMISSING,
			Message: fmt.Sprintf("%d files of deployment %s are not uploaded yet; upload them and finalize again", len(missing), d.ID),
			Data:    map[string]any{"missing": missing},
		}
	}
	if err := a.prepare(r, d, p, files); err != nil {
		return err
	}
	promote := d.Target == apogee.TargetProduction
	d, err = a.store.FinalizeDeployment(r.Context(), d.ID, a.now().UTC(), promote)
	if err != nil {
		if apogee.ErrorCode(err) == apogee.ECONFLICT {
			return err
		}
		return fmt.Errorf("api: finalize deployment: %w", err)
	}
	a.publish(r.Context(), apogee.Event{Type: apogee.EventDeploymentReady, ProjectID: p.ID, Project: p.Name, DeploymentID: d.ID, Host: d.Host})
	if promote {
		p.ProductionID = d.ID
		a.publish(r.Context(), apogee.Event{Type: apogee.EventAliasChanged, ProjectID: p.ID, Project: p.Name, DeploymentID: d.ID})
		a.domainsFollow(r.Context(), p)
	}
	a.metrics.deploys.WithLabelValues(d.Target).Inc()
	a.log.Info("deployment ready", "project", p.Name, "deployment", d.ID, "production", promote)
	writeJSON(w, http.StatusOK, a.view(d, p))
	return nil
}

// prepare readies an uploading deployment for serving (see
// deploy.Prepare): routing rules compiled with the project's serve
// settings, precompressed variants, the settings snapshot. An invalid
// config file ends the deployment in status error with the reason, leaves
// production alone and answers EINVALID naming the file and rule.
func (a *API) prepare(r *http.Request, d *apogee.Deployment, p *apogee.Project, files []apogee.File) error {
	rep, err := deploy.Prepare(r.Context(), a.blobs, a.store, d.ID, files, p.Settings.Serve)
	if apogee.ErrorCode(err) == apogee.EINVALID {
		reason := apogee.ErrorMessage(err)
		if _, ferr := a.store.FailDeployment(r.Context(), d.ID, reason); ferr != nil {
			a.log.Error("mark deployment failed", "project", p.Name, "deployment", d.ID, "err", ferr)
		}
		a.log.Info("deployment failed", "project", p.Name, "deployment", d.ID, "reason", reason)
		a.publish(r.Context(), apogee.Event{Type: apogee.EventDeploymentFailed, ProjectID: p.ID, Project: p.Name, DeploymentID: d.ID})
		return err
	}
	if err != nil {
		return fmt.Errorf("api: prepare deployment %s: %w", d.ID, err)
	}
	c := rep.Compress
	a.log.Info("deployment prepared", "project", p.Name, "deployment", d.ID, "rules", rep.Rules,
		"compressed", c.Compressed, "variants", c.Variants, "reused", c.Reused, "bytes_in", c.BytesIn, "took", c.Took)
	return nil
}

func (a *API) promote(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	p, err := a.project(r, u, r.PathValue("name"))
	if err != nil {
		return err
	}
	var req apogee.PromoteRequest
	if err := decode(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	if req.DeploymentID == "" {
		return apogee.Errorf(apogee.EINVALID, "send the \"deployment_id\" to promote")
	}
	return a.movePointer(w, r, p, req.DeploymentID, "promote")
}

func (a *API) rollback(w http.ResponseWriter, r *http.Request, u *apogee.User) error {
	p, err := a.project(r, u, r.PathValue("name"))
	if err != nil {
		return err
	}
	var req apogee.PromoteRequest
	if r.ContentLength != 0 {
		if err := decode(w, r, maxJSONBody, &req); err != nil {
			return err
		}
	}
	if req.DeploymentID != "" {
		return a.movePointer(w, r, p, req.DeploymentID, "rollback")
	}
	d, err := a.store.Rollback(r.Context(), p.ID)
	if err != nil {
		if c := apogee.ErrorCode(err); c == apogee.ECONFLICT || c == apogee.ENOTFOUND {
			return err
		}
		return fmt.Errorf("api: rollback: %w", err)
	}
	return a.aliasMoved(w, r, p, d, "rollback")
}

// movePointer points production at the project's deployment id.
func (a *API) movePointer(w http.ResponseWriter, r *http.Request, p *apogee.Project, id, action string) error {
	err := a.store.SetProduction(r.Context(), p.ID, id)
	switch {
	case errors.Is(err, apogee.ErrNotFound):
		return apogee.Errorf(apogee.ENOTFOUND, "deployment %q is not one of project %q's; list them with `apogee deployments list --project %s`", id, p.Name, p.Name)
	case apogee.ErrorCode(err) == apogee.ECONFLICT:
		return apogee.Errorf(apogee.ECONFLICT, "deployment %q is not ready; only ready deployments can serve production", id)
	case err != nil:
		return fmt.Errorf("api: %s: %w", action, err)
	}
	d, err := a.store.DeploymentByID(r.Context(), id)
	if err != nil {
		return fmt.Errorf("api: %s: %w", action, err)
	}
	return a.aliasMoved(w, r, p, d, action)
}

func (a *API) aliasMoved(w http.ResponseWriter, r *http.Request, p *apogee.Project, d *apogee.Deployment, action string) error {
	p.ProductionID = d.ID
	a.publish(r.Context(), apogee.Event{Type: apogee.EventAliasChanged, ProjectID: p.ID, Project: p.Name, DeploymentID: d.ID})
	a.domainsFollow(r.Context(), p)
	a.metrics.aliasMoves.WithLabelValues(action).Inc()
	a.log.Info("production moved", "action", action, "project", p.Name, "deployment", d.ID)
	writeJSON(w, http.StatusOK, a.view(d, p))
	return nil
}

// distinctHashes returns the hashes of a manifest, each once, in order.
func distinctHashes(files []apogee.File) []string {
	seen := make(map[string]struct{}, len(files))
	hashes := make([]string, 0, len(files))
	for _, f := range files {
		if _, ok := seen[f.SHA256]; !ok {
			seen[f.SHA256] = struct{}{}
			hashes = append(hashes, f.SHA256)
		}
	}
	return hashes
}
