package cli

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
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
