package api_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/platform"
)

// zipOf returns a real ZIP of files (path → content).
func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		f, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte(content))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// path returns the path and query of an upload URL, for e.call.
func path(t *testing.T, e *env, uploadURL string) string {
	t.Helper()
	u, err := url.Parse(uploadURL)
	if err != nil || u.Scheme+"://"+u.Host != e.srv.URL {
		t.Fatalf("upload_url %q is not on the server %s", uploadURL, e.srv.URL)
	}
	return u.RequestURI()
}

func TestZipUpload(t *testing.T) {
	const limit = 64 << 10
	e := newEnvWith(t, func(c *platform.Config) { c.MaxZipSize = limit })
	tok := e.user("a@example.com")
	bob := e.user("b@example.com")
	e.must(e.call("POST", "/api/v1/projects", tok, apogee.CreateProjectRequest{Name: "web"}), 201, nil)
	e.must(e.call("POST", "/api/v1/projects", bob, apogee.CreateProjectRequest{Name: "bobs"}), 201, nil)

	e.wantErr(e.call("POST", "/api/v1/projects/web/uploads", bob, nil), 404, apogee.ENOTFOUND)
	e.wantErr(e.call("POST", "/api/v1/projects/web/uploads", "", nil), 401, apogee.EUNAUTHORIZED)
	var up apogee.UploadResponse
	e.must(e.call("POST", "/api/v1/projects/web/uploads", tok, nil), 201, &up)
	if up.ID == "" || time.Until(up.ExpiresAt) > 16*time.Minute || time.Until(up.ExpiresAt) < 14*time.Minute {
		t.Fatalf("upload %+v", up)
	}
	p := path(t, e, up.UploadURL)
	body := zipOf(t, map[string]string{"package.json": `{"scripts":{"build":"vite build"}}`, "index.html": "<h1>hi</h1>"})
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])

	// Not yet received: nothing to build.
	e.wantErr(e.call("POST", "/api/v1/projects/web/builds", tok, apogee.BuildRequest{UploadID: up.ID}), 409, apogee.ECONFLICT)

	// A changed signature, id or expiry is refused, and so is no signature.
	for _, bad := range []string{
		strings.Replace(p, "sig=", "sig=A", 1),
		strings.Replace(p, "expires=", "expires=9", 1),
		strings.Replace(p, up.ID, apogee.NewID(), 1),
		strings.Split(p, "?")[0],
	} {
		e.wantErr(e.call("PUT", bad, "", body), 403, apogee.EFORBIDDEN)
	}
	// Not a ZIP; too large: refused, the upload still takes its one PUT.
	e.wantErr(e.call("PUT", p, "", []byte("just text")), 400, apogee.EINVALID)
	e.wantErr(e.call("PUT", p, "", append([]byte("PK\x03\x04"), make([]byte, limit)...)), 413, apogee.ETOOLARGE)

	var got struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	}
	e.must(e.call("PUT", p, "", body), 201, &got)
	if got.SHA256 != hash || got.Size != int64(len(body)) {
		t.Fatalf("PUT answered %+v, want %s and %d", got, hash, len(body))
	}
	if b, err := e.blobs.Get(context.Background(), hash); err != nil || !bytes.Equal(b, body) {
		t.Fatalf("blob %s: %v", hash, err)
	}
	e.wantErr(e.call("PUT", p, "", body), 409, apogee.ECONFLICT)

	// Build it: production by default, a preview on request.
	var d apogee.DeploymentView
	e.must(e.call("POST", "/api/v1/projects/web/builds", tok, apogee.BuildRequest{UploadID: up.ID, NoCache: true}), 201, &d)
	stored, err := e.store.DeploymentByID(context.Background(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != apogee.StatusQueued || d.Source != apogee.SourceZip || d.Target != apogee.TargetProduction || d.Branch != "" ||
		!d.NoCache || stored.SourceBlob != hash {
		t.Fatalf("zip build %+v (blob %q)", d.Deployment, stored.SourceBlob)
	}
	e.must(e.call("POST", "/api/v1/projects/web/builds", tok, apogee.BuildRequest{UploadID: up.ID, Target: "preview"}), 201, &d)
	if d.Target != apogee.TargetPreview {
		t.Fatalf("preview zip build %+v", d.Deployment)
	}
	e.wantErr(e.call("POST", "/api/v1/projects/web/builds", tok, apogee.BuildRequest{UploadID: up.ID, Ref: "main"}), 400, apogee.EINVALID)
	e.wantErr(e.call("POST", "/api/v1/projects/web/builds", tok, apogee.BuildRequest{UploadID: "nope"}), 404, apogee.ENOTFOUND)
	e.wantErr(e.call("POST", "/api/v1/projects/bobs/builds", bob, apogee.BuildRequest{UploadID: up.ID}), 404, apogee.ENOTFOUND)

	// An upload URL expires.
	var late apogee.UploadResponse
	e.must(e.call("POST", "/api/v1/projects/web/uploads", tok, nil), 201, &late)
	e.advance(platform.DefaultUploadTTL + time.Second)
	b := e.wantErr(e.call("PUT", path(t, e, late.UploadURL), "", body), 403, apogee.EFORBIDDEN)
	if !strings.Contains(b.Error.Message, "expired") {
		t.Fatalf("expired upload: %q", b.Error.Message)
	}
}
