package dashboard

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"

	"github.com/apogee-dev/apogee"
)

// ZIP uploads from the browser. A form with a file is read as a stream:
// its fields (the CSRF token first) are read into r.PostForm, the token
// is checked, and the file part, which must come last, is handed on
// unread. The dashboard streams it to the build service (UploadZip), then
// queues its build with the upload's id. So the service alone checks the
// size, that it is a ZIP, and who may build; the dashboard keeps no copy
// of the file.

// authedUpload is authed for a POST that may carry one file
// (multipart/form-data). An ordinary urlencoded form is read as authed
// does and file is nil.
func (d *Dashboard) authedUpload(h func(w http.ResponseWriter, r *http.Request, s *session, file *multipart.Part) error) http.Handler {
	return d.wrap(func(w http.ResponseWriter, r *http.Request) error {
		s, err := d.session(r)
		if err != nil {
			return err
		}
		if s == nil {
			return apogee.Errorf(apogee.EFORBIDDEN, "you are signed out; sign in and send the form again")
		}
		limit := d.maxZip + maxForm
		if r.ContentLength > limit {
			return errZipTooLarge(d.maxZip)
		}
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "multipart/form-data" {
			// A form without a file.
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if !sameToken(r.PostFormValue(csrfField), s.csrf) {
				return errBadCSRF
			}
			return h(w, r.WithContext(apogee.NewContextWithClient(apogee.NewContextWithUser(r.Context(), s.user), r.RemoteAddr)), s, nil)
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		mr, err := r.MultipartReader()
		if err != nil {
			return apogee.Errorf(apogee.EINVALID, "the form cannot be read: %v", err)
		}
		form := url.Values{}
		var file *multipart.Part
		budget := int64(maxForm)
		for file == nil {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return apogee.Errorf(apogee.EINVALID, "the form did not arrive whole; send it again")
			}
			if p.FileName() != "" || p.FormName() == "file" {
				file = p
				break
			}
			b, err := io.ReadAll(io.LimitReader(p, budget+1))
			if budget -= int64(len(b)); err != nil || budget < 0 {
				return apogee.Errorf(apogee.EINVALID, "the form's fields are too long or did not arrive whole")
			}
			form.Add(p.FormName(), string(b))
		}
		r.PostForm, r.Form = form, form
		if !sameToken(form.Get(csrfField), s.csrf) {
			return errBadCSRF
		}
		return h(w, r.WithContext(apogee.NewContextWithClient(apogee.NewContextWithUser(r.Context(), s.user), r.RemoteAddr)), s, file)
	})
}

func errZipTooLarge(max int64) error {
	return apogee.Errorf(apogee.ETOOLARGE, "the ZIP is larger than the limit of %s; leave node_modules and build output out of it", size(max))
}

// noFile is the error of a ZIP form sent without a file.
var noFile = apogee.Errorf(apogee.EINVALID, "choose a .zip file of your site's source (package.json or index.html at its top, or in one folder)")

// hasFile reports whether the form carried a chosen file (a browser sends
// an empty part without a name when none was chosen).
func hasFile(file *multipart.Part) bool { return file != nil && file.FileName() != "" }

// buildZip uploads zip as the source of a build of project and queues
// the build, as the user of ctx.
func (d *Dashboard) buildZip(ctx context.Context, project string, zip io.Reader, target string) (*apogee.DeploymentView, error) {
	up, err := d.svc.Builds.UploadZip(ctx, project, zip)
	if apogee.ErrorCode(err) == apogee.ETOOLARGE {
		return nil, errZipTooLarge(d.maxZip)
	}
	if err != nil {
		return nil, err
	}
	return d.svc.Builds.QueueBuild(ctx, project, apogee.BuildRequest{UploadID: up.ID, Target: target})
}

// deployZip builds a new ZIP of the project's source, for production
// or as a preview, and opens the build's page.
func (d *Dashboard) deployZip(w http.ResponseWriter, r *http.Request, s *session, file *multipart.Part) error {
	if err := d.mayUse(r, s); err != nil {
		return err
	}
	target := r.PostFormValue("target")
	if target != apogee.TargetPreview {
		target = apogee.TargetProduction
	}
	if !hasFile(file) {
		return back(w, r, noFile, "")
	}
	v, err := d.buildZip(r.Context(), r.PathValue("name"), file, target)
	if err != nil {
		return back(w, r, err, "")
	}
	setFlash(w, r, "ok", "ZIP received; build queued.")
	return seeOther(w, r, "/deployments/"+url.PathEscape(v.ID))
}

// zipKind is the new-project form's choice for a project built from a ZIP.
const zipKind = "zip"

// createFromZip makes the project of the new-project form and builds
// the ZIP it carried. If the ZIP is refused, the project is deleted
// again, so a failed form changes nothing.
func (d *Dashboard) createFromZip(ctx context.Context, s *session, req apogee.CreateProjectRequest, file *multipart.Part) (*apogee.DeploymentView, error) {
	if !hasFile(file) {
		return nil, noFile
	}
	p, err := d.svc.Projects.CreateProject(ctx, req)
	if err != nil {
		return nil, err
	}
	v, err := d.buildZip(ctx, p.Name, file, apogee.TargetProduction)
	if err != nil {
		if derr := d.svc.Projects.DeleteProject(context.WithoutCancel(ctx), p.Name); derr != nil {
			d.log.Error("delete project after a refused ZIP", "project", p.Name, "err", derr)
		}
		return nil, err
	}
	return v, nil
}
