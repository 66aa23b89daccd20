package framework

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/apogee-dev/apogee"
)

// Preset is one row of the detection table.
type Preset struct {
	// Framework is the identifier stored in plans and overrides.
	Framework string `json:"framework"`
	// Name is for people, as in the dashboard's dropdown.
	Name string `json:"name"`
	// Dependencies recognise the preset: any of them in dependencies or
	// devDependencies of package.json.
	Dependencies []string `json:"dependencies,omitempty"`
	// ConfigFiles recognise the preset too: any of them at the project root.
	ConfigFiles []string `json:"config_files,omitempty"`
	// BuildScript is the package.json script the build runs when the
	// project has it ("build"; "generate" for Nuxt).
	BuildScript string `json:"build_script,omitempty"`
	// BuildCommand builds a project that lacks that script.
	BuildCommand string `json:"build_command"`
	// OutputDir is where the site is after the build unless the
	// framework's config says otherwise.
	OutputDir string `json:"output_dir"`
	// CacheDirs are the folders, relative to the project root, where the
	// framework keeps what makes its next build faster (".next/cache",
	// "node_modules/.vite"): the builder keeps them per project and
	// branch and puts them back before the next build.
	CacheDirs []string `json:"cache_dirs,omitempty"`

	// resolve reads the framework's own config to settle the output
	// folder, the name, or that the mode is unsupported.
	resolve func(pr *project, pkg *packageJSON, plan *Plan) (*issue, error)
}

// presets is the table, in detection order: the first row whose
// dependencies or config files match wins, so more specific frameworks
// come before the ones they build on (SvelteKit, Astro, Nuxt and React
// Router use Vite; Next, Gatsby and Docusaurus use React). "other" and
// "static" match nothing and are chosen by the rules in detect.
var presets = []Preset{
	{
		Framework: "nextjs", Name: "Next.js (static export)",
		Dependencies: []string{"next"},
		ConfigFiles:  configNames("next.config", "js", "mjs", "cjs", "ts", "mts"),
		BuildCommand: "next build", OutputDir: "out",
		CacheDirs: []string{".next/cache"},
		resolve:   resolveNext,
	},
	{
		Framework: "gatsby", Name: "Gatsby",
		Dependencies: []string{"gatsby"},
		ConfigFiles:  configNames("gatsby-config", "js", "mjs", "ts"),
		BuildCommand: "gatsby build", OutputDir: "public",
		CacheDirs: []string{".cache"},
	},
	{
		Framework: "docusaurus", Name: "Docusaurus",
		Dependencies: []string{"@docusaurus/core"},
		ConfigFiles:  configNames("docusaurus.config", "js", "mjs", "ts"),
		BuildCommand: "docusaurus build", OutputDir: "build",
		CacheDirs: []string{".docusaurus", "node_modules/.cache"},
	},
	{
		Framework: "nuxt", Name: "Nuxt (static generate)",
		Dependencies: []string{"nuxt", "nuxt3"},
		ConfigFiles:  configNames("nuxt.config", "js", "mjs", "ts"),
		BuildScript:  "generate",
		BuildCommand: "nuxt generate", OutputDir: ".output/public",
		CacheDirs: []string{".nuxt", "node_modules/.cache", "node_modules/.vite"},
		resolve:   resolveNuxt,
	},
	{
		Framework: "sveltekit", Name: "SvelteKit (static adapter)",
		// svelte.config.js alone is no sign: create-vite's Svelte template
		// has one without SvelteKit.
		Dependencies: []string{"@sveltejs/kit"},
		BuildCommand: "vite build", OutputDir: "build",
		CacheDirs: []string{".svelte-kit", "node_modules/.vite"},
		resolve:   resolveSvelteKit,
	},
	{
		Framework: "astro", Name: "Astro",
		Dependencies: []string{"astro"},
		ConfigFiles:  configNames("astro.config", "mjs", "js", "ts", "mts", "cjs"),
		BuildCommand: "astro build", OutputDir: "dist",
		CacheDirs: []string{".astro", "node_modules/.astro", "node_modules/.vite"},
		resolve:   resolveAstro,
	},
	{
		Framework: "react-router", Name: "React Router (SPA mode)",
		Dependencies: []string{"@react-router/dev", "@remix-run/dev"},
		ConfigFiles:  configNames("react-router.config", "ts", "js", "mjs"),
		BuildCommand: "react-router build", OutputDir: "build/client",
		CacheDirs: []string{"node_modules/.vite"},
		resolve:   resolveReactRouter,
	},
	{
		Framework: "angular", Name: "Angular",
		Dependencies: []string{"@angular/core"},
		ConfigFiles:  []string{"angular.json"},
		BuildCommand: "ng build", OutputDir: "dist",
		CacheDirs: []string{".angular/cache"},
		resolve:   resolveAngular,
	},
	{
		Framework: "vue-cli", Name: "Vue CLI",
		Dependencies: []string{"@vue/cli-service"},
		ConfigFiles:  configNames("vue.config", "js", "cjs", "mjs"),
		BuildCommand: "vue-cli-service build", OutputDir: "dist",
		CacheDirs: []string{"node_modules/.cache"},
		resolve:   resolveVueCLI,
	},
	{
		Framework: "create-react-app", Name: "Create React App",
		Dependencies: []string{"react-scripts"},
		BuildCommand: "react-scripts build", OutputDir: "build",
		CacheDirs: []string{"node_modules/.cache"},
	},
	{
		Framework: "vite", Name: "Vite",
		Dependencies: []string{"vite"},
		ConfigFiles:  configNames("vite.config", "js", "mjs", "cjs", "ts", "mts", "cts"),
		BuildCommand: "vite build", OutputDir: "dist",
		CacheDirs: []string{"node_modules/.vite"},
		resolve:   resolveVite,
	},
	{
		// A package.json with a build script and no framework Apogee
		// knows. Most bundlers (webpack, Parcel, Rollup, esbuild set-ups)
		// write to dist, so that is the guess; Vercel's "Other" guesses
		// public, which in Apogee's trees is more often a source folder.
		Framework: "other", Name: "Other",
		BuildCommand: "", OutputDir: "dist",
	},
	{
		// Plain HTML: no build, the project root is the site.
		Framework: "static", Name: "Static HTML",
		BuildCommand: "", OutputDir: ".",
	},
}

// Presets returns a copy of the detection table, in detection order, for
// the dashboard's dropdown and for documentation.
func Presets() []Preset {
	out := make([]Preset, len(presets))
	copy(out, presets)
	for i := range out {
		out[i].Dependencies = append([]string(nil), out[i].Dependencies...)
		out[i].ConfigFiles = append([]string(nil), out[i].ConfigFiles...)
	}
	return out
}

// Lookup returns the preset with the given identifier.
func Lookup(framework string) (Preset, bool) {
	for _, p := range presets {
		if p.Framework == framework {
			return p, true
		}
	}
	return Preset{}, false
}

func frameworkIDs() []string {
	ids := make([]string, len(presets))
	for i, p := range presets {
		ids[i] = p.Framework
	}
	return ids
}

func configNames(base string, exts ...string) []string {
	names := make([]string, len(exts))
	for i, e := range exts {
		names[i] = base + "." + e
	}
	return names
}

// project is the tree being planned: its root entries are read once.
type project struct {
	fsys  fs.FS
	names map[string]bool // entries of the root folder
}

func (pr *project) exists(name string) bool { return pr.names[name] }

// first returns the first of names present at the root, or "".
func (pr *project) first(names []string) string {
	for _, n := range names {
		if pr.names[n] {
			return n
		}
	}
	return ""
}

func (p *Preset) matches(pr *project, pkg *packageJSON) bool {
	for _, d := range p.Dependencies {
		if pkg.has(d) {
			return true
		}
	}
	return pr.first(p.ConfigFiles) != ""
}

// detect plans the tree. Problems an override can stand in for come back
// as issues next to a best-effort plan; the error is for the rest.
func detect(fsys fs.FS, o Overrides) (Plan, []issue, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if errors.Is(err, fs.ErrNotExist) {
		return Plan{}, nil, apogee.Errorf(apogee.EINVALID, "the project folder does not exist; check the root directory")
	}
	if err != nil {
		return Plan{}, nil, fmt.Errorf("framework: read project folder: %w", err)
	}
	pr := &project{fsys: fsys, names: make(map[string]bool, len(entries))}
	for _, e := range entries {
		pr.names[e.Name()] = true
	}
	var forced *Preset
	if o.Framework != nil {
		p, ok := Lookup(*o.Framework)
		if !ok {
			return Plan{}, nil, apogee.Errorf(apogee.EINVALID, "unknown framework %q; use one of %s", *o.Framework, strings.Join(frameworkIDs(), ", "))
		}
		forced = &p
	}

	data, truncated, ok, err := readFile(fsys, "package.json", maxPackageJSON)
	if err != nil {
		return Plan{}, nil, err
	}
	if truncated {
		return Plan{}, nil, apogee.Errorf(apogee.ETOOLARGE, "package.json is larger than %d MiB", maxPackageJSON>>20)
	}
	static, _ := Lookup("static")
	if !ok {
		if forced != nil && forced.Framework != "static" {
			return Plan{}, nil, apogee.Errorf(apogee.EINVALID, "framework %q needs a package.json at the project root; check the root directory", forced.Framework)
		}
		plan := planFor(static, packageManager{}, "")
		if forced == nil && !pr.exists("index.html") {
			return plan, []issue{{
				err:       apogee.Errorf(apogee.EINVALID, "nothing to build or serve: the project root has no package.json and no index.html; check the root directory"),
				rescuedBy: needBuild,
			}}, nil
		}
		return plan, nil, nil
	}
	pkg, err := parsePackageJSON(data)
	if err != nil {
		return Plan{}, nil, err
	}

	preset := forced
	if preset == nil {
		for i := range presets {
			if presets[i].matches(pr, pkg) {
				preset = &presets[i]
				break
			}
		}
	}
	_, hasBuild := pkg.Scripts["build"]
	if preset == nil {
		other, _ := Lookup("other")
		preset = &other
		if !hasBuild && (o.BuildCommand == nil || *o.BuildCommand == "") && pr.exists("index.html") {
			// A package.json for tooling next to a plain site.
			preset = &static
		}
	}
	if preset.Framework == "static" {
		return planFor(*preset, packageManager{}, ""), nil, nil
	}

	var issues []issue
	pm, is, err := pr.detectPackageManager(pkg)
	if err != nil {
		return Plan{}, nil, err
	}
	if is != nil {
		issues = append(issues, *is)
	}
	node, from, err := pr.nodeVersion(pkg)
	if err != nil {
		return Plan{}, nil, err
	}
	plan := planFor(*preset, pm, node)
	plan.NodeVersionFrom = from
	if pm.lockfile == "" && pkg.nothingToInstall() {
		plan.InstallCommand = ""
	}
	script := preset.BuildScript
	if script == "" {
		script = "build"
	}
	if _, ok := pkg.Scripts[script]; ok {
		plan.BuildCommand = pm.run(script)
	}
	if plan.BuildCommand == "" {
		issues = append(issues, issue{
			err:       apogee.Errorf(apogee.EINVALID, "package.json has no \"build\" script and no framework Apogee knows was found; add a build script or set the build command"),
			rescuedBy: needBuild,
		})
	}
	if preset.resolve != nil {
		is, err := preset.resolve(pr, pkg, &plan)
		if err != nil {
			return Plan{}, nil, err
		}
		if is != nil {
			issues = append(issues, *is)
		}
	}
	dir, err := cleanDir("output directory", plan.OutputDir)
	if err != nil {
		// Read from the framework's config: say where it came from.
		issues = append(issues, issue{
			err:       apogee.Errorf(apogee.EINVALID, "the framework's config sets an unusable output directory (%s); fix it or set the output directory", apogee.ErrorMessage(err)),
			rescuedBy: needOutput,
		})
		dir = "."
	}
	plan.OutputDir = dir
	return plan, issues, nil
}

func planFor(p Preset, pm packageManager, node string) Plan {
	return Plan{
		Framework:      p.Framework,
		Name:           p.Name,
		PackageManager: pm.name,
		InstallCommand: pm.install,
		BuildCommand:   p.BuildCommand,
		OutputDir:      p.OutputDir,
		Lockfile:       pm.lockfile,
		NodeVersion:    node,
		CacheDirs:      p.CacheDirs,
	}
}

// names lists the keys of m sorted, for messages.
func names(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
