// Package framework recognises the framework of a source tree and plans its
// build, like Vercel's presets: which package manager installs it, which
// command builds it and which folder holds the site afterwards.
//
// Detection is table-driven (see Presets) and pure: it reads package.json,
// the names of lockfiles and a few framework config files through an fs.FS
// and never runs anything. JavaScript config files are not executed; the
// options Apogee needs from them (Next's output: 'export', SvelteKit's
// pages, Vite's outDir …) are read with regular expressions on the source
// with comments removed, which covers string literals and nothing computed.
//
// The table, in detection order (the first match wins):
//
//	framework         recognised by                      default build          output
//	nextjs            next, next.config.*                next build             out, or distDir; output: 'export' only
//	gatsby            gatsby, gatsby-config.*            gatsby build           public
//	docusaurus        @docusaurus/core, docusaurus.config.*  docusaurus build   build
//	nuxt              nuxt, nuxt.config.*                nuxt generate (script "generate")  .output/public; dist for Nuxt 2
//	sveltekit         @sveltejs/kit                      vite build             build, or adapter-static's pages
//	astro             astro, astro.config.*              astro build            dist, or outDir; not output: 'server'
//	react-router      @react-router/dev, @remix-run/dev  react-router build     build/client; ssr: false only
//	angular           @angular/core, angular.json        ng build               outputPath (+ /browser for :application)
//	vue-cli           @vue/cli-service, vue.config.*     vue-cli-service build  dist, or outputDir
//	create-react-app  react-scripts                      react-scripts build    build
//	vite              vite, vite.config.*                vite build             dist, or build.outDir
//	other             a "build" script                   (the script)           dist
//	static            index.html, no build script        none                   .
//
// The build command is the package manager running the package.json
// script ("npm run build") whenever the project has one.
//
// Every detected value can be overridden per project (Overrides, DetectWith,
// Plan.With). A tree the platform cannot build statically yet (Next.js or
// Astro server mode, SvelteKit without adapter-static) is an *apogee.Error
// with code EINVALID and a message saying what to change.
//
// DetectKind tells a static project from an app (a Node.js server the
// runtime runs) with a table of its own, beside the presets: a Procfile
// web: process, Next.js without a static export, a start script that is
// not a dev server, or a server entry make an app; see kindRules.
//
// Untrusted trees: Detect reads what fsys gives. Give it safefs's FS of
// the checkout, which follows no link and opens only regular files, so
// that a link, a FIFO or a huge file planted in the repository is an
// error rather than a read outside it, a stalled worker or a full memory.
package framework

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/safefs"
)

// Plan says how to install and build a project and where its site is after
// the build. Commands are shell command lines, run in the project root with
// node_modules/.bin on PATH (as npm run does); an empty InstallCommand or
// BuildCommand means that step is skipped.
type Plan struct {
	// Framework is the preset's identifier ("vite", "nextjs", "static", …).
	Framework string `json:"framework"`
	// Name is for people: "Vite (React)", "Next.js (static export)".
	Name string `json:"name"`
	// PackageManager is "npm", "yarn" or "pnpm"; "" when nothing is installed.
	PackageManager string `json:"package_manager"`
	// InstallCommand is e.g. "npm ci" with a lockfile, "npm install" without.
	InstallCommand string `json:"install_command"`
	// BuildCommand runs the package.json script when there is one ("npm run
	// build"), else the preset's default ("vite build"); "" for plain HTML.
	BuildCommand string `json:"build_command"`
	// OutputDir is the folder, relative to the project root and clean, that
	// is deployed after the build; "." for plain HTML.
	OutputDir string `json:"output_dir"`
	// Lockfile is the path of the lockfile the install uses, relative to the
	// project root, for the dependency cache key; "" if there is none.
	Lockfile string `json:"lockfile"`
	// NodeVersion is package.json engines.node, else .nvmrc, else
	// .node-version, as written (a range or a version); "" if none.
	NodeVersion string `json:"node_version"`
	// NodeVersionFrom says where NodeVersion was read: "engines.node",
	// ".nvmrc" or ".node-version"; "" with no NodeVersion.
	NodeVersionFrom string `json:"node_version_from"`
	// CacheDirs are the preset's cache folders (Preset.CacheDirs).
	CacheDirs []string `json:"cache_dirs"`
}

// Overrides are a project's build settings (apogee.BuildSettings, whose
// fields they are: a project's settings convert as they are) that replace
// detected values. A nil field keeps the detected value; a pointer to ""
// sets the value to empty (an empty BuildCommand skips the build).
// RootDir, the folder of the repository that holds the project, is
// applied by the caller before detection (see Sub); With ignores it.
// Framework forces a preset by its identifier (see Presets).
type Overrides apogee.BuildSettings

// Limits on override values.
const (
	maxCommandLen = 4096
	maxDirLen     = 1024
)

// Validate checks the overrides: RootDir and OutputDir must be relative
// folders inside the project (no "..", not absolute), commands must be
// printable and at most 4 KiB, Framework must name a preset. Errors are
// *apogee.Error with code EINVALID.
func (o Overrides) Validate() error {
	if o.RootDir != nil {
		if _, err := cleanDir("root directory", *o.RootDir); err != nil {
			return err
		}
	}
	if o.OutputDir != nil {
		if _, err := cleanDir("output directory", *o.OutputDir); err != nil {
			return err
		}
	}
	for _, c := range []struct {
		what string
		v    *string
	}{{"install command", o.InstallCommand}, {"build command", o.BuildCommand}} {
		if c.v == nil {
			continue
		}
		if len(*c.v) > maxCommandLen {
			return apogee.Errorf(apogee.EINVALID, "the %s is %d bytes long; the limit is %d", c.what, len(*c.v), maxCommandLen)
		}
		if strings.ContainsRune(*c.v, 0) {
			return apogee.Errorf(apogee.EINVALID, "the %s contains a NUL byte", c.what)
		}
	}
	if o.Framework != nil {
		if _, ok := Lookup(*o.Framework); !ok {
			return apogee.Errorf(apogee.EINVALID, "unknown framework %q; use one of %s", *o.Framework, strings.Join(frameworkIDs(), ", "))
		}
	}
	return nil
}

// Sub returns the project's tree inside the repository tree fsys: fsys
// itself without a RootDir, else fs.Sub of the cleaned RootDir. It checks
// that the folder exists.
func (o Overrides) Sub(fsys fs.FS) (fs.FS, error) {
	if o.RootDir == nil {
		return fsys, nil
	}
	dir, err := cleanDir("root directory", *o.RootDir)
	if err != nil {
		return nil, err
	}
	if dir == "." {
		return fsys, nil
	}
	fi, err := fs.Stat(fsys, dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, apogee.Errorf(apogee.EINVALID, "root directory %q does not exist in the repository", dir)
	case errors.Is(err, safefs.ErrLink):
		return nil, apogee.Errorf(apogee.EINVALID, "root directory %q passes through a symbolic link; links are not followed: name the folder itself", dir)
	case err != nil:
		return nil, fmt.Errorf("framework: stat root directory: %w", err)
	case fi.Mode().Type() == fs.ModeSymlink:
		return nil, apogee.Errorf(apogee.EINVALID, "root directory %q is a symbolic link; links are not followed: name the folder itself", dir)
	case !fi.IsDir():
		return nil, apogee.Errorf(apogee.EINVALID, "root directory %q is not a folder", dir)
	}
	return fs.Sub(fsys, dir)
}

// Detect recognises the project in fsys (rooted at the project root, after
// RootDir) and returns its build plan.
//
// Errors are *apogee.Error with code EINVALID for a tree Apogee cannot plan
// (malformed package.json, unsupported server modes, nothing to build),
// ETOOLARGE for a package.json over 4 MiB, and wrapped fs errors otherwise.
func Detect(fsys fs.FS) (Plan, error) {
	return DetectWith(fsys, Overrides{})
}

// DetectWith is Detect followed by With, and lets the overrides decide
// what detection alone cannot: a forced Framework is planned from its
// preset instead of the table's match; an OutputDir override stands in for
// a folder detection could not find (so a Next.js tree without output:
// 'export' builds if the project says where its output is); an
// InstallCommand override stands in for an unsupported package manager;
// a BuildCommand override stands in for a missing build script.
// The overrides are validated first.
func DetectWith(fsys fs.FS, o Overrides) (Plan, error) {
	if err := o.Validate(); err != nil {
		return Plan{}, err
	}
	plan, issues, err := detect(fsys, o)
	if err != nil {
		return Plan{}, err
	}
	for _, is := range issues {
		if !is.rescuedBy(o) {
			return Plan{}, is.err
		}
	}
	return plan.With(o), nil
}

// With returns p with the overrides applied. A Framework that differs from
// p's takes that preset's name and output folder and, where p has no build
// command, its default build command; "static" clears the install and
// build. Explicit InstallCommand, BuildCommand and OutputDir come after
// that. With cannot look at the tree: DetectWith plans a forced framework
// better. The overrides must have passed Validate; OutputDir is cleaned.
func (p Plan) With(o Overrides) Plan {
	if o.Framework != nil && *o.Framework != p.Framework {
		if pre, ok := Lookup(*o.Framework); ok {
			p.Framework, p.Name, p.OutputDir, p.CacheDirs = pre.Framework, pre.Name, pre.OutputDir, pre.CacheDirs
			if pre.Framework == "static" {
				p.PackageManager, p.InstallCommand, p.BuildCommand, p.Lockfile = "", "", "", ""
			} else {
				if p.PackageManager == "" {
					p.PackageManager, p.InstallCommand = "npm", "npm install"
				}
				if p.BuildCommand == "" {
					p.BuildCommand = pre.BuildCommand
				}
			}
		}
	}
	if o.InstallCommand != nil {
		p.InstallCommand = *o.InstallCommand
	}
	if o.BuildCommand != nil {
		p.BuildCommand = *o.BuildCommand
	}
	if o.OutputDir != nil {
		if dir, err := cleanDir("output directory", *o.OutputDir); err == nil {
			p.OutputDir = dir
		}
	}
	return p
}

// cleanDir validates a folder relative to the project root and returns it
// clean, without "./" or a trailing slash; "" and "./" become ".".
func cleanDir(what, dir string) (string, error) {
	if len(dir) > maxDirLen {
		return "", apogee.Errorf(apogee.EINVALID, "%s %.40q… is longer than %d bytes", what, dir, maxDirLen)
	}
	for i := 0; i < len(dir); i++ {
		switch c := dir[i]; {
		case c < 0x20 || c == 0x7f:
			return "", apogee.Errorf(apogee.EINVALID, "%s %q contains a control character", what, dir)
		case c == '\\':
			return "", apogee.Errorf(apogee.EINVALID, "%s %q contains a backslash; use forward slashes", what, dir)
		}
	}
	if strings.HasPrefix(dir, "/") {
		return "", apogee.Errorf(apogee.EINVALID, "%s %q is absolute; give a folder relative to the project root", what, dir)
	}
	if dir == "" {
		return ".", nil
	}
	clean := path.Clean(dir)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", apogee.Errorf(apogee.EINVALID, "%s %q is outside the project", what, dir)
	}
	return clean, nil
}

// issue is a problem detection can plan around when the project overrides
// the value it could not find.
type issue struct {
	err       *apogee.Error
	rescuedBy func(Overrides) bool
}

func needOutput(o Overrides) bool  { return o.OutputDir != nil }
func needInstall(o Overrides) bool { return o.InstallCommand != nil }
func needBuild(o Overrides) bool   { return o.BuildCommand != nil || o.OutputDir != nil }
