package apogee

import (
	"fmt"
	"path"
	"strings"
)

// MaxWatchPaths bounds a project's watch paths.
const MaxWatchPaths = 50

// Watched returns the paths of the repository whose change builds the
// project: its root folder (unless it is the repository's top) and its
// watch paths, cleaned. Empty: every change does.
func (b BuildSettings) Watched() []string {
	var out []string
	if b.RootDir != nil {
		if r := cleanWatch(*b.RootDir); r != "" {
			out = append(out, r)
		}
	}
	for _, w := range b.WatchPaths {
		c := cleanWatch(w)
		if c == "" {
			return nil // "." or "/" watches the whole repository
		}
		out = append(out, c)
	}
	return out
}

// cleanWatch is a watch path without leading "./", "/" or trailing "/";
// "" for the repository's top.
func cleanWatch(p string) string {
	p = strings.TrimSpace(p)
	p = path.Clean("/" + p)
	return strings.TrimPrefix(p, "/")
}

// Affected reports whether a push that changed the paths changed (slash
// separated, relative to the repository's top) touches the project: a
// changed path inside its root folder or one of its watch paths (a
// folder covers what is inside it; a path with *, ? or [ is matched as
// a glob against the path and each of its parent folders). When it does
// not, reason says why, for the skipped deployment.
func (b BuildSettings) Affected(changed []string) (ok bool, reason string) {
	watched := b.Watched()
	if len(watched) == 0 {
		return true, ""
	}
	for _, c := range changed {
		c = cleanWatch(c)
		for _, w := range watched {
			if watchMatch(w, c) {
				return true, ""
			}
		}
	}
	what := "the push changed no file"
	if n := len(changed); n == 1 {
		what = "the push changed 1 file, elsewhere"
	} else if n > 1 {
		what = fmt.Sprintf("the push changed %d files, elsewhere", n)
	}
	return false, fmt.Sprintf("Skipped: no change in %s (%s)", strings.Join(watched, ", "), what)
}

// watchMatch reports whether the changed path c is w or inside it.
func watchMatch(w, c string) bool {
	if !strings.ContainsAny(w, "*?[") {
		return c == w || strings.HasPrefix(c, w+"/")
	}
	for p := c; p != "." && p != "/" && p != ""; p = path.Dir(p) {
		if ok, _ := path.Match(w, p); ok {
			return true
		}
	}
	return false
}

// CheckWatchPaths checks a project's watch paths: at most MaxWatchPaths
// relative paths (or globs) inside the repository.
func CheckWatchPaths(paths []string) error {
	if len(paths) > MaxWatchPaths {
		return Errorf(EINVALID, "settings.build.watch_paths has %d paths; at most %d", len(paths), MaxWatchPaths)
	}
	for _, p := range paths {
		t := strings.TrimSpace(p)
		if t == "" || len(t) > 1024 || strings.ContainsAny(t, "\x00\n\r") {
			return Errorf(EINVALID, "settings.build.watch_paths: %q is not a path inside the repository, such as packages/ui", p)
		}
		for _, seg := range strings.Split(strings.Trim(t, "/"), "/") {
			if seg == ".." {
				return Errorf(EINVALID, "settings.build.watch_paths: %q leaves the repository; give a path inside it, such as packages/ui", p)
			}
		}
		if _, err := path.Match(t, ""); err != nil {
			return Errorf(EINVALID, "settings.build.watch_paths: %q is not a valid pattern: %v", p, err)
		}
	}
	return nil
}
