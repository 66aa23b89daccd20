package cli

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// ignoreFile is the deploy's own ignore file, read like .gitignore (and
// after it, so that its "!pattern" lines can bring back what .gitignore
// leaves out). It is never uploaded.
const ignoreFile = ".apogeeignore"

// ignorer decides what `apogee deploy` leaves out of a folder, with git's
// own rules (go-git's gitignore matcher): the patterns of every
// .gitignore and .apogeeignore found on the way down apply below the
// folder that holds them, later and deeper ones first.
//
// Always left out: .git (by the client), the .apogee link folder and
// .apogeeignore files. For a project's source, also every node_modules
// folder and what .gitignore files exclude (build output, logs, local
// env files). A prebuilt folder follows only .apogeeignore.
type ignorer struct {
	root     string
	source   bool
	patterns []gitignore.Pattern
	matcher  gitignore.Matcher
	skipped  int
}

func newIgnorer(root string, source bool) *ignorer {
	ig := &ignorer{root: root, source: source}
	ig.load("")
	return ig
}

// skip is client.DeployOptions.Skip: it is called for a folder before
// what it holds, so a folder's ignore files are read as the walk enters
// it.
func (ig *ignorer) skip(rel string, dir bool) bool {
	parts := strings.Split(rel, "/")
	name := parts[len(parts)-1]
	if ig.always(rel, name, dir) || ig.matcher.Match(parts, dir) {
		ig.skipped++
		return true
	}
	if dir {
		ig.load(rel)
	}
	return false
}

func (ig *ignorer) always(rel, name string, dir bool) bool {
	switch {
	case dir && rel == linkDir:
		return true
	case !dir && name == ignoreFile:
		return true
	case dir && name == "node_modules" && ig.source:
		return true
	}
	return false
}

// load reads the ignore files of folder rel ("" for the root).
func (ig *ignorer) load(rel string) {
	var domain []string
	if rel != "" {
		domain = strings.Split(rel, "/")
	}
	names := []string{ignoreFile}
	if ig.source {
		names = []string{".gitignore", ignoreFile}
	}
	for _, name := range names {
		f, err := os.Open(filepath.Join(ig.root, filepath.FromSlash(rel), name))
		if err != nil {
			continue
		}
		s := bufio.NewScanner(f)
		for s.Scan() {
			line := strings.TrimSuffix(s.Text(), "\r")
			if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
				continue
			}
			ig.patterns = append(ig.patterns, gitignore.ParsePattern(line, domain))
		}
		f.Close()
	}
	ig.matcher = gitignore.NewMatcher(ig.patterns)
}
