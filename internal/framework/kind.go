package framework

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/apogee-dev/apogee"
)

// Kinds of project.
const (
	KindStatic = "static" // files the edge serves (what Detect plans)
	KindApp    = "app"    // a Node.js server whose instances the runtime runs
)

// KindPlan says how a project runs.
type KindPlan struct {
	// Kind is KindStatic or KindApp.
	Kind string `json:"kind"`
	// Rule names the row of the kind table that decided (see KindRules);
	// "static" when none did.
	Rule string `json:"rule"`
	// StartCommand starts an app's web process: a shell command line run
	// in the release tree with PORT set.
	StartCommand string `json:"start_command,omitempty"`
	// ReleaseCommand is the Procfile's release: line, run once per
	// release before any instance takes traffic (migrations).
	ReleaseCommand string `json:"release_command,omitempty"`
}

// KindRule is one row of the kind table.
type KindRule struct {
	// Name is what KindPlan.Rule says.
	Name string `json:"name"`
	// Doc says what the rule recognises, for people.
	Doc string `json:"doc"`

	// match reports the start command when the rule makes the project an
	// app.
	match func(k *kindTree) (start string, ok bool, err error)
}

// kindRules is the table, in order: the first row that matches makes the
// project an app; when none does it is static. Every row can be
// overridden by the project's settings (kind, start command).
//
//	rule           recognised by                                     start command
//	procfile-web   a Procfile with a web: process (Heroku's format)   the web: command
//	nextjs-server  next, without output: 'export' or `next export`   the start script, else next start
//	start-script   a "start" script, not a dev or static file        the package manager's start
//	               server, and no static framework
//	server-entry   server.js / server.mjs, or package.json "main"     node <entry>
//	               with a server framework, and no static framework
var kindRules = []KindRule{
	{
		Name: "procfile-web", Doc: "a Procfile with a web: process",
		match: func(k *kindTree) (string, bool, error) {
			web, ok := k.procfile["web"]
			return web, ok, nil
		},
	},
	{
		Name: "nextjs-server", Doc: "Next.js without output: 'export' (next start)",
		match: func(k *kindTree) (string, bool, error) {
			if k.pkg == nil || !k.pkg.has("next") {
				return "", false, nil
			}
			src, err := k.pr.readConfig(k.pr.first(configNames("next.config", "js", "mjs", "cjs", "ts", "mts")))
			if err != nil {
				return "", false, err
			}
			if v, _ := option(outputRE, src); v == "export" || nextExportRE.MatchString(k.pkg.Scripts["build"]) {
				return "", false, nil
			}
			if _, ok := k.pkg.Scripts["start"]; ok {
				return k.pm.start(), true, nil
			}
			return "node_modules/.bin/next start", true, nil
		},
	},
	{
		Name: "start-script", Doc: "a package.json \"start\" script that is not a dev or static file server, and no static framework",
		match: func(k *kindTree) (string, bool, error) {
			if k.pkg == nil || k.static {
				return "", false, nil
			}
			start, ok := k.pkg.Scripts["start"]
			if !ok || devServerRE.MatchString(start) {
				return "", false, nil
			}
			return k.pm.start(), true, nil
		},
	},
	{
		Name: "server-entry", Doc: "server.js or server.mjs (npm start's default), or package.json \"main\" with a server framework among the dependencies, and no static framework",
		match: func(k *kindTree) (string, bool, error) {
			if k.pkg == nil || k.static {
				return "", false, nil
			}
			for _, f := range []string{"server.js", "server.mjs"} {
				if k.pr.exists(f) {
					return "node " + f, true, nil
				}
			}
			main := k.pkg.mainEntry()
			if main == "" || strings.HasPrefix(main, "/") || !slices.ContainsFunc(serverDeps, k.pkg.has) {
				return "", false, nil
			}
			clean := path.Clean(main)
			if clean == ".." || strings.HasPrefix(clean, "../") || !nodeEntryRE.MatchString(clean) {
				return "", false, nil
			}
			if fi, err := fs.Stat(k.pr.fsys, clean); err != nil || fi.IsDir() {
				return "", false, nil
			}
			return "node " + clean, true, nil
		},
	},
}

// devServerRE recognises a start script that serves files or runs a dev
// server: a static site's, not an app's.
var devServerRE = regexp.MustCompile(`(?:^|[\s;&|])(?:npx\s+)?(?:webpack(?:-cli)?\s+serve|webpack-dev-server|vite|serve|http-server|live-server|lite-server|five-server|browser-sync|parcel|react-scripts\s+start|ng\s+serve|vue-cli-service\s+serve|eleventy\s+--serve|astro\s+dev|gatsby\s+develop|docusaurus\s+start)(?:\s|$)`)

// serverDeps are the server frameworks whose presence makes package.json
// "main" a server's entry rather than a library's.
var serverDeps = []string{
	"express", "fastify", "koa", "hono", "@hono/node-server", "@nestjs/core", "@hapi/hapi", "hapi",
	"restify", "polka", "h3", "@adonisjs/core", "sails", "feathers", "@feathersjs/feathers", "socket.io", "ws",
}

// nodeEntryRE is a "main" node runs as it is: a plain relative path of
// .js/.mjs/.cjs (no shell characters).
var nodeEntryRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./-]*\.(?:js|mjs|cjs)$`)

// KindRules returns a copy of the kind table, in order.
func KindRules() []KindRule {
	out := make([]KindRule, len(kindRules))
	copy(out, kindRules)
	return out
}

// kindTree is what the kind rules look at.
type kindTree struct {
	pr       *project
	pkg      *packageJSON // nil without package.json
	pm       packageManager
	static   bool              // a static framework preset matched
	procfile map[string]string // process type → command
}

// start is the package manager's command for the start script.
func (pm packageManager) start() string {
	switch pm.name {
	case "yarn", "pnpm":
		return pm.name + " start"
	case "bun":
		return "bun run start"
	}
	return "npm start"
}

// DetectKind tells a static project from an app (see the table on
// kindRules) and, for an app, how it starts. It reads the root folder,
// the Procfile and package.json, and the framework's config where the
// table needs it; it runs nothing. A malformed package.json is the same
// error as Detect's; a malformed Procfile is EINVALID naming the line.
func DetectKind(fsys fs.FS) (KindPlan, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return KindPlan{}, fmt.Errorf("framework: read project folder: %w", err)
	}
	k := &kindTree{pr: &project{fsys: fsys, names: make(map[string]bool, len(entries))}}
	for _, e := range entries {
		k.pr.names[e.Name()] = true
	}
	data, truncated, ok, err := readFile(fsys, "Procfile", maxProcfile)
	if err != nil {
		return KindPlan{}, err
	}
	if truncated {
		return KindPlan{}, apogee.Errorf(apogee.ETOOLARGE, "the Procfile is larger than %d KiB", maxProcfile>>10)
	}
	if ok {
		if k.procfile, err = parseProcfile(data); err != nil {
			return KindPlan{}, err
		}
	}
	data, truncated, ok, err = readFile(fsys, "package.json", maxPackageJSON)
	if err != nil {
		return KindPlan{}, err
	}
	if truncated {
		return KindPlan{}, apogee.Errorf(apogee.ETOOLARGE, "package.json is larger than %d MiB", maxPackageJSON>>20)
	}
	if ok {
		if k.pkg, err = parsePackageJSON(data); err != nil {
			return KindPlan{}, err
		}
		pm, _, err := k.pr.detectPackageManager(k.pkg)
		if err != nil {
			return KindPlan{}, err
		}
		k.pm = pm
		for i := range presets {
			if p := &presets[i]; p.Framework != "other" && p.Framework != "static" && p.matches(k.pr, k.pkg) {
				k.static = true
				break
			}
		}
	}
	plan := KindPlan{Kind: KindStatic, Rule: "static", ReleaseCommand: k.procfile["release"]}
	for _, r := range kindRules {
		start, ok, err := r.match(k)
		if err != nil {
			return KindPlan{}, err
		}
		if ok {
			plan.Kind, plan.Rule, plan.StartCommand = KindApp, r.Name, start
			break
		}
	}
	return plan, nil
}

// maxProcfile bounds the Procfile read (a real one is a few lines).
const maxProcfile = 64 << 10

// procfileRE is a Procfile line as Heroku and foreman read it.
var procfileRE = regexp.MustCompile(`^([A-Za-z0-9_-]+):\s*(.+?)\s*$`)

// parseProcfile reads process types and their commands. Blank lines and
// comments (#) are skipped; any other line that is not "type: command" is
// an error, as a Procfile Heroku would refuse.
func parseProcfile(data []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))))
	sc.Buffer(make([]byte, 0, 4096), maxProcfile)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := procfileRE.FindStringSubmatch(line)
		if m == nil {
			return nil, apogee.Errorf(apogee.EINVALID, "Procfile line %d is not \"type: command\": %.60q", n, line)
		}
		if _, dup := out[m[1]]; dup {
			return nil, apogee.Errorf(apogee.EINVALID, "Procfile line %d: process type %q is declared twice", n, m[1])
		}
		out[m[1]] = m[2]
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("framework: read Procfile: %w", err)
	}
	return out, nil
}
