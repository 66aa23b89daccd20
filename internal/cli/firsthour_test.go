package cli

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
)

func TestVersion(t *testing.T) {
	env(t)
	long := run(t, "", "version").ok(t)
	short := run(t, "", "--version").ok(t)
	if !strings.HasPrefix(long.stdout, "apogee ") || long.stdout != short.stdout || strings.Count(long.stdout, "\n") != 1 {
		t.Fatalf("version printed %q, --version %q", long.stdout, short.stdout)
	}
	v := oneJSON(t, run(t, "", "version", "--json").ok(t).stdout)
	if v["version"] == "" || !strings.HasPrefix(v["go"].(string), "go") {
		t.Fatalf("version --json = %v", v)
	}
}

func TestBuildInfo(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d"},
		{Key: "vcs.time", Value: "2026-12-04T18:55:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	for _, tc := range []struct {
		name string
		in   BuildInfo
		want string
	}{
		{"from the toolchain", BuildInfo{Platform: "linux/amd64"}, "apogee dev (commit 1a2b3c4d5e6f, 2026-12-04T18:55:00Z, modified) go1.26.0 linux/amd64"},
		{"from ldflags", BuildInfo{Version: "v1.2.0", Commit: "abcdef0123456789", Date: "2026-12-05T10:00:00Z", Go: "go1.26.0", Platform: "linux/arm64"},
			"apogee v1.2.0 (commit abcdef012345, 2026-12-05T10:00:00Z) go1.26.0 linux/arm64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bi := fromBuildInfo(tc.in, info)
			if bi.Version == "" {
				bi.Version = "dev"
			}
			if got := bi.String(); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestUnknownSubcommand: a typo fails and suggests the command meant; a
// group alone prints its help.
func TestUnknownSubcommand(t *testing.T) {
	env(t)
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"projects", "craete"}, "Did you mean `apogee projects create`?"},
		{[]string{"deplyo"}, "Did you mean `apogee deploy`?"},
		{[]string{"domains", "ad", "x.example.com"}, "`apogee domains add`"},
		{[]string{"projects", "frobnicate"}, "Run `apogee projects --help` to see its commands."},
	} {
		r := run(t, "", tc.argv...)
		if r.code == 0 || !strings.Contains(r.stderr, "Error: Unknown command") || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("apogee %s: code %d\n%s", strings.Join(tc.argv, " "), r.code, r.stderr)
		}
	}
	r := run(t, "", "projects").ok(t)
	if !strings.Contains(r.stdout, "Available Commands") {
		t.Errorf("apogee projects printed:\n%s", r.stdout)
	}
	r = run(t, "", "projects", "craete", "--json")
	if r.code == 0 || oneJSON(t, r.stdout)["error"] == nil {
		t.Errorf("--json typo: code %d\n%s", r.code, r.stdout)
	}
}

// TestDeployMissingFolder: advice about the folder, and no server is
// asked (none is configured).
func TestDeployMissingFolder(t *testing.T) {
	env(t)
	dir := t.TempDir()
	r := run(t, "", "deploy", filepath.Join(dir, "dist"), "--project", "site")
	if r.code == 0 || !strings.Contains(r.stderr, "Error: Folder "+filepath.Join(dir, "dist")+" does not exist") ||
		!strings.Contains(r.stderr, "npm run build") || strings.Contains(r.stderr, "server") {
		t.Fatalf("missing folder: code %d\n%s", r.code, r.stderr)
	}
	zip := filepath.Join(dir, "site.zip")
	os.WriteFile(zip, []byte("PK"), 0o644)
	r = run(t, "", "deploy", zip, "--project", "site")
	if r.code == 0 || !strings.Contains(r.stderr, "is a file, not a folder") || !strings.Contains(r.stderr, "--zip") {
		t.Fatalf("a ZIP as the folder: code %d\n%s", r.code, r.stderr)
	}
}

func TestLocalGitURL(t *testing.T) {
	cwd := t.TempDir()
	t.Chdir(cwd)
	os.Mkdir("checkout", 0o755)
	for in, want := range map[string]string{
		"https://github.com/acme/web.git": "https://github.com/acme/web.git",
		"file:///srv/web.git":             "file:///srv/web.git",
		"/srv/web.git":                    "file:///srv/web.git",
		"./repo":                          "file://" + filepath.Join(cwd, "repo"),
		"github.com/acme/web":             "github.com/acme/web",
		"checkout":                        "file://" + filepath.Join(cwd, "checkout"),
	} {
		if got := localGitURL(in); got != want {
			t.Errorf("localGitURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSentence(t *testing.T) {
	for in, want := range map[string]string{"not logged in": "Not logged in", "Already": "Already", "": "", "élan": "Élan", "--prod x": "--prod x"} {
		if got := sentence(in); got != want {
			t.Errorf("sentence(%q) = %q, want %q", in, got, want)
		}
	}
}

// writeTree writes files (path → content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIgnorer(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		".gitignore":        "# build output\ndist\n*.log\n.env*.local\n/top-only.txt\n",
		".apogeeignore":     "secrets/\n!keep.log\n",
		"src/.gitignore":    "generated/\n",
		"src/.apogeeignore": "*.test.ts\n",
	})
	for _, tc := range []struct {
		source bool
		rel    string
		dir    bool
		skip   bool
	}{
		{true, "src", true, false},
		{true, "src/main.ts", false, false},
		{true, "src/main.test.ts", false, true},
		{true, "src/generated", true, true},
		{true, "generated", true, false}, // src/.gitignore applies below src only
		{true, "dist", true, true},
		{true, "src/dist", true, true}, // no slash: at any depth
		{true, "debug.log", false, true},
		{true, "keep.log", false, false}, // .apogeeignore brings it back
		{true, ".env.production.local", false, true},
		{true, "top-only.txt", false, true},
		{true, "src/top-only.txt", false, false},
		{true, "node_modules", true, true},
		{true, "packages/a/node_modules", true, true},
		{true, "secrets", true, true},
		{true, ".apogee", true, true},
		{true, ".apogeeignore", false, true},
		{true, ".gitignore", false, false},
		// A prebuilt folder follows only .apogeeignore.
		{false, "dist", true, false},
		{false, "debug.log", false, false},
		{false, "node_modules", true, false},
		{false, "secrets", true, true},
		{false, ".apogee", true, true},
	} {
		ig := newIgnorer(dir, tc.source)
		ig.skip("src", true) // enter src, as the walk does
		if got := ig.skip(tc.rel, tc.dir); got != tc.skip {
			t.Errorf("source=%v skip(%q, dir=%v) = %v, want %v", tc.source, tc.rel, tc.dir, got, tc.skip)
		}
	}
}

func TestDetectSource(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		build bool
	}{
		{"plain HTML", map[string]string{"index.html": "<h1>hi</h1>"}, false},
		{"build output", map[string]string{"index.html": "<h1>hi</h1>", "assets/index-abc.js": "x"}, false},
		{"build script", map[string]string{"package.json": `{"scripts":{"build":"node build.js"}}`, "build.js": ""}, true},
		{"vite", map[string]string{"package.json": `{"scripts":{"dev":"vite","build":"vite build"},"devDependencies":{"vite":"^7.0.0"}}`, "index.html": ""}, true},
		{"node app", map[string]string{"package.json": `{"scripts":{"start":"node server.js"}}`, "server.js": ""}, true},
		{"package.json without build", map[string]string{"package.json": `{"name":"x"}`, "index.html": ""}, false},
	} {
		dir := t.TempDir()
		writeTree(t, dir, tc.files)
		if got := detectSource(dir); got.build != tc.build {
			t.Errorf("%s: detectSource = %+v, want build=%v", tc.name, got, tc.build)
		}
	}
}

// builtSource stands in for the builder of a source folder: it claims
// the next build, records the source manifest it would build, and
// finishes it with a one-file output.
func builtSource(t *testing.T, st apogee.Store, hub *logs.Hub) <-chan []apogee.File {
	t.Helper()
	got := make(chan []apogee.File, 1)
	ctx := t.Context()
	go func() {
		defer close(got)
		var d *apogee.Deployment
		for {
			var err error
			if d, err = st.ClaimBuild(ctx, "test/1", time.Now()); err == nil {
				break
			}
			if !errors.Is(err, apogee.ErrNotFound) || ctx.Err() != nil {
				t.Error("claim:", err)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		if d.Source != apogee.SourceFolder {
			t.Errorf("claimed %+v, want a source folder", d)
		}
		src, err := st.DeploymentFiles(ctx, d.ID)
		if err != nil {
			t.Error(err)
			return
		}
		w := logs.NewWriter(d.ID, st, hub, logs.Options{FlushInterval: 10 * time.Millisecond})
		w.Systemf("Writing the uploaded source folder: %d files", len(src))
		io.WriteString(w.Stream(apogee.StreamStdout), "vite v7.0.0 building for production...\n")
		w.Close(ctx)
		out := []apogee.File{{Path: "index.html", SHA256: strings.Repeat("b", 64), Size: 5}}
		if _, err := st.FinishBuild(ctx, d.ID, out, time.Now(), d.Target == apogee.TargetProduction); err != nil {
			t.Error(err)
		}
		hub.End(d.ID)
		got <- src
	}()
	return got
}

func paths(files []apogee.File) string {
	var p []string
	for _, f := range files {
		p = append(p, f.Path)
	}
	sort.Strings(p)
	return strings.Join(p, " ")
}

// TestDeploySourceFolder: a project's source is uploaded without what
// it ignores and built on the server; the first deploy links the
// folder, the next needs no --project and sends only the changed file;
// --prebuilt deploys the same folder as it is.
func TestDeploySourceFolder(t *testing.T) {
	st, hub := buildAPI(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"package.json":           `{"name":"app","scripts":{"dev":"vite","build":"vite build"},"devDependencies":{"vite":"^7.0.0"}}`,
		"index.html":             `<script type="module" src="/src/main.js"></script>`,
		"src/main.js":            "console.log(1)",
		".gitignore":             "node_modules\ndist\n*.local\n",
		".env.local":             "SECRET=1",
		"dist/index.html":        "old build",
		"node_modules/vite/x.js": "x",
		".git/HEAD":              "ref: refs/heads/main",
	})
	built := builtSource(t, st, hub)
	r := run(t, "", "deploy", dir, "--project", "web").ok(t)
	src := <-built
	if got := paths(src); got != ".gitignore index.html package.json src/main.js" {
		t.Fatalf("uploaded source: %s", got)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "web--") {
		t.Errorf("last stdout line %q, want the deployment's URL", last)
	}
	for _, want := range []string{"(Vite", "the server builds it", "--prebuilt", "Queued build", "vite v7.0.0 building", "Linked " + dir + " to web"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if l, err := readLink(dir); err != nil || l == nil || l.Project != "web" || l.ProjectID == "" {
		t.Fatalf("link after the first deploy: %+v, %v", l, err)
	}

	// The linked folder: no --project; one changed file is one upload.
	writeTree(t, dir, map[string]string{"src/main.js": "console.log(2)"})
	built = builtSource(t, st, hub)
	r = run(t, "", "deploy", dir, "--prod").ok(t)
	<-built
	if !strings.Contains(r.stderr, "1 file sent") || strings.Contains(r.stderr, "Linked") {
		t.Errorf("second deploy:\n%s", r.stderr)
	}
	var p *apogee.Project
	var err error
	if p, err = st.ProjectByName(t.Context(), "web"); err != nil || p.ProductionID == "" {
		t.Fatalf("deploy --prod of the source made no production: %+v %v", p, err)
	}

	// As it is: no build, everything but the link and .git.
	v := oneJSON(t, run(t, "", "deploy", dir, "--prebuilt", "--json").ok(t).stdout)
	if v["status"] != string(apogee.StatusReady) {
		t.Fatalf("deploy --prebuilt --json = %v", v)
	}
	files, err := st.DeploymentFiles(t.Context(), v["id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(files); got != ".env.local .gitignore dist/index.html index.html node_modules/vite/x.js package.json src/main.js" {
		t.Errorf("prebuilt deployment: %s", got)
	}
	r = run(t, "", "deploy", dir, "--prebuilt", "--no-cache")
	if r.code == 0 || !strings.Contains(r.stderr, "--no-cache is for builds") {
		t.Errorf("--prebuilt --no-cache: code %d\n%s", r.code, r.stderr)
	}
}

// TestLink: apogee link names the project for the folder's later
// commands; a link made with another server is refused with advice.
func TestLink(t *testing.T) {
	buildAPI(t)
	dir := t.TempDir()
	r := run(t, "", "link", dir, "--project", "nosuch")
	if r.code == 0 || !strings.Contains(r.stderr, "apogee projects create nosuch") {
		t.Fatalf("link to a missing project: code %d\n%s", r.code, r.stderr)
	}
	r = run(t, "", "link", dir, "--project", "web").ok(t)
	if !strings.Contains(r.stdout, "Linked") {
		t.Errorf("link printed %q", r.stdout)
	}
	ignore, err := os.ReadFile(filepath.Join(dir, ".apogee", ".gitignore"))
	if err != nil || !strings.Contains(string(ignore), "*") {
		t.Errorf(".apogee/.gitignore: %q %v", ignore, err)
	}
	// Commands run in the folder use the link.
	t.Chdir(dir)
	r = run(t, "", "deployments", "list", "--json").ok(t)
	if _, ok := oneJSON(t, r.stdout)["deployments"]; !ok {
		t.Errorf("deployments list in a linked folder: %s", r.stdout)
	}
	writeTree(t, dir, map[string]string{"index.html": "<h1>linked</h1>"})
	r = run(t, "", "deploy").ok(t)
	if !strings.Contains(r.stderr, "to web (preview)") {
		t.Errorf("deploy in a linked folder:\n%s", r.stderr)
	}
	t.Setenv("APOGEE_SERVER", "http://127.0.0.1:1")
	r = run(t, "", "deploy")
	if r.code == 0 || !strings.Contains(r.stderr, "but the CLI talks to http://127.0.0.1:1") || !strings.Contains(r.stderr, "apogee link --project NAME") {
		t.Errorf("deploy with a link to another server: code %d\n%s", r.code, r.stderr)
	}
}
