package platform

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/deploy"
)

// deployments implements apogee.DeploymentService.
type deployments struct{ *Platform }

var _ apogee.DeploymentService = deployments{}

func (pl deployments) Deployment(ctx context.Context, id string) (*apogee.DeploymentView, error) {
	_, d, p, err := pl.deployment(ctx, id, needRead)
	if err != nil {
		return nil, err
	}
	return pl.view(d, p), nil
}

func (pl deployments) Deployments(ctx context.Context, project string, limit int) ([]*apogee.DeploymentView, error) {
	_, p, err := pl.project(ctx, project, needRead)
	if err != nil {
		return nil, err
	}
	if limit < 1 || limit > 1000 {
		return nil, apogee.Errorf(apogee.EINVALID, "limit %d must be from 1 to 1000", limit)
	}
	ds, err := pl.store.ListDeployments(ctx, p.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("platform: list deployments: %w", err)
	}
	views := make([]*apogee.DeploymentView, len(ds))
	var prs map[int]*apogee.PullRequest
	for i, d := range ds {
		views[i] = pl.view(d, p)
		if d.PullRequest == 0 {
			continue
		}
		if prs == nil {
			list, err := pl.store.PullRequests(ctx, p.ID)
			if err != nil {
				return nil, fmt.Errorf("platform: list deployments: %w", err)
			}
			prs = make(map[int]*apogee.PullRequest, len(list))
			for _, pr := range list {
				prs[pr.Number] = pr
			}
		}
		if pr := prs[d.PullRequest]; pr != nil {
			views[i].PullRequestTitle, views[i].PullRequestState = pr.Title, pr.State
		}
	}
	return views, nil
}

// CreateDeployment is step one of the deploy protocol: the manifest is
// checked against the owner's storage and recorded, and the answer says
// which blobs the client must send: those the server lacks and those the
// project's owner does not hold (see missingFor). Sizes of held blobs
// must match.
func (pl deployments) CreateDeployment(ctx context.Context, project string, req apogee.CreateDeploymentRequest) (*apogee.DeploymentView, error) {
	u, p, err := pl.project(ctx, project, needChange)
	if err != nil {
		return nil, err
	}
	if k := p.Settings.App.Kind; k != nil && *k == apogee.KindApp && !req.Build {
		// Uploaded files are served as they are: an app's would expose
		// its source and never run. Uploaded as a source folder
		// (req.Build) they are built into a release like a ZIP.
		return nil, apogee.Errorf(apogee.EINVALID, "project %s is an app: it deploys from its source, built on the server (a source folder, a Git repository, git push, or a ZIP), not from prebuilt files", p.Name)
	}
	switch req.Target {
	case "":
		req.Target = apogee.TargetPreview
	case apogee.TargetPreview, apogee.TargetProduction:
	default:
		return nil, apogee.Errorf(apogee.EINVALID, "target %q must be \"production\" or \"preview\"", req.Target)
	}
	files, err := apogee.ValidateManifest(req.Files, pl.cfg.MaxFileSize)
	if err != nil {
		return nil, err
	}
	if err := pl.checkStorage(ctx, p.OwnerID, files); err != nil {
		return nil, err
	}
	if req.Build { // a source folder: refused now if its owner may not build
		if _, _, err := pl.checkBuild(ctx, p); err != nil {
			return nil, err
		}
	}
	id := apogee.NewID()
	d := &apogee.Deployment{
		ID:        id,
		ProjectID: p.ID,
		Status:    apogee.StatusUploading,
		Target:    req.Target,
		Host:      apogee.DeploymentHost(p.Name, id),
		CreatedBy: u.ID,
		CreatedAt: pl.now().UTC(),
	}
	if req.Build {
		d.Source, d.NoCache = apogee.SourceFolder, req.NoCache
	}
	missing, held, err := pl.missingFor(ctx, p.OwnerID, files)
	if err != nil {
		return nil, err
	}
	if err := pl.checkSizes(ctx, p.OwnerID, files, held); err != nil {
		return nil, err
	}
	if err := pl.store.CreateDeployment(ctx, d, files); err != nil {
		return nil, fmt.Errorf("platform: create deployment: %w", err)
	}
	pl.log.Info("deployment created", "project", p.Name, "deployment", d.ID, "files", len(files), "missing", len(missing))
	pl.recordCtx(ctx, p, "deployment.create", d.ID, d.Target)
	v := pl.view(d, p)
	v.Missing = missing
	return v, nil
}

// UploadFile is step two: one blob of the deployment's own manifest,
// verified against its hash as it arrives, only while it is uploading.
// The project's owner holds the blob from then on (the bytes are read
// and hashed even when the store has the blob already).
func (pl deployments) UploadFile(ctx context.Context, id, hash string, r io.Reader, size int64) error {
	_, d, p, err := pl.deployment(ctx, id, needChange)
	if err != nil {
		return err
	}
	if !apogee.ValidHash(hash) {
		return apogee.Errorf(apogee.EINVALID, "%q is not a SHA-256: send 64 lower-case hex digits", hash)
	}
	if d.Status != apogee.StatusUploading {
		return apogee.Errorf(apogee.ECONFLICT, "deployment %s is %s and takes no more files; start a new deployment", d.ID, d.Status)
	}
	ok, err := pl.store.HasFile(ctx, d.ID, hash)
	if err != nil {
		return fmt.Errorf("platform: check manifest: %w", err)
	}
	if !ok {
		return apogee.Errorf(apogee.EINVALID, "sha256 %s is not in deployment %s's manifest", hash, d.ID)
	}
	max := pl.cfg.MaxFileSize
	if size > max {
		return apogee.Errorf(apogee.ETOOLARGE, "file is %d bytes; the limit is %d", size, max)
	}
	n, err := pl.blobs.Put(ctx, hash, r, max)
	if err != nil {
		return fmt.Errorf("platform: store a blob: %w", err)
	}
	if err := pl.store.HoldBlobs(ctx, p.OwnerID, []apogee.HeldBlob{{SHA256: hash, Size: n}}, pl.now().UTC()); err != nil {
		return fmt.Errorf("platform: record a held blob: %w", err)
	}
	pl.metrics.uploadBytes.Add(float64(n))
	pl.metrics.uploadFiles.Inc()
	return nil
}

// Finalize is step three: once every blob is stored the deployment is
// readied for serving and becomes ready, and for production also live.
// A source folder (CreateDeploymentRequest.Build) is queued for a build
// instead.
func (pl deployments) Finalize(ctx context.Context, id string) (*apogee.DeploymentView, error) {
	_, d, p, err := pl.deployment(ctx, id, needChange)
	if err != nil {
		return nil, err
	}
	if d.Status != apogee.StatusUploading {
		return nil, apogee.Errorf(apogee.ECONFLICT, "deployment %s is %s already; it cannot be finalized again", d.ID, d.Status)
	}
	files, err := pl.store.DeploymentFiles(ctx, d.ID)
	if err != nil {
		return nil, fmt.Errorf("platform: read manifest: %w", err)
	}
	missing, held, err := pl.missingFor(ctx, p.OwnerID, files)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, &apogee.Error{
			Code:    apogee.EMISSING,
			Message: fmt.Sprintf("%d files of deployment %s are not uploaded yet; upload them and finalize again", len(missing), d.ID),
			Data:    map[string]any{"missing": missing},
		}
	}
	if err := pl.checkSizes(ctx, p.OwnerID, files, held); err != nil {
		return nil, pl.failUpload(ctx, d, p, err)
	}
	if d.Source == apogee.SourceFolder {
		return pl.queueFolder(ctx, p, d) // sources.go
	}
	if err := pl.prepare(ctx, d, p, files); err != nil {
		if apogee.ErrorCode(err) == apogee.EINVALID { // an invalid config file
			return nil, pl.failUpload(ctx, d, p, err)
		}
		return nil, err
	}
	finalize := func(ctx context.Context, promote bool) (*apogee.Deployment, error) {
		return pl.store.FinalizeDeployment(ctx, d.ID, pl.now().UTC(), promote)
	}
	ready, err := pl.ready(ctx, p, d, files, "deploy", finalize)
	if err != nil {
		if errors.Is(err, errRefused) && apogee.ErrorCode(err) != apogee.EINTERNAL {
			return nil, pl.failUpload(ctx, d, p, err)
		}
		return nil, err
	}
	return pl.view(ready, p), nil
}

// failUpload ends an uploading deployment in error with err's message as
// the reason (an invalid config file, production refused by the gate),
// leaves production alone and returns err.
func (pl *Platform) failUpload(ctx context.Context, d *apogee.Deployment, p *apogee.Project, err error) error {
	reason := apogee.ErrorMessage(err)
	if _, ferr := pl.store.FailDeployment(ctx, d.ID, reason); ferr != nil {
		pl.log.Error("mark deployment failed", "project", p.Name, "deployment", d.ID, "err", ferr)
	}
	pl.log.Info("deployment failed", "project", p.Name, "deployment", d.ID, "reason", reason)
	pl.publish(ctx, apogee.Event{Type: apogee.EventDeploymentFailed, ProjectID: p.ID, Project: p.Name, DeploymentID: d.ID})
	return err
}

// prepare readies a deployment's files for serving (see deploy.Prepare):
// routing rules compiled with the project's serve settings (an invalid
// file is EINVALID naming file and rule), precompressed variants, the
// settings snapshot.
func (pl *Platform) prepare(ctx context.Context, d *apogee.Deployment, p *apogee.Project, files []apogee.File) error {
	rep, err := deploy.Prepare(ctx, pl.blobs, pl.store, d.ID, files, p.Settings.Serve, pl.cfg.Rules)
	if err != nil {
		return fmt.Errorf("platform: prepare deployment %s: %w", d.ID, err)
	}
	c := rep.Compress
	pl.log.Info("deployment prepared", "project", p.Name, "deployment", d.ID, "rules", rep.Rules, "rule_warnings", len(rep.Warnings),
		"compressed", c.Compressed, "variants", c.Variants, "reused", c.Reused, "bytes_in", c.BytesIn, "took", c.Took)
	return nil
}

// ready makes d, an upload being finalized or a build being finished,
// ready through makeReady (one store transaction that also moves
// production when promote), and tells every edge that its host serves
// (deployment.ready). A deployment for production goes live through
// goLive; a preview just becomes ready.
func (pl *Platform) ready(ctx context.Context, p *apogee.Project, d *apogee.Deployment, files []apogee.File, action string,
	makeReady func(ctx context.Context, promote bool) (*apogee.Deployment, error)) (*apogee.Deployment, error) {
	promote := d.Target == apogee.TargetProduction
	move := func(ctx context.Context) (*apogee.Deployment, error) {
		ready, err := makeReady(ctx, promote)
		if err != nil {
			return nil, err
		}
		pl.moveBranch(ctx, p, ready, false)
		pl.publish(ctx, apogee.Event{Type: apogee.EventDeploymentReady, ProjectID: p.ID, Project: p.Name, DeploymentID: ready.ID, Host: ready.Host})
		pl.metrics.deploys.WithLabelValues(ready.Target).Inc()
		pl.log.Info("deployment ready", "project", p.Name, "deployment", ready.ID, "production", promote)
		return ready, nil
	}
	if promote {
		return pl.goLive(ctx, p, d, files, action, move)
	}
	return move(ctx)
}

// moveBranch points the stable host of d's branch at d, now ready,
// unless a newer deployment of the branch serves it (the store decides,
// in the transaction that moves it). Like the production alias it is a
// pointer in the store that edges read on deployment.ready, which
// follows. The label is Vercel's "<project>-git-<branch>", hashed when a
// project has that name or another branch holds it. A failure is logged:
// the deployment is ready and its own URL serves it.
//
// hashed asks for the hashed form at once (a rename keeps the form each
// branch had, so two branches never swap hosts).
//
// A fork's build moves the host of "fork/<owner>/<branch>"
// (apogee.PullRequestAlias), never one of the project's branches; the
// build of a pull request closed meanwhile moves none.
func (pl *Platform) moveBranch(ctx context.Context, p *apogee.Project, d *apogee.Deployment, hashed bool) {
	if d.Branch == "" {
		return
	}
	if d.PullRequest != 0 {
		if pr, err := pl.store.PullRequest(ctx, p.ID, d.PullRequest); err == nil && pr.State == apogee.PullRequestClosed {
			return
		}
	}
	branch := apogee.PullRequestAlias(d.Branch, d.ForkRepo)
	a := apogee.BranchAlias{ProjectID: p.ID, Branch: branch, DeploymentID: d.ID, Host: apogee.BranchHost(p.Name, branch, hashed)}
	if _, err := pl.store.ProjectByName(ctx, a.Host); err == nil && !hashed {
		a.Host = apogee.BranchHost(p.Name, branch, true)
	}
	err := pl.store.SetBranchAlias(ctx, a)
	if apogee.ErrorCode(err) == apogee.ECONFLICT {
		a.Host = apogee.BranchHost(p.Name, branch, true)
		err = pl.store.SetBranchAlias(ctx, a)
	}
	if err != nil {
		pl.log.Error("branch host not moved", "project", p.Name, "branch", d.Branch, "deployment", d.ID, "err", err)
	}
}

// errRefused marks an error of the Gate.
var errRefused = errors.New("production refused")

// refusal is the Gate's error: its *apogee.Error (or an internal one)
// that also matches errRefused.
type refusal struct{ err error }

func (r refusal) Error() string   { return r.err.Error() }
func (r refusal) Unwrap() []error { return []error{r.err, errRefused} }

// goLive is the one path that moves a project's production alias: a
// production upload finalized, a production build finished, promote and
// rollback all come here. The Gate, if any, is asked first; then move
// makes the change in one store transaction that also bumps the route
// version; then alias.changed tells every edge, which reads the
// project's routes (its host and its verified custom domains) from the
// store. p.ProductionID is d's afterwards. On a refusal the deployment
// is returned with the error (matching errRefused).
func (pl *Platform) goLive(ctx context.Context, p *apogee.Project, d *apogee.Deployment, files []apogee.File, action string,
	move func(ctx context.Context) (*apogee.Deployment, error)) (*apogee.Deployment, error) {
	if pl.gate != nil {
		if files == nil {
			var err error
			if files, err = pl.store.DeploymentFiles(ctx, d.ID); err != nil {
				return d, fmt.Errorf("platform: manifest of %s: %w", d.ID, err)
			}
		}
		if err := pl.gate.BeforeProduction(ctx, p, d, files); err != nil {
			pl.log.Info("production move refused", "action", action, "project", p.Name, "deployment", d.ID, "reason", err)
			if ae := (*apogee.Error)(nil); !errors.As(err, &ae) {
				err = fmt.Errorf("platform: before production: %w", err)
			}
			pl.deployFailed(ctx, p, d, action, err)
			return d, refusal{err}
		}
	}
	moved, err := move(ctx)
	if err != nil {
		return d, err
	}
	p.ProductionID = moved.ID
	pl.publish(ctx, apogee.Event{Type: apogee.EventAliasChanged, ProjectID: p.ID, Project: p.Name, DeploymentID: moved.ID})
	pl.metrics.aliasMoves.WithLabelValues(action).Inc()
	pl.log.Info("production moved", "action", action, "project", p.Name, "deployment", moved.ID)
	pl.recordCtx(ctx, p, "production."+action, moved.ID, "")
	return moved, nil
}

func (pl deployments) Promote(ctx context.Context, project, id string) (*apogee.DeploymentView, error) {
	_, p, err := pl.project(ctx, project, needChange)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, apogee.Errorf(apogee.EINVALID, "name the deployment to promote")
	}
	return pl.moveTo(ctx, p, id, "promote")
}

func (pl deployments) Rollback(ctx context.Context, project, to string) (*apogee.DeploymentView, error) {
	_, p, err := pl.project(ctx, project, needChange)
	if err != nil {
		return nil, err
	}
	if to != "" {
		return pl.moveTo(ctx, p, to, "rollback")
	}
	// Two rollbacks at once both go to the same deployment: one step
	// back, not two.
	d, err := pl.store.RollbackTarget(ctx, p.ID)
	if err != nil {
		return nil, fmt.Errorf("platform: rollback: %w", err)
	}
	return pl.setProduction(ctx, p, d, "rollback")
}

// moveTo points production at the project's deployment id.
func (pl *Platform) moveTo(ctx context.Context, p *apogee.Project, id, action string) (*apogee.DeploymentView, error) {
	d, err := pl.store.DeploymentByID(ctx, id)
	switch {
	case errors.Is(err, apogee.ErrNotFound) || err == nil && d.ProjectID != p.ID:
		return nil, apogee.Errorf(apogee.ENOTFOUND, "deployment %q is not one of project %q's", id, p.Name)
	case err != nil:
		return nil, fmt.Errorf("platform: %s: %w", action, err)
	case d.Status != apogee.StatusReady:
		return nil, apogee.Errorf(apogee.ECONFLICT, "deployment %q is %s; only a ready deployment can serve production", id, d.Status)
	}
	return pl.setProduction(ctx, p, d, action)
}

// setProduction moves production to d, a ready deployment of p.
func (pl *Platform) setProduction(ctx context.Context, p *apogee.Project, d *apogee.Deployment, action string) (*apogee.DeploymentView, error) {
	d, err := pl.goLive(ctx, p, d, nil, action, func(ctx context.Context) (*apogee.Deployment, error) {
		if err := pl.store.SetProduction(ctx, p.ID, d.ID); err != nil {
			return nil, fmt.Errorf("platform: %s: %w", action, err)
		}
		return d, nil
	})
	if err != nil {
		return nil, err
	}
	return pl.view(d, p), nil
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
