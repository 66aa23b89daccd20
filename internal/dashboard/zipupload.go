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
// unread. The dashboard streams it into the API's own ZIP flow in
// process: POST /projects/{p}/uploads for a pre-signed upload, PUT of
// the bytes to its URL, POST /projects/{p}/builds with the upload's id.
// So the API alone checks the size, that it is a ZIP, and who may build;
// the dashboard keeps no copy of the file.

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
			return h(w, r, s, nil)
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
		return h(w, r, s, file)
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
// the build, all through the API as u.
func (d *Dashboard) buildZip(ctx context.Context, u *apogee.User, project string, zip io.Reader, target string) (*apogee.DeploymentView, error) {
	var up apogee.UploadResponse
	if err := d.api.Call(ctx, u, "POST", apiPath("projects", project, "uploads"), nil, &up); err != nil {
		return nil, err
	}
	to, err := url.Parse(up.UploadURL)
	if err != nil {
		return nil, errorf("upload URL %q: %w", up.UploadURL, err)
	}
	if err := d.api.Call(ctx, u, "PUT", to.RequestURI(), zip, nil); err != nil {
		if apogee.ErrorCode(err) == apogee.ETOOLARGE {
			return nil, errZipTooLarge(d.maxZip)
		}
		return nil, err
	}
	var v apogee.DeploymentView
	if err := d.api.Call(ctx, u, "POST", apiPath("projects", project, "builds"),
		apogee.BuildRequest{UploadID: up.ID, Target: target}, &v); err != nil {
		return nil, err
	}
	return &v, nil
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
	v, err := d.buildZip(r.Context(), s.user, r.PathValue("name"), file, target)
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
	var p apogee.ProjectView
	if err := d.api.Call(ctx, s.user, "POST", apiPath("projects"), req, &p); err != nil {
		return nil, err
	}
	v, err := d.buildZip(ctx, s.user, p.Name, file, apogee.TargetProduction)
	if err != nil {
		if derr := d.api.Call(context.WithoutCancel(ctx), s.user, "DELETE", apiPath("projects", p.Name), nil, nil); derr != nil {
			d.log.Error("delete project after a refused ZIP", "project", p.Name, "err", derr)
		}
		return nil, err
	}
	return v, nil
}
