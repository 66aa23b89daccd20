package client_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/client/clienttest"
)

func setup(t *testing.T) (*clienttest.Server, *client.Client) {
	t.Helper()
	srv := clienttest.New(t)
	tok := srv.AddUser("ada@example.com", "secret-password")
	c := client.New(srv.URL, tok)
	if _, err := c.CreateProject(t.Context(), "site"); err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func makeSite(t testing.TB, n int) string {
	dir := t.TempDir()
	for i := range n {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("assets/d%02d/file-%04d.txt", i%17, i)), fmt.Sprintf("file %d\n", i))
	}
	return dir
}

func TestDeployThenRedeployUploadsOnlyTheChange(t *testing.T) {
	srv, c := setup(t)
	dir := makeSite(t, 1000)

	var mu sync.Mutex
	var lastDone, lastTotal int64
	var fileCalls int
	res, err := c.Deploy(t.Context(), dir, client.DeployOptions{
		Project: "site",
		OnProgress: func(done, total int64) {
			mu.Lock()
			lastDone, lastTotal = done, total
			mu.Unlock()
		},
		OnFile: func(string, int64) { fileCalls++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 1000 || res.Uploaded != 1000 || srv.Puts() != 1000 {
		t.Fatalf("first deploy: files %d, uploaded %d, puts %d; want 1000 each", res.Files, res.Uploaded, srv.Puts())
	}
	if res.Status != apogee.StatusReady || res.Production || res.Project != "site" || res.URL == "" || res.ID == "" {
		t.Fatalf("first deploy result: %+v", res)
	}
	if lastDone != res.Bytes || lastTotal != res.Bytes || fileCalls != 1000 {
		t.Fatalf("progress ended at %d/%d with %d OnFile calls; uploaded %d bytes", lastDone, lastTotal, fileCalls, res.Bytes)
	}

	srv.ResetPuts()
	changed := filepath.Join(dir, "assets/d03/file-0003.txt")
	writeFile(t, changed, "changed content\n")
	res2, err := c.Deploy(t.Context(), dir, client.DeployOptions{Project: "site", Production: true})
	if err != nil {
		t.Fatal(err)
	}
	if res2.Uploaded != 1 || srv.Puts() != 1 || res2.Bytes != int64(len("changed content\n")) {
		t.Fatalf("redeploy: uploaded %d files (%d bytes), server saw %d PUTs; want exactly 1", res2.Uploaded, res2.Bytes, srv.Puts())
	}
	if res2.Files != 1000 || !res2.Production || res2.ID == res.ID {
		t.Fatalf("redeploy result: %+v", res2)
	}
	sum := sha256.Sum256([]byte("changed content\n"))
	if b, ok := srv.Blob(hex.EncodeToString(sum[:])); !ok || string(b) != "changed content\n" {
		t.Fatalf("server blob of the changed file: %q, %v", b, ok)
	}
}

func manifestPaths(srv *clienttest.Server, id string) []string {
	var out []string
	for _, f := range srv.Manifest(id) {
		out = append(out, f.Path)
	}
	return out
}

func TestDeploySkipsGitAndDSStore(t *testing.T) {
	srv, c := setup(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "index.html"), "<h1>hi</h1>")
	writeFile(t, filepath.Join(dir, ".git/HEAD"), "ref: refs/heads/main\n")
	writeFile(t, filepath.Join(dir, "sub/.git/config"), "[core]\n")
	writeFile(t, filepath.Join(dir, ".DS_Store"), "junk")
	writeFile(t, filepath.Join(dir, "sub/.DS_Store"), "junk")
	writeFile(t, filepath.Join(dir, "sub/.gitignore"), "node_modules\n")
	res, err := c.Deploy(t.Context(), dir, client.DeployOptions{Project: "site"})
	if err != nil {
		t.Fatal(err)
	}
	got := manifestPaths(srv, res.ID)
	want := []string{"index.html", "sub/.gitignore"}
	if !slices.Equal(got, want) {
		t.Fatalf("manifest %v, want %v", got, want)
	}
}

func TestDeploySymlinks(t *testing.T) {
	srv, c := setup(t)
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "secret.txt"), "do not upload")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "index.html"), "<h1>hi</h1>")
	writeFile(t, filepath.Join(dir, "docs/real.txt"), "real")
	writeFile(t, filepath.Join(dir, ".git/config"), "[core]")
	links := map[string]string{
		"inside.txt":      "docs/real.txt",                           // kept
		"escape.txt":      filepath.Join(outside, "secret.txt"),      // absolute, outside
		"relescape.txt":   "../" + filepath.Base(outside) + "/x",     // dangling
		"up.txt":          filepath.Join("..", "..", "etc", "hosts"), // outside
		"dirlink":         "docs",                                    // a folder
		"dangling.txt":    "nope.txt",                                // no target
		"gitconfig":       ".git/config",                             // into .git
		"docs/sibling.md": "../index.html",                           // kept
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	var warnings []string
	res, err := c.Deploy(t.Context(), dir, client.DeployOptions{Project: "site", OnWarning: func(m string) { warnings = append(warnings, m) }})
	if err != nil {
		t.Fatal(err)
	}
	got := manifestPaths(srv, res.ID)
	want := []string{"docs/real.txt", "docs/sibling.md", "index.html", "inside.txt"}
	if !slices.Equal(got, want) {
		t.Fatalf("manifest %v, want %v", got, want)
	}
	if len(warnings) != 6 || len(res.Warnings) != 6 {
		t.Fatalf("warnings %q (result %q), want 6", warnings, res.Warnings)
	}
	joined := strings.Join(warnings, "\n")
	for _, name := range []string{"escape.txt", "up.txt", "dirlink", "dangling.txt", "gitconfig", "relescape.txt"} {
		if !strings.Contains(joined, name) {
			t.Errorf("no warning names %s:\n%s", name, joined)
		}
	}
	if !strings.Contains(joined, "escape.txt: it points outside the folder") {
		t.Errorf("warning does not say why escape.txt was skipped:\n%s", joined)
	}
	for _, f := range srv.Manifest(res.ID) {
		if b, _ := srv.Blob(f.SHA256); string(b) == "do not upload" {
			t.Fatal("the file outside the folder was uploaded")
		}
	}
}

func TestDeployReuploadsWhenFinalizeMissesFiles(t *testing.T) {
	srv, c := setup(t)
	dir := makeSite(t, 20)
	srv.DropUploads(2)
	var rounds [][2]int64
	res, err := c.Deploy(t.Context(), dir, client.DeployOptions{
		Project:  "site",
		OnUpload: func(files int, bytes int64) { rounds = append(rounds, [2]int64{int64(files), bytes}) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != apogee.StatusReady {
		t.Fatalf("status %q", res.Status)
	}
	if res.Uploaded != 22 || srv.Puts() != 22 {
		t.Fatalf("uploaded %d, server saw %d PUTs; want 22 (20 plus 2 again)", res.Uploaded, srv.Puts())
	}
	if len(rounds) != 2 || rounds[0][0] != 20 || rounds[1][0] != 2 {
		t.Fatalf("upload rounds %v, want 20 files then 2", rounds)
	}
}

func TestDeployFinalizeStillMissingFails(t *testing.T) {
	srv, c := setup(t)
	dir := makeSite(t, 3)
	srv.DropUploads(6) // both rounds lose everything
	_, err := c.Deploy(t.Context(), dir, client.DeployOptions{Project: "site"})
	if apogee.ErrorCode(err) != apogee.EMISSING {
		t.Fatalf("err %v, want code %s", err, apogee.EMISSING)
	}
}

func TestDeployEmptyAndMissingProject(t *testing.T) {
	_, c := setup(t)
	if _, err := c.Deploy(t.Context(), t.TempDir(), client.DeployOptions{Project: "site"}); apogee.ErrorCode(err) != apogee.EINVALID {
		t.Fatalf("empty folder: %v", err)
	}
	dir := makeSite(t, 2)
	_, err := c.Deploy(t.Context(), dir, client.DeployOptions{Project: "nope"})
	if apogee.ErrorCode(err) != apogee.ENOTFOUND || !errors.Is(err, apogee.ErrNotFound) {
		t.Fatalf("unknown project: %v", err)
	}
}

func TestErrorMapping(t *testing.T) {
	srv, c := setup(t)
	ctx := t.Context()

	_, err := c.GetProject(ctx, "nope")
	var ae *apogee.Error
	if !errors.As(err, &ae) || ae.Code != apogee.ENOTFOUND || !strings.HasPrefix(ae.Message, `project "nope" not found`) {
		t.Fatalf("GetProject: %#v", err)
	}
	if _, err := c.CreateProject(ctx, "site"); apogee.ErrorCode(err) != apogee.ECONFLICT {
		t.Fatalf("duplicate project: %v", err)
	}
	if _, err := c.CreateProject(ctx, "Bad_Name"); apogee.ErrorCode(err) != apogee.EINVALID {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := client.New(srv.URL, "wrong").WhoAmI(ctx); apogee.ErrorCode(err) != apogee.EUNAUTHORIZED {
		t.Fatalf("bad token: %v", err)
	}
	if _, err := c.Login(ctx, apogee.LoginRequest{Email: "ada@example.com", Password: "nope"}); apogee.ErrorCode(err) != apogee.EUNAUTHORIZED {
		t.Fatalf("bad password: %v", err)
	}

	// missing_files keeps its data.
	dep, err := c.CreateDeployment(ctx, "site", apogee.CreateDeploymentRequest{Files: []apogee.File{{Path: "a", SHA256: strings.Repeat("ab", 32), Size: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Finalize(ctx, dep.ID)
	if apogee.ErrorCode(err) != apogee.EMISSING || !slices.Equal(client.MissingHashes(err), []string{strings.Repeat("ab", 32)}) {
		t.Fatalf("finalize: %v, missing %v", err, client.MissingHashes(err))
	}
	// A bad upload is refused by the server's hash check.
	if err := c.UploadFile(ctx, dep.ID, strings.Repeat("ab", 32), strings.NewReader("x"), 1); apogee.ErrorCode(err) != apogee.EINVALID {
		t.Fatalf("bad upload: %v", err)
	}
}

func TestNonJSONError(t *testing.T) {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>Bad Gateway</html>", http.StatusBadGateway)
	}))
	defer proxy.Close()
	_, err := client.New(proxy.URL, "t").ListProjects(t.Context())
	var se *client.StatusError
	if !errors.As(err, &se) || se.StatusCode != 502 {
		t.Fatalf("err %#v, want *StatusError 502", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "502 Bad Gateway") || !strings.Contains(msg, "/api/v1/projects") {
		t.Fatalf("message %q names neither status nor path", msg)
	}
	if apogee.ErrorCode(err) != apogee.EINTERNAL {
		t.Fatalf("code %q", apogee.ErrorCode(err))
	}

	// A web server that is not Apogee's answers 200 with HTML.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html>welcome</html>"))
	}))
	defer other.Close()
	_, err = client.New(other.URL, "t").WhoAmI(t.Context())
	if !errors.As(err, &se) || se.StatusCode != 200 || !strings.Contains(err.Error(), "200 OK with no JSON") {
		t.Fatalf("HTML answer: %v", err)
	}
}

func TestAPIRoundTrip(t *testing.T) {
	srv, c := setup(t)
	ctx := t.Context()

	tr, err := c.Login(ctx, apogee.LoginRequest{Email: "ada@example.com", Password: "secret-password"})
	if err != nil || tr.Token == "" || tr.Detail == nil || tr.Detail.Name != "cli" || tr.User == nil {
		t.Fatalf("login: %+v, %v", tr, err)
	}
	c2 := client.New(srv.URL+"/", tr.Token)
	u, err := c2.WhoAmI(ctx)
	if err != nil || u.Email != "ada@example.com" {
		t.Fatalf("whoami: %+v, %v", u, err)
	}
	nt, err := c2.CreateToken(ctx, apogee.CreateTokenRequest{Name: "ci", ExpiresIn: "720h"})
	if err != nil || nt.Detail.ExpiresAt == nil {
		t.Fatalf("create token: %+v, %v", nt, err)
	}
	toks, err := c2.ListTokens(ctx)
	if err != nil || len(toks) != 3 {
		t.Fatalf("list tokens: %d, %v", len(toks), err)
	}
	if err := c2.RevokeToken(ctx, nt.Detail.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(srv.URL, nt.Token).WhoAmI(ctx); apogee.ErrorCode(err) != apogee.EUNAUTHORIZED {
		t.Fatalf("revoked token still works: %v", err)
	}

	dir := makeSite(t, 3)
	var ids []string
	for i := range 3 {
		writeFile(t, filepath.Join(dir, "v.txt"), fmt.Sprint(i))
		res, err := c.Deploy(ctx, dir, client.DeployOptions{Project: "site", Production: true})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ID)
	}
	deps, err := c.ListDeployments(ctx, "site", 2)
	if err != nil || len(deps) != 2 {
		t.Fatalf("list deployments: %d, %v", len(deps), err)
	}
	p, err := c.GetProject(ctx, "site")
	if err != nil || p.ProductionID != ids[2] || p.URL == "" {
		t.Fatalf("project: %+v, %v", p, err)
	}
	rb, err := c.Rollback(ctx, "site", "")
	if err != nil || rb.ID != ids[1] || !rb.Production {
		t.Fatalf("rollback: %+v, %v", rb, err)
	}
	pr, err := c.Promote(ctx, "site", ids[0])
	if err != nil || pr.ID != ids[0] || !pr.Production {
		t.Fatalf("promote: %+v, %v", pr, err)
	}
	rb, err = c.Rollback(ctx, "site", ids[2])
	if err != nil || rb.ID != ids[2] {
		t.Fatalf("rollback --to: %+v, %v", rb, err)
	}
	d, err := c.GetDeployment(ctx, ids[0])
	if err != nil || d.Status != apogee.StatusReady || d.Production || d.Files != 4 {
		t.Fatalf("get deployment: %+v, %v", d, err)
	}
	projects, err := c.ListProjects(ctx)
	if err != nil || len(projects) != 1 {
		t.Fatalf("list projects: %v, %v", projects, err)
	}
	if err := c.DeleteProject(ctx, "site"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetDeployment(ctx, ids[0]); !errors.Is(err, apogee.ErrNotFound) {
		t.Fatalf("deployment of a deleted project: %v", err)
	}
}

func TestDeployCanceled(t *testing.T) {
	_, c := setup(t)
	dir := makeSite(t, 50)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Deploy(ctx, dir, client.DeployOptions{Project: "site"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}
