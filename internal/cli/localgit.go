package cli

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/apogee-dev/apogee"
)

// localGitURL turns a repository on this machine given to --git (an
// absolute or relative path of a folder, or ~/…) into a file:// URL, the
// form the server reads; any other value is returned as it is.
func localGitURL(raw string) string {
	if raw == "" || strings.Contains(raw, "://") {
		return raw
	}
	p := raw
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, rest)
		}
	}
	local := filepath.IsAbs(p) || strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../") || p == "." || p == ".."
	if !local {
		if st, err := os.Stat(p); err != nil || !st.IsDir() {
			return raw // github.com/acme/web and the like: the server says what it wants
		}
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return raw
	}
	return "file://" + filepath.ToSlash(abs)
}

// localGitHint explains a refused local repository: the server builds
// from file:// only with --allow-file-git, and `git push` to the
// platform is usually the better way to build what is on this machine.
func localGitHint(err error, url, project string) error {
	if !strings.HasPrefix(url, "file://") {
		return err
	}
	return withHint(err, apogee.EINVALID,
		"To build a repository that is on your machine, push it to the platform instead: `apogee projects create "+project+"` "+
			"without --git, then `git push http://x:TOKEN@SERVER/git/"+project+".git main` (a token from `apogee tokens create git`); "+
			"every push builds. A server started with --allow-file-git (development and tests) builds from file:// paths on its own machine.")
}
