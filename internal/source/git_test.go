package source

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"io/fs"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/egress"
	"github.com/apogee-dev/apogee/internal/testio"
)

// requireGit fails the test (never skips it) when git is missing.
func requireGit(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("these tests need the git binary: apt-get install git (%v)", err)
	}
	return p
}

// testGit runs git for a test's own set-up, isolated from the user's
// configuration, and returns its trimmed stdout.
func testGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.TempDir(),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + os.DevNull,
		"GIT_AUTHOR_NAME=Ada Lovelace", "GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Ada Lovelace", "GIT_COMMITTER_EMAIL=ada@example.com",
		"LC_ALL=C",
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v: %s", args, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// testRepo is a repository made for a test:
//
//	first ── second (tag v1.0, annotated) ── third = main
//	            └── feature
type testRepo struct {
	dir                          string
	first, second, main, feature string
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// makeRepo makes a repository in root/name. allowSHA lets its server send
// any commit asked for by SHA (protocol v0 needs it; v2 always does).
func makeRepo(t *testing.T, root, name string, allowSHA bool) testRepo {
	t.Helper()
	requireGit(t)
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string { return testGit(t, dir, args...) }
	git("init", "-q", "-b", "main")
	if allowSHA {
		git("config", "uploadpack.allowReachableSHA1InWant", "true")
		git("config", "uploadpack.allowAnySHA1InWant", "true")
	}
	r := testRepo{dir: dir}
	writeFile(t, filepath.Join(dir, "index.html"), "one")
	git("add", ".")
	git("commit", "-q", "-m", "First commit")
	r.first = git("rev-parse", "HEAD")
	writeFile(t, filepath.Join(dir, "index.html"), "two")
	git("commit", "-q", "-am", "Second commit\n\nWith a body.")
	r.second = git("rev-parse", "HEAD")
	git("tag", "-a", "-m", "release 1.0", "v1.0")
	git("checkout", "-q", "-b", "feature")
	writeFile(t, filepath.Join(dir, "feature.txt"), "feature")
	git("add", ".")
	git("commit", "-q", "-m", "Feature work")
	r.feature = git("rev-parse", "HEAD")
	git("checkout", "-q", "main")
	writeFile(t, filepath.Join(dir, "index.html"), "three")
	writeFile(t, filepath.Join(dir, ".gitmodules"), "[submodule \"lib\"]\n\tpath = lib\n\turl = https://example.com/lib.git\n")
	writeFile(t, filepath.Join(dir, ".gitattributes"), "*.psd filter=lfs diff=lfs merge=lfs -text\n")
	git("add", ".")
	git("commit", "-q", "-m", "Third on main")
	r.main = git("rev-parse", "HEAD")
	return r
}

// The repositories most tests read, made once (see TestMain):
// root/repo.git allows any SHA to be fetched, root/v0.git does not,
// root/empty.git has no commits.
var shared struct {
	once     sync.Once
	root     string
	repo, v0 testRepo
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.root != "" {
		os.RemoveAll(shared.root)
	}
	os.Exit(code)
}

// sharedRepos returns the shared repositories' folder and the two
// repositories. Tests must not change them.
func sharedRepos(t *testing.T) (root string, repo, v0 testRepo) {
	t.Helper()
	requireGit(t)
	shared.once.Do(func() {
		d, err := os.MkdirTemp("", "apogee-source-test-")
		if err != nil {
			t.Fatal(err)
		}
		shared.root = d
		shared.repo = makeRepo(t, d, "repo.git", true)
		shared.v0 = makeRepo(t, d, "v0.git", false)
		testGit(t, d, "init", "-q", "--bare", "empty.git")
	})
	if shared.v0.main == "" {
		t.Fatal("the shared test repositories could not be made")
	}
	return shared.root, shared.repo, shared.v0
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("%s is not empty after the error: %v", dir, names)
	}
}

func assertCode(t *testing.T, err error, code string, wantInMsg ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	if got := apogee.ErrorCode(err); got != code {
		t.Fatalf("code %q, want %q; err: %v", got, code, err)
	}
	msg := apogee.ErrorMessage(err)
	t.Logf("message: %s", msg)
	for _, w := range wantInMsg {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q does not say %q", msg, w)
		}
	}
}

func TestFetchRefs(t *testing.T) {
	t.Parallel()
	_, r, _ := sharedRepos(t)
	g := &Git{AllowFile: true}
	fileURL := "file://" + r.dir
	short := func(s string) string { return s[:7] }

	tests := []struct {
		name, url, ref string
		commit         string
		branch, tag    string
		message        string
		shallow        bool
		file, content  string
	}{
		{"default branch", fileURL, "", r.main, "main", "", "Third on main", true, "index.html", "three"},
		{"local path", r.dir, "", r.main, "main", "", "Third on main", true, "index.html", "three"},
		{"branch", fileURL, "main", r.main, "main", "", "Third on main", true, "index.html", "three"},
		{"other branch", fileURL, "feature", r.feature, "feature", "", "Feature work", true, "feature.txt", "feature"},
		{"full branch ref", fileURL, "refs/heads/feature", r.feature, "feature", "", "Feature work", true, "feature.txt", "feature"},
		{"annotated tag", fileURL, "v1.0", r.second, "", "v1.0", "Second commit", true, "index.html", "two"},
		{"full tag ref", fileURL, "refs/tags/v1.0", r.second, "", "v1.0", "Second commit", true, "index.html", "two"},
		{"full SHA of a tip", fileURL, r.main, r.main, "", "", "Third on main", true, "index.html", "three"},
		{"full SHA inside history", fileURL, r.first, r.first, "", "", "First commit", true, "index.html", "one"},
		{"upper-case SHA", fileURL, strings.ToUpper(r.first), r.first, "", "", "First commit", true, "index.html", "one"},
		{"short SHA of a tip", fileURL, short(r.feature), r.feature, "", "", "Feature work", true, "feature.txt", "feature"},
		{"short SHA inside history", fileURL, short(r.first), r.first, "", "", "First commit", false, "index.html", "one"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dst := filepath.Join(t.TempDir(), "src") // absent: Fetch makes it
			var progress testio.Buffer
			co, err := g.Fetch(context.Background(), tc.url, tc.ref, "", dst, &progress)
			if err != nil {
				t.Fatalf("Fetch: %v\nprogress:\n%s", err, progress.String())
			}
			want := Checkout{Commit: tc.commit, Branch: tc.branch, Tag: tc.tag, Message: tc.message,
				Author: "Ada Lovelace <ada@example.com>", Shallow: tc.shallow}
			if !reflect.DeepEqual(co, want) {
				t.Errorf("Checkout\n got %+v\nwant %+v", co, want)
			}
			if got := testGit(t, dst, "rev-parse", "HEAD"); got != tc.commit {
				t.Errorf("HEAD is %s, want %s", got, tc.commit)
			}
			if b, err := os.ReadFile(filepath.Join(dst, tc.file)); err != nil || string(b) != tc.content {
				t.Errorf("%s = %q, %v; want %q", tc.file, b, err, tc.content)
			}
			if tc.shallow {
				if n := testGit(t, dst, "rev-list", "--count", "HEAD"); n != "1" {
					t.Errorf("history has %s commits, want 1 (depth 1)", n)
				}
			}
			if st := testGit(t, dst, "status", "--porcelain"); st != "" {
				t.Errorf("work tree is not clean:\n%s", st)
			}
			if !strings.Contains(progress.String(), "Checked out "+tc.commit) {
				t.Errorf("progress does not say what was checked out:\n%s", progress.String())
			}
			// git's progress meter is no reading for a build log.
			for _, meter := range []string{"Counting objects", "Enumerating objects", "Receiving objects", "%", "\r"} {
				if strings.Contains(progress.String(), meter) {
					t.Errorf("progress holds git's meter (%q):\n%s", meter, progress.String())
				}
			}
		})
	}
}

func TestFetchNotesSubmodulesAndLFS(t *testing.T) {
	t.Parallel()
	_, r, _ := sharedRepos(t)
	var progress testio.Buffer
	dst := t.TempDir()
	if _, err := (&Git{AllowFile: true}).Fetch(context.Background(), r.dir, "main", "", dst, &progress); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"submodules", "not fetched", "LFS is not supported"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress does not say %q:\n%s", want, progress.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dst, "lib")); err == nil {
		t.Error("the submodule's folder exists")
	}
}

// TestFetchName: a repository given a name is called by it in the
// progress output and in errors, never by its path.
func TestFetchName(t *testing.T) {
	t.Parallel()
	_, r, _ := sharedRepos(t)
	g := &Git{AllowFile: true, Name: "the pushed repository"}
	var progress testio.Buffer
	if _, err := g.Fetch(context.Background(), "file://"+r.dir, "main", "", t.TempDir(), &progress); err != nil {
		t.Fatal(err)
	}
	if out := progress.String(); !strings.Contains(out, "Fetching the pushed repository (main)") || strings.Contains(out, "file://") || strings.Contains(out, r.dir) {
		t.Errorf("progress names the repository by its path, or not by its name:\n%s", out)
	}
	_, err := g.Fetch(context.Background(), "file://"+r.dir, "nope", "", t.TempDir(), nil)
	assertCode(t, err, apogee.EINVALID, "the pushed repository", "nope")
	if strings.Contains(err.Error(), r.dir) {
		t.Errorf("the error shows the path: %v", err)
	}
}

func TestFetchErrors(t *testing.T) {
	t.Parallel()
	root, r, _ := sharedRepos(t)
	g := &Git{AllowFile: true}
	tests := []struct {
		name, url, ref string
		want           []string
	}{
		{"unknown branch", r.dir, "nope", []string{`no branch, tag or commit "nope"`, "check the name"}},
		{"unknown branch by full name", r.dir, "refs/heads/v1.0", []string{"no branch v1.0"}},
		{"unknown commit", r.dir, strings.Repeat("ab", 20), []string{"no commit " + strings.Repeat("ab", 20)}},
		{"missing repository", "file://" + filepath.Join(root, "nothing"), "", []string{"repository not found", "check the URL"}},
		{"missing local path", filepath.Join(root, "nothing"), "main", []string{"repository not found"}},
		{"not a repository", root, "", []string{"repository not found"}},
		{"empty repository", filepath.Join(root, "empty.git"), "", []string{"has no default branch", "push a commit"}},
		{"empty repository, named branch", filepath.Join(root, "empty.git"), "main", []string{`no branch, tag or commit "main"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dst := t.TempDir()
			_, err := g.Fetch(context.Background(), tc.url, tc.ref, "", dst, nil)
			assertCode(t, err, apogee.EINVALID, tc.want...)
			assertEmptyDir(t, dst)
		})
	}
}

func TestFetchRefusesURLsAndRefs(t *testing.T) {
	t.Parallel()
	_, r, _ := sharedRepos(t)
	marker := filepath.Join(t.TempDir(), "pwned")
	strict := &Git{}
	loose := &Git{AllowFile: true}
	tests := []struct {
		name       string
		g          *Git
		url, ref   string
		token      string
		want       string
		notInError string
	}{
		{"ext:: helper", loose, "ext::sh -c touch% " + marker, "", "", "remote helpers", ""},
		{"ext:: helper, no spaces", loose, "ext::true", "", "", "remote helpers", ""},
		{"fd:: helper", loose, "fd::0", "", "", "remote helpers", ""},
		{"ssh URL", loose, "ssh://git@example.com/acme/web.git", "", "", "ssh:// transport is not allowed", ""},
		{"scp-like", loose, "git@example.com:acme/web.git", "", "", "not an https:// URL", ""},
		{"git://", loose, "git://example.com/web.git", "", "", "git:// transport", ""},
		{"option injection", loose, "--upload-pack=touch " + marker, "", "", "may not start with '-'", ""},
		{"credentials in URL", loose, "https://x:s3cr3t-pass@example.com/web.git", "", "", "user name or password", "s3cr3t-pass"},
		{"relative path", loose, "repo", "", "", "not an https:// URL", ""},
		{"file:// not allowed", strict, "file://" + r.dir, "", "", "not allowed on this server", ""},
		{"local path not allowed", strict, r.dir, "", "", "not allowed on this server", ""},
		{"file:// with a host", loose, "file://example.com" + r.dir, "", "", "cannot name a host", ""},
		{"token over plain http", strict, "http://example.com/web.git", "", "tok-123", "plain http", "tok-123"},
		{"token with a newline", strict, "https://example.com/web.git", "", "tok\r\nX-Evil: 1", "control characters", "X-Evil"},
		{"ref as an option", loose, r.dir, "--upload-pack=touch", "", "not a valid", ""},
		{"ref with ..", loose, r.dir, "a..b", "", "not a valid", ""},
		{"ref with a space", loose, r.dir, "a b", "", "not a valid", ""},
		{"ref with ~", loose, r.dir, "main~1", "", "not a valid", ""},
		{"ref with @{", loose, r.dir, "main@{1}", "", "not a valid", ""},
		{"ref with a glob", loose, r.dir, "ma*", "", "not a valid", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dst := t.TempDir()
			_, err := tc.g.Fetch(context.Background(), tc.url, tc.ref, tc.token, dst, nil)
			assertCode(t, err, apogee.EINVALID, tc.want)
			if tc.notInError != "" && strings.Contains(err.Error(), tc.notInError) {
				t.Errorf("the error shows a secret: %v", err)
			}
			assertEmptyDir(t, dst)
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("a refused URL ran a command")
			}
		})
	}
}

// git itself refuses ext:: with the environment Fetch gives it, should a
// URL ever get past parseRemote: the second lock.
func TestGitEnvForbidsOtherTransports(t *testing.T) {
	t.Parallel()
	requireGit(t)
	root := t.TempDir()
	marker := filepath.Join(root, "pwned")
	for _, allowFile := range []bool{false, true} {
		cmd := exec.Command("git", "ls-remote", "ext::sh -c touch% "+marker)
		cmd.Dir = root
		cmd.Env = gitEnv(root, allowFile, "", "", "")
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("git ran an ext:: URL: %s", out)
		}
		if !strings.Contains(string(out), "not allowed") {
			t.Errorf("git's error does not say the transport is not allowed: %s", out)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatal("ext:: ran a command")
		}
	}
}

func TestFetchDestination(t *testing.T) {
	t.Parallel()
	_, r, _ := sharedRepos(t)
	g := &Git{AllowFile: true}
	dst := t.TempDir()
	writeFile(t, filepath.Join(dst, "keep.txt"), "mine")
	if _, err := g.Fetch(context.Background(), r.dir, "", "", dst, nil); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Fetch into a folder with a file: %v, want a 'not empty' error", err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "keep.txt")); err != nil || string(b) != "mine" {
		t.Fatalf("the folder's file was touched: %q, %v", b, err)
	}
}

func TestFetchWithoutGit(t *testing.T) {
	t.Parallel()
	g := &Git{Bin: filepath.Join(t.TempDir(), "no-git-here"), AllowFile: true}
	_, err := g.Fetch(context.Background(), "/tmp", "", "", t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), "apt-get install git") {
		t.Fatalf("err = %v, want one saying apt-get install git", err)
	}
}

// gitHTTP serves the repositories under root over git's smart HTTP
// protocol with git http-backend through net/http/cgi. With a token, every
// request needs HTTP Basic auth with it as the password. v0 drops the
// Git-Protocol header, so the server speaks protocol v0, which refuses
// commits that are not tips unless the repository allows them.
// throughProxy sends fetches through the egress proxy, as on a server
// without --allow-private-git, but lets the test servers' loopback
// through.
var throughProxy = egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

func gitHTTP(t testing.TB, root, token string, v0 bool) *httptest.Server {
	t.Helper()
	execPath := testGit(t, root, "--exec-path")
	backend := &cgi.Handler{
		Path: filepath.Join(execPath, "git-http-backend"),
		Dir:  root,
		Env: []string{
			"GIT_PROJECT_ROOT=" + root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=" + os.DevNull,
			"HOME=" + root,
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" {
			_, pass, ok := r.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(pass), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "authentication required", http.StatusUnauthorized)
				return
			}
		}
		if v0 {
			r.Header.Del("Git-Protocol")
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// argvRecorder returns a git "binary" that appends its arguments to a log
// and runs the real git.
func argvRecorder(t *testing.T) (bin, log string) {
	t.Helper()
	real := requireGit(t)
	d := t.TempDir()
	log = filepath.Join(d, "argv.log")
	bin = filepath.Join(d, "git")
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '" + log + "'\nexec '" + real + "' \"$@\"\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, log
}

func TestFetchHTTPSToken(t *testing.T) {
	t.Parallel()
	root, r, _ := sharedRepos(t)
	const token = "ghs_Tok3nThatMustNeverLeak0123456789"
	srv := gitHTTP(t, root, token, false)
	url := srv.URL + "/repo.git"
	bin, argvLog := argvRecorder(t)
	// Through the egress proxy, which lets loopback through here.
	g := &Git{Bin: bin, Policy: throughProxy}
	secrets := []string{token, base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token))}

	t.Run("right token", func(t *testing.T) {
		dst := t.TempDir()
		var progress testio.Buffer
		co, err := g.Fetch(context.Background(), url, "feature", token, dst, &progress)
		if err != nil {
			t.Fatalf("Fetch: %v\n%s", err, progress.String())
		}
		if co.Commit != r.feature || co.Branch != "feature" || !co.Shallow {
			t.Fatalf("Checkout = %+v, want feature %s at depth 1", co, r.feature)
		}
		if n := testGit(t, dst, "rev-list", "--count", "HEAD"); n != "1" {
			t.Errorf("history has %s commits, want 1", n)
		}
		// The token is nowhere in the checkout (.git/config included),
		// the progress output or git's argv.
		argv, err := os.ReadFile(argvLog)
		if err != nil || !bytes.Contains(argv, []byte("fetch")) {
			t.Fatalf("argv log: %q, %v", argv, err)
		}
		places := map[string]string{"progress": progress.String(), "argv": string(argv)}
		filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				b, _ := os.ReadFile(p)
				places[p] = string(b)
			}
			return nil
		})
		if !strings.Contains(places[filepath.Join(dst, ".git", "config")], url) {
			t.Errorf(".git/config does not name the remote:\n%s", places[filepath.Join(dst, ".git", "config")])
		}
		for where, text := range places {
			for _, s := range secrets {
				if strings.Contains(text, s) {
					t.Errorf("the token appears in %s", where)
				}
			}
			if strings.Contains(strings.ToLower(text), "extraheader") {
				t.Errorf("the auth header's configuration appears in %s", where)
			}
		}
		for _, kv := range os.Environ() {
			if strings.Contains(kv, token) {
				t.Errorf("the token is in our own environment: %s", kv)
			}
		}
	})

	t.Run("token as user:secret", func(t *testing.T) {
		if _, err := g.Fetch(context.Background(), url, "", "someone:"+token, t.TempDir(), nil); err != nil {
			t.Fatal(err)
		}
	})

	for name, tok := range map[string]string{"wrong token": "ghs_WrongWrongWrong987", "no token": ""} {
		t.Run(name, func(t *testing.T) {
			dst := t.TempDir()
			var progress testio.Buffer
			_, err := g.Fetch(context.Background(), url, "main", tok, dst, &progress)
			assertCode(t, err, apogee.EINVALID, "authentication failed", "check the URL and that the token can read the repository")
			if tok != "" {
				for _, s := range []string{tok, base64.StdEncoding.EncodeToString([]byte("x-access-token:" + tok))} {
					if strings.Contains(err.Error(), s) || strings.Contains(progress.String(), s) {
						t.Errorf("the wrong token appears in the error or the progress: %v\n%s", err, progress.String())
					}
				}
			}
			assertEmptyDir(t, dst)
		})
	}
}

// A protocol v0 server that will not send a commit that is not a tip:
// Fetch falls back to the whole history and still checks it out.
func TestFetchSHAFallback(t *testing.T) {
	t.Parallel()
	root, _, r := sharedRepos(t)
	srv := gitHTTP(t, root, "", true)
	var progress testio.Buffer
	dst := t.TempDir()
	co, err := (&Git{Policy: throughProxy}).Fetch(context.Background(), srv.URL+"/v0.git", r.first, "", dst, &progress)
	if err != nil {
		t.Fatalf("Fetch: %v\n%s", err, progress.String())
	}
	if co.Commit != r.first || co.Shallow {
		t.Fatalf("Checkout = %+v, want %s, not shallow", co, r.first)
	}
	if !strings.Contains(progress.String(), "fetching the history") {
		t.Errorf("progress does not say it fell back:\n%s", progress.String())
	}
	// A tip still comes at depth 1 from the same server, by its name.
	dst = t.TempDir()
	co, err = (&Git{Policy: throughProxy}).Fetch(context.Background(), srv.URL+"/v0.git", r.feature, "", dst, nil)
	if err != nil || co.Commit != r.feature || !co.Shallow {
		t.Fatalf("Fetch of a tip by SHA: %+v, %v", co, err)
	}
}

// hangingServer accepts requests and never answers them.
func hangingServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFetchCancel(t *testing.T) {
	t.Parallel()
	requireGit(t)
	srv := hangingServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	dst := t.TempDir()
	start := time.Now()
	_, err := (&Git{Policy: egress.Policy{AllowPrivate: true}}).Fetch(ctx, srv.URL+"/web.git", "", "", dst, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Fetch took %v to stop after cancel", d)
	}
	assertEmptyDir(t, dst)
}

func TestFetchTimeout(t *testing.T) {
	t.Parallel()
	requireGit(t)
	srv := hangingServer(t)
	dst := t.TempDir()
	start := time.Now()
	_, err := (&Git{Timeout: 300 * time.Millisecond, Policy: egress.Policy{AllowPrivate: true}}).Fetch(context.Background(), srv.URL+"/web.git", "", "", dst, nil)
	assertCode(t, err, apogee.EINVALID, "took longer than 300ms")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Fetch took %v to stop after its timeout", d)
	}
	assertEmptyDir(t, dst)
}

func TestParseRef(t *testing.T) {
	t.Parallel()
	for ref, want := range map[string]wantRef{
		"":                   {kind: refDefault},
		"main":               {kind: refName, name: "main"},
		"feature/login":      {kind: refName, name: "feature/login"},
		"refs/heads/a/b":     {kind: refBranch, name: "a/b"},
		"refs/tags/v1.2.3":   {kind: refTag, name: "v1.2.3"},
		"deadbeef":           {kind: refName, name: "deadbeef"},
		"release-2024.01_rc": {kind: refName, name: "release-2024.01_rc"},
	} {
		if got, err := parseRef(ref); err != nil || got != want {
			t.Errorf("parseRef(%q) = %+v, %v; want %+v", ref, got, err, want)
		}
	}
	for _, ref := range []string{"-x", "a..b", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[", `a\b`, "/a", "a/", "a.", "a.lock",
		".a", "a/.b", "a//b", "@", "a@{1}", "refs/heads/", "a\x00b", "a\nb"} {
		if _, err := parseRef(ref); err == nil {
			t.Errorf("parseRef(%q) accepted it", ref)
		}
	}
}
