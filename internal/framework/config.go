package framework

import (
	"encoding/json"
	"errors"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/apogee-dev/apogee"
)

// stripComments removes // and /* */ comments from JavaScript or
// TypeScript source, leaving string and template literals alone, so that a
// commented-out option (// output: 'export') is not read as set. Regular
// expression literals are not recognised; a "//" inside one ends the line
// early, which only hides options written after it on that line.
func stripComments(src string) string {
	var b strings.Builder
	b.Grow(len(src))
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(src) && src[j] != c {
				if src[j] == '\\' {
					j++
				} else if src[j] == '\n' && c != '`' {
					break // unterminated: stop the literal at the line end
				}
				j++
			}
			if j >= len(src) {
				j = len(src) - 1
			}
			b.WriteString(src[i : j+1])
			i = j
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			if i < len(src) {
				b.WriteByte('\n')
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return b.String()
			}
			// Keep the line breaks so positions stay readable.
			b.WriteString(strings.Repeat("\n", strings.Count(src[i:i+2+end], "\n")))
			b.WriteByte(' ')
			i += 2 + end + 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// readConfig returns the source of the config file name without comments,
// or "" if it does not exist.
func (pr *project) readConfig(name string) (string, error) {
	if name == "" {
		return "", nil
	}
	data, _, ok, err := readFile(pr.fsys, name, maxConfigFile)
	if err != nil || !ok {
		return "", err
	}
	return stripComments(string(data)), nil
}

// optionRE finds an object property whose value is a string literal:
// key: 'value', "key": "value" or key: `value` (no interpolation). Computed
// values (path.resolve(…), variables) are not read.
func optionRE(key string) *regexp.Regexp {
	k := regexp.QuoteMeta(key)
	return regexp.MustCompile(`(?:^|[^\w$.])['"]?` + k + `['"]?\s*:\s*(?:'([^'\n]*)'|"([^"\n]*)"|` + "`([^`$]*)`" + `)`)
}

var (
	outputRE     = optionRE("output")
	distDirRE    = optionRE("distDir")
	outDirRE     = optionRE("outDir")
	rootRE       = optionRE("root")
	pagesRE      = optionRE("pages")
	outputDirRE  = optionRE("outputDir")
	ssrFalseRE   = regexp.MustCompile(`(?:^|[^\w$.])['"]?ssr['"]?\s*:\s*false\b`)
	nextExportRE = regexp.MustCompile(`\bnext\s+export\b(?:.*?\s(?:-o|--outdir)[\s=]+([^\s&|;]+))?`)
	majorRE      = regexp.MustCompile(`\d+`)

	svelteAdapterRE = regexp.MustCompile(`@sveltejs/adapter-[a-z0-9-]+`)
)

// option returns the first string value of the option re matches in src.
func option(re *regexp.Regexp, src string) (string, bool) {
	m := re.FindStringSubmatch(src)
	if m == nil {
		return "", false
	}
	for _, v := range m[1:] {
		if v != "" {
			return v, true
		}
	}
	return "", true
}

// major returns the first number in a dependency range ("^2.16.3" → 2),
// or 0 when it has none ("latest", "workspace:*").
func major(versionRange string) int {
	n, _ := strconv.Atoi(majorRE.FindString(versionRange))
	return n
}

// resolveNext allows only static exports: output: 'export' in next.config
// (the export goes to distDir when that is set, as Next does), or the
// "next export" command of Next.js 13.2 and older in the build script.
func resolveNext(pr *project, pkg *packageJSON, plan *Plan) (*issue, error) {
	name := pr.first(configNames("next.config", "js", "mjs", "cjs", "ts", "mts"))
	src, err := pr.readConfig(name)
	if err != nil {
		return nil, err
	}
	if v, _ := option(outputRE, src); v == "export" {
		if d, ok := option(distDirRE, src); ok && d != "" && d != ".next" {
			plan.OutputDir = d
		}
		return nil, nil
	}
	if m := nextExportRE.FindStringSubmatch(pkg.Scripts["build"]); m != nil {
		if m[1] != "" {
			plan.OutputDir = m[1]
		}
		return nil, nil
	}
	if name == "" {
		name = "next.config.js"
	}
	plan.Name = "Next.js"
	return &issue{
		err:       apogee.Errorf(apogee.EINVALID, "Next.js server mode is not supported yet; set output: 'export' in %s for a static export", name),
		rescuedBy: needOutput,
	}, nil
}

// resolveNuxt: Nuxt 2's generate writes dist, Nuxt 3 and later .output/public.
func resolveNuxt(pr *project, pkg *packageJSON, plan *Plan) (*issue, error) {
	v := pkg.version("nuxt")
	if v == "" {
		v = pkg.version("nuxt3")
	}
	if m := major(v); m == 1 || m == 2 {
		plan.OutputDir = "dist"
	}
	return nil, nil
}

// resolveSvelteKit requires @sveltejs/adapter-static and reads its pages
// option from svelte.config.* or, where newer templates keep the kit
// options, vite.config.*.
func resolveSvelteKit(pr *project, pkg *packageJSON, plan *Plan) (*issue, error) {
	var srcs []string
	var files []string
	for _, n := range append(configNames("svelte.config", "js", "mjs", "cjs", "ts"),
		configNames("vite.config", "js", "mjs", "cjs", "ts", "mts", "cts")...) {
		if !pr.exists(n) {
			continue
		}
		src, err := pr.readConfig(n)
		if err != nil {
			return nil, err
		}
		srcs, files = append(srcs, src), append(files, n)
	}
	usesStatic, otherAdapter := pkg.has("@sveltejs/adapter-static"), ""
	for _, dep := range sortedDeps(pkg) {
		if strings.HasPrefix(dep, "@sveltejs/adapter-") && dep != "@sveltejs/adapter-static" && otherAdapter == "" {
			otherAdapter = dep
		}
	}
	// A config that imports another adapter and not the static one wins
	// over a dependency left in package.json.
	configStatic, configAdapter := false, ""
	for _, src := range srcs {
		if strings.Contains(src, "@sveltejs/adapter-static") {
			configStatic = true
		} else if a := svelteAdapterRE.FindString(src); a != "" && configAdapter == "" {
			configAdapter = a
		}
	}
	if configAdapter != "" && !configStatic {
		usesStatic, otherAdapter = false, configAdapter
	}
	if !usesStatic {
		plan.Name = "SvelteKit"
		found := "no adapter"
		if otherAdapter != "" {
			found = otherAdapter
		}
		return &issue{
			err: apogee.Errorf(apogee.EINVALID, "SvelteKit builds need @sveltejs/adapter-static: only static builds are supported yet (found %s); "+
				"install @sveltejs/adapter-static and set it as the adapter in svelte.config.js", found),
			rescuedBy: needOutput,
		}, nil
	}
	for _, src := range srcs {
		if !strings.Contains(src, "adapter-static") {
			continue
		}
		if v, ok := option(pagesRE, src); ok && v != "" {
			plan.OutputDir = v
		}
		break
	}
	return nil, nil
}

// resolveAstro reads outDir and refuses output: 'server'.
func resolveAstro(pr *project, pkg *packageJSON, plan *Plan) (*issue, error) {
	name := pr.first(configNames("astro.config", "mjs", "js", "ts", "mts", "cjs"))
	src, err := pr.readConfig(name)
	if err != nil {
		return nil, err
	}
	if v, _ := option(outputRE, src); v == "server" || v == "hybrid" {
		return &issue{
			err:       apogee.Errorf(apogee.EINVALID, "Astro %s output is not supported yet; remove output: '%s' from %s for a static build", v, v, name),
			rescuedBy: needOutput,
		}, nil
	}
	if v, ok := option(outDirRE, src); ok && v != "" {
		plan.OutputDir = v
	}
	return nil, nil
}

// resolveReactRouter allows SPA mode only (ssr: false), whose client build
// is build/client.
func resolveReactRouter(pr *project, pkg *packageJSON, plan *Plan) (*issue, error) {
	for _, n := range append(configNames("react-router.config", "ts", "js", "mjs"), configNames("vite.config", "ts", "js", "mjs", "mts")...) {
		src, err := pr.readConfig(pr.first([]string{n}))
		if err != nil {
			return nil, err
		}
		if ssrFalseRE.MatchString(src) {
			return nil, nil
		}
	}
	plan.Name = "React Router"
	return &issue{
		err:       apogee.Errorf(apogee.EINVALID, "React Router and Remix server rendering is not supported yet; set ssr: false in react-router.config.ts for a static SPA build"),
		rescuedBy: needOutput,
	}, nil
}

// resolveVueCLI reads outputDir from vue.config.*.
func resolveVueCLI(pr *project, pkg *packageJSON, plan *Plan) (*issue, error) {
	src, err := pr.readConfig(pr.first(configNames("vue.config", "js", "cjs", "mjs")))
	if err != nil {
		return nil, err
	}
	if v, ok := option(outputDirRE, src); ok && v != "" {
		plan.OutputDir = v
	}
	return nil, nil
}

var viteFlavours = []struct{ dep, name string }{
	{"react", "React"},
	{"vue", "Vue"},
	{"svelte", "Svelte"},
	{"preact", "Preact"},
	{"solid-js", "Solid"},
	{"lit", "Lit"},
	{"@builder.io/qwik", "Qwik"},
}

// resolveVite names the UI library and reads build.outDir (relative to
// the root option when that is a literal) from vite.config.*.
func resolveVite(pr *project, pkg *packageJSON, plan *Plan) (*issue, error) {
	for _, f := range viteFlavours {
		if pkg.has(f.dep) {
			plan.Name = "Vite (" + f.name + ")"
			break
		}
	}
	src, err := pr.readConfig(pr.first(configNames("vite.config", "js", "mjs", "cjs", "ts", "mts", "cts")))
	if err != nil {
		return nil, err
	}
	out := "dist"
	if v, ok := option(outDirRE, src); ok && v != "" {
		out = v
	}
	if root, ok := option(rootRE, src); ok && root != "" && !path.IsAbs(out) {
		out = path.Join(root, out)
	}
	plan.OutputDir = out
	return nil, nil
}

// angularWorkspace is the part of angular.json planning reads. Projects
// stay raw so that one odd project cannot fail the others.
type angularWorkspace struct {
	DefaultProject string                     `json:"defaultProject"`
	Projects       map[string]json.RawMessage `json:"projects"`
}

type angularProject struct {
	ProjectType string                   `json:"projectType"`
	Architect   map[string]angularTarget `json:"architect"`
	Targets     map[string]angularTarget `json:"targets"` // the newer name
}

type angularTarget struct {
	Builder string `json:"builder"`
	Options struct {
		OutputPath json.RawMessage `json:"outputPath"`
		OutputMode string          `json:"outputMode"`
	} `json:"options"`
}

// resolveAngular reads the build target of the workspace's application:
// the application builder (Angular 17+) writes the browser files to
// <outputPath>/browser, or outputPath.base/outputPath.browser, and
// outputPath defaults to dist/<project> (new workspaces omit it since
// Angular 20); the older browser builders write to outputPath itself.
func resolveAngular(pr *project, pkg *packageJSON, plan *Plan) (*issue, error) {
	data, _, ok, err := readFile(pr.fsys, "angular.json", maxPackageJSON)
	if err != nil {
		return nil, err
	}
	if !ok {
		return &issue{
			err:       apogee.Errorf(apogee.EINVALID, "an Angular project needs angular.json at the project root to find its output folder; check the root directory or set the output directory"),
			rescuedBy: needOutput,
		}, nil
	}
	bad := func(format string, args ...any) (*issue, error) {
		return &issue{
			err:       apogee.Errorf(apogee.EINVALID, "angular.json: "+format+"; fix it or set the output directory", args...),
			rescuedBy: needOutput,
		}, nil
	}
	var ws angularWorkspace
	if err := json.Unmarshal(data, &ws); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			line, col := position(data, syn.Offset)
			return bad("not valid JSON: line %d, column %d: %s", line, col, syn.Error())
		}
		return bad("%s", err.Error())
	}
	apps := map[string]angularProject{}
	for name, raw := range ws.Projects {
		var p angularProject
		if json.Unmarshal(raw, &p) != nil {
			continue
		}
		if p.ProjectType == "" || p.ProjectType == "application" {
			apps[name] = p
		}
	}
	name := ""
	switch _, ok := apps[ws.DefaultProject]; {
	case ok:
		name = ws.DefaultProject
	case len(apps) == 1:
		for n := range apps {
			name = n
		}
	case len(apps) == 0:
		return bad("no application project")
	default:
		if _, ok := apps[pkg.Name]; ok {
			name = pkg.Name
			break
		}
		list := make([]string, 0, len(apps))
		for n := range apps {
			list = append(list, n)
		}
		sort.Strings(list)
		return bad("several application projects (%s) and no defaultProject", strings.Join(list, ", "))
	}
	proj := apps[name]
	target, ok := proj.Targets["build"]
	if !ok {
		target, ok = proj.Architect["build"]
	}
	if !ok {
		return bad("project %q has no build target", name)
	}
	if target.Options.OutputMode == "server" {
		plan.Name = "Angular (server)"
		return &issue{
			err:       apogee.Errorf(apogee.EINVALID, "Angular server rendering (outputMode \"server\" in angular.json) is not supported yet; use outputMode \"static\" for a prerendered site"),
			rescuedBy: needOutput,
		}, nil
	}
	appBuilder := strings.HasSuffix(target.Builder, ":application")
	base, browser := "dist/"+name, "browser"
	if raw := target.Options.OutputPath; len(raw) > 0 && string(raw) != "null" {
		var s string
		var obj struct {
			Base    string  `json:"base"`
			Browser *string `json:"browser"`
		}
		switch {
		case json.Unmarshal(raw, &s) == nil:
			base = s
		case json.Unmarshal(raw, &obj) == nil && obj.Base != "":
			base = obj.Base
			if obj.Browser != nil {
				browser = *obj.Browser
			}
		default:
			return bad("project %q: outputPath is neither a string nor {\"base\": …}", name)
		}
	}
	plan.OutputDir = base
	if appBuilder && browser != "" {
		plan.OutputDir = path.Join(base, browser)
	}
	return nil, nil
}

func sortedDeps(pkg *packageJSON) []string {
	set := map[string]bool{}
	for d := range pkg.Dependencies {
		set[d] = true
	}
	for d := range pkg.DevDependencies {
		set[d] = true
	}
	return names(set)
}
