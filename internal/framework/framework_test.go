package framework

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/apogee-dev/apogee"
)

var update = flag.Bool("update", false, "rewrite testdata/*/expected.json from the current results")

// golden is the content of testdata/<case>/expected.json: the plan, or the
// error's code and message.
type golden struct {
	Plan  *Plan      `json:"plan,omitempty"`
	Error *goldenErr `json:"error,omitempty"`
}

type goldenErr struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// TestDetectGolden runs Detect on every tree in testdata: package.json files
// from the real templates (create-vite, create-vue, cra-template, sv,
// create-next-app, create-docusaurus, @schematics/angular, Astro's and
// Gatsby's starters) with their config files and lockfile names.
func TestDetectGolden(t *testing.T) {
	dirs, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		n++
		name := d.Name()
		t.Run(name, func(t *testing.T) {
			root, err := os.OpenRoot(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			var got golden
			plan, err := Detect(root.FS())
			if err != nil {
				var e *apogee.Error
				if !errors.As(err, &e) {
					t.Fatalf("Detect: %v is not an *apogee.Error", err)
				}
				got.Error = &goldenErr{Code: e.Code, Message: e.Message}
			} else {
				got.Plan = &plan
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false) // engines ranges have ">" in them
			enc.SetIndent("", "  ")
			if err := enc.Encode(got); err != nil {
				t.Fatal(err)
			}
			out := buf.Bytes()
			file := filepath.Join("testdata", name, "expected.json")
			if *update {
				if err := os.WriteFile(file, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("%s differs:\n got: %s\nwant: %s", file, out, want)
			}
		})
	}
	if n < 25 {
		t.Errorf("only %d testdata cases", n)
	}
}

// tree builds an in-memory project: name → content.
func tree(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for name, data := range files {
		m[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return m
}

const viteReact = `{"scripts":{"build":"vite build"},"dependencies":{"react":"^19.0.0"},"devDependencies":{"vite":"^8.0.0"}}`

func mustDetect(t *testing.T, fsys fs.FS) Plan {
	t.Helper()
	p, err := Detect(fsys)
	if err != nil {
		t.Fatalf("Detect: %v", err)
	}
	return p
}

func errCode(t *testing.T, err error, code string) *apogee.Error {
	t.Helper()
	var e *apogee.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not an *apogee.Error", err)
	}
	if e.Code != code {
		t.Fatalf("code %q, want %q (%v)", e.Code, code, err)
	}
	return e
}

func TestLockfilePrecedence(t *testing.T) {
	yarnBerry := "__metadata:\n  version: 8\n"
	for _, tc := range []struct {
		name           string
		files          map[string]string
		pm, install    string
		lockfile, node string
	}{
		{"none", nil, "npm", "npm install", "", ""},
		{"npm", map[string]string{"package-lock.json": "{}"}, "npm", "npm ci", "package-lock.json", ""},
		{"shrinkwrap over package-lock", map[string]string{"package-lock.json": "{}", "npm-shrinkwrap.json": "{}"}, "npm", "npm ci", "npm-shrinkwrap.json", ""},
		{"yarn classic", map[string]string{"yarn.lock": "# yarn lockfile v1\n"}, "yarn", "yarn install --frozen-lockfile", "yarn.lock", ""},
		{"yarn berry by metadata", map[string]string{"yarn.lock": yarnBerry}, "yarn", "yarn install --immutable", "yarn.lock", ""},
		{"yarn berry by yarnrc", map[string]string{"yarn.lock": "", ".yarnrc.yml": "nodeLinker: node-modules\n"}, "yarn", "yarn install --immutable", "yarn.lock", ""},
		{"pnpm", map[string]string{"pnpm-lock.yaml": "lockfileVersion: '9.0'\n"}, "pnpm", "pnpm install --frozen-lockfile", "pnpm-lock.yaml", ""},
		{"yarn over pnpm over npm", map[string]string{"yarn.lock": "", "pnpm-lock.yaml": "", "package-lock.json": "{}"}, "yarn", "yarn install --frozen-lockfile", "yarn.lock", ""},
		{"pnpm over npm", map[string]string{"pnpm-lock.yaml": "", "package-lock.json": "{}"}, "pnpm", "pnpm install --frozen-lockfile", "pnpm-lock.yaml", ""},
		{"npm over bun", map[string]string{"package-lock.json": "{}", "bun.lockb": "x"}, "npm", "npm ci", "package-lock.json", ""},
		{"nvmrc", map[string]string{".nvmrc": "# pinned\nv22.11.0\n"}, "npm", "npm install", "", "v22.11.0"},
		{"node-version file", map[string]string{".node-version": "20\n"}, "npm", "npm install", "", "20"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"package.json": viteReact}
			for k, v := range tc.files {
				files[k] = v
			}
			p := mustDetect(t, tree(files))
			if p.PackageManager != tc.pm || p.InstallCommand != tc.install || p.Lockfile != tc.lockfile || p.NodeVersion != tc.node {
				t.Errorf("got %q %q %q node %q, want %q %q %q node %q", p.PackageManager, p.InstallCommand, p.Lockfile, p.NodeVersion, tc.pm, tc.install, tc.lockfile, tc.node)
			}
			if want := tc.pm + " run build"; p.BuildCommand != want {
				t.Errorf("build %q, want %q", p.BuildCommand, want)
			}
		})
	}
}

func TestPackageManagerField(t *testing.T) {
	for _, tc := range []struct {
		field       string
		files       map[string]string
		pm, install string
		lockfile    string
	}{
		{"pnpm@9.1.0", nil, "pnpm", "pnpm install", ""},
		{"pnpm@9.1.0+sha512.abcdef", map[string]string{"pnpm-lock.yaml": ""}, "pnpm", "pnpm install --frozen-lockfile", "pnpm-lock.yaml"},
		// The declared manager wins over a stray lockfile of another.
		{"pnpm@9.1.0", map[string]string{"package-lock.json": "{}", "pnpm-lock.yaml": ""}, "pnpm", "pnpm install --frozen-lockfile", "pnpm-lock.yaml"},
		{"pnpm@9.1.0", map[string]string{"yarn.lock": ""}, "pnpm", "pnpm install", ""},
		{"yarn@4.5.0", map[string]string{"yarn.lock": ""}, "yarn", "yarn install --immutable", "yarn.lock"},
		{"yarn@1.22.22", map[string]string{"yarn.lock": ""}, "yarn", "yarn install --frozen-lockfile", "yarn.lock"},
		{"npm@10.8.2", map[string]string{"yarn.lock": "", "package-lock.json": "{}"}, "npm", "npm ci", "package-lock.json"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			files := map[string]string{"package.json": `{"packageManager":"` + tc.field + `","scripts":{"build":"vite build"},"devDependencies":{"vite":"*"}}`}
			for k, v := range tc.files {
				files[k] = v
			}
			p := mustDetect(t, tree(files))
			if p.PackageManager != tc.pm || p.InstallCommand != tc.install || p.Lockfile != tc.lockfile {
				t.Errorf("got %q %q %q, want %q %q %q", p.PackageManager, p.InstallCommand, p.Lockfile, tc.pm, tc.install, tc.lockfile)
			}
		})
	}
}

func TestBunUnsupported(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"bun.lockb":    {"package.json": viteReact, "bun.lockb": "\x00bun"},
		"field":        {"package.json": `{"packageManager":"bun@1.1.30","scripts":{"build":"vite build"}}`},
		"bad field":    {"package.json": `{"packageManager":"deno","scripts":{"build":"vite build"}}`},
		"bun.lock too": {"package.json": viteReact, "bun.lock": "{}"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Detect(tree(files))
			e := errCode(t, err, apogee.EINVALID)
			if !strings.Contains(e.Message, "install command") {
				t.Errorf("message %q does not say what to do", e.Message)
			}
			// An install command of the project's own stands in.
			p, err := DetectWith(tree(files), Overrides{InstallCommand: ptr("bun install")})
			if err != nil {
				t.Fatalf("DetectWith: %v", err)
			}
			if p.InstallCommand != "bun install" || p.BuildCommand != "npm run build" {
				t.Errorf("got %+v", p)
			}
		})
	}
}

func TestMalformedPackageJSON(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		line, col  int
		contains   string
	}{
		{"trailing comma", "{\n  \"scripts\": {\n    \"build\": \"vite build\",\n  }\n}\n", 4, 3, "invalid character '}'"},
		{"empty", "", 1, 1, "unexpected end of JSON input"},
		{"truncated", "{\"name\": \"x\"", 1, 12, "unexpected end of JSON input"},
		{"single quotes", "{'name': 'x'}", 1, 2, "invalid character '\\''"},
		{"not an object", "[1, 2]", 1, 1, "not a JSON object"},
		{"scripts wrong type", "{\n\"scripts\": [\"vite build\"]\n}", 2, 12, `"scripts" has the wrong type`},
		{"build script a number", "{\"scripts\": {\"build\": 1}}", 1, 23, `"scripts" has the wrong type: line 1, column 23: found number, want a string`},
		{"dependencies a string", "{\"dependencies\": \"vite\"}", 1, 23, "want an object of strings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Detect(tree(map[string]string{"package.json": tc.data, "index.html": "<p>"}))
			e := errCode(t, err, apogee.EINVALID)
			if !strings.HasPrefix(e.Message, "package.json") || !strings.Contains(e.Message, tc.contains) {
				t.Errorf("message %q, want package.json … %q", e.Message, tc.contains)
			}
			pos := map[string]any{"file": "package.json", "line": tc.line, "column": tc.col}
			if got, _ := json.Marshal(e.Data); string(got) != mustJSON(pos) {
				t.Errorf("data %s, want %s (message %q)", got, mustJSON(pos), e.Message)
			}
			if !strings.Contains(e.Message, "line ") {
				t.Errorf("message %q has no position", e.Message)
			}
		})
	}
	t.Run("BOM and odd engines are fine", func(t *testing.T) {
		p := mustDetect(t, tree(map[string]string{"package.json": "\xef\xbb\xbf" + `{"engines":["node >= 0.8"],"scripts":{"build":"vite build"},"devDependencies":{"vite":"*"}}`}))
		if p.Framework != "vite" || p.NodeVersion != "" {
			t.Errorf("got %+v", p)
		}
	})
	t.Run("too large", func(t *testing.T) {
		big := `{"description":"` + strings.Repeat("x", maxPackageJSON) + `"}`
		_, err := Detect(tree(map[string]string{"package.json": big}))
		errCode(t, err, apogee.ETOOLARGE)
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func ptr(s string) *string { return &s }

func TestUnsupportedModes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		files    map[string]string
		contains string
		output   string // the plan with an OutputDir override
	}{
		{"next server mode", map[string]string{
			"package.json":   `{"scripts":{"build":"next build"},"dependencies":{"next":"15.0.0"}}`,
			"next.config.js": "module.exports = {\n  // output: 'export',\n  reactStrictMode: true,\n}\n",
		}, "Next.js server mode is not supported yet; set output: 'export'", "out"},
		{"next without config", map[string]string{
			"package.json": `{"scripts":{"build":"next build"},"dependencies":{"next":"15.0.0"}}`,
		}, "Next.js server mode is not supported yet; set output: 'export' in next.config.js", "out"},
		{"next standalone", map[string]string{
			"package.json":    `{"dependencies":{"next":"15.0.0"}}`,
			"next.config.mjs": "export default { output: 'standalone' }\n",
		}, "Next.js server mode", ".next"},
		{"sveltekit adapter-auto", map[string]string{
			"package.json":     `{"scripts":{"build":"vite build"},"devDependencies":{"@sveltejs/kit":"^2","@sveltejs/adapter-auto":"^3","vite":"^5"}}`,
			"svelte.config.js": "import adapter from '@sveltejs/adapter-auto';\nexport default { kit: { adapter: adapter() } };\n",
		}, "only static builds are supported yet (found @sveltejs/adapter-auto)", "build"},
		{"sveltekit no adapter", map[string]string{
			"package.json": `{"devDependencies":{"@sveltejs/kit":"^2","vite":"^5"}}`,
		}, "only static builds are supported yet (found no adapter)", "build"},
		{"sveltekit static dependency but node adapter in config", map[string]string{
			"package.json":     `{"devDependencies":{"@sveltejs/kit":"^2","@sveltejs/adapter-static":"^3","@sveltejs/adapter-node":"^5"}}`,
			"svelte.config.js": "import adapter from \"@sveltejs/adapter-node\";\nexport default { kit: { adapter: adapter() } };\n",
		}, "(found @sveltejs/adapter-node)", "build"},
		{"astro server", map[string]string{
			"package.json":     `{"scripts":{"build":"astro build"},"dependencies":{"astro":"^5"}}`,
			"astro.config.mjs": "export default defineConfig({ output: \"server\" });\n",
		}, "Astro server output is not supported yet", "dist/client"},
		{"react router ssr", map[string]string{
			"package.json":           `{"scripts":{"build":"react-router build"},"devDependencies":{"@react-router/dev":"^7","vite":"^6"}}`,
			"react-router.config.ts": "export default {\n  // ssr: false,\n  ssr: true,\n} satisfies Config;\n",
		}, "set ssr: false", "build/client"},
		{"angular ssr", map[string]string{
			"package.json": `{"scripts":{"build":"ng build"},"dependencies":{"@angular/core":"^19"}}`,
			"angular.json": `{"projects":{"a":{"projectType":"application","architect":{"build":{"builder":"@angular/build:application","options":{"outputMode":"server","server":"src/main.server.ts"}}}}}}`,
		}, `outputMode "server"`, "dist/a/browser"},
		{"angular several apps", map[string]string{
			"package.json": `{"name":"ws","scripts":{"build":"ng build"},"dependencies":{"@angular/core":"^19"}}`,
			"angular.json": `{"projects":{"b":{"projectType":"application"},"a":{"projectType":"application"},"lib":{"projectType":"library"}}}`,
		}, "several application projects (a, b)", "dist/a/browser"},
		{"angular without angular.json", map[string]string{
			"package.json": `{"scripts":{"build":"nx build"},"dependencies":{"@angular/core":"^19"}}`,
		}, "needs angular.json", "dist/apps/web/browser"},
		{"angular.json malformed", map[string]string{
			"package.json": `{"scripts":{"build":"ng build"},"dependencies":{"@angular/core":"^19"}}`,
			"angular.json": "{\n  \"projects\": {,\n}",
		}, "angular.json: not valid JSON: line 2, column 16", "dist/x/browser"},
		{"output dir outside the project", map[string]string{
			"package.json":   `{"scripts":{"build":"vite build"},"devDependencies":{"vite":"^5"}}`,
			"vite.config.js": "export default { build: { outDir: '../../../srv/www' } }\n",
		}, "config sets an unusable output directory (output directory \"../../../srv/www\" is outside the project); fix it", "dist"},
		{"no build script, no framework", map[string]string{
			"package.json": `{"name":"lib","scripts":{"test":"node --test"}}`,
		}, "no \"build\" script", "lib"},
		{"no package.json, no index.html", map[string]string{
			"README.md": "# hi",
		}, "no package.json and no index.html", "."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Detect(tree(tc.files))
			e := errCode(t, err, apogee.EINVALID)
			if !strings.Contains(e.Message, tc.contains) {
				t.Errorf("message %q, want it to contain %q", e.Message, tc.contains)
			}
			p, err := DetectWith(tree(tc.files), Overrides{OutputDir: ptr(tc.output)})
			if err != nil {
				t.Fatalf("DetectWith an output directory: %v", err)
			}
			if p.OutputDir != tc.output {
				t.Errorf("output %q, want %q", p.OutputDir, tc.output)
			}
		})
	}
}

func TestDetectRules(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		files                     map[string]string
		framework, build, out, nm string
	}{
		{"svelte.config.js alone is not SvelteKit", map[string]string{
			"package.json":     `{"scripts":{"build":"vite build"},"devDependencies":{"vite":"*","svelte":"*"}}`,
			"svelte.config.js": "export default {}\n",
		}, "vite", "npm run build", "dist", "Vite (Svelte)"},
		{"preset build command without a script", map[string]string{
			"package.json": `{"devDependencies":{"vite":"*"}}`,
		}, "vite", "vite build", "dist", "Vite"},
		{"vite root and outDir", map[string]string{
			"package.json":   `{"devDependencies":{"vite":"*"}}`,
			"vite.config.ts": "export default defineConfig({ root: 'src', build: { outDir: \"../www\" } })\n",
		}, "vite", "vite build", "www", "Vite"},
		{"vite outDir in a template literal", map[string]string{
			"package.json":   `{"devDependencies":{"vite":"*"}}`,
			"vite.config.ts": "const url = 'http://x//y'; export default { build: { outDir: `site` } }\n",
		}, "vite", "vite build", "site", "Vite"},
		{"config file alone recognises", map[string]string{
			"package.json":          `{"scripts":{"build":"docusaurus build"}}`,
			"docusaurus.config.ts":  "export default {}\n",
			"docusaurus.config.old": "",
		}, "docusaurus", "npm run build", "build", "Docusaurus"},
		{"Docusaurus before React", map[string]string{
			"package.json": `{"dependencies":{"@docusaurus/core":"3","react":"19","react-scripts":"5"}}`,
		}, "docusaurus", "docusaurus build", "build", "Docusaurus"},
		{"Astro before Vite", map[string]string{
			"package.json": `{"dependencies":{"astro":"5","vite":"6"}}`,
		}, "astro", "astro build", "dist", "Astro"},
		{"Next export with distDir .next keeps out", map[string]string{
			"package.json":   `{"dependencies":{"next":"15","react":"19"},"devDependencies":{"vite":"*"}}`,
			"next.config.js": `module.exports = { "output": "export", distDir: '.next' }`,
		}, "nextjs", "next build", "out", "Next.js (static export)"},
		{"Nuxt without generate script", map[string]string{
			"package.json": `{"scripts":{"build":"nuxt build"},"dependencies":{"nuxt":"^4.0.0"}}`,
		}, "nuxt", "nuxt generate", ".output/public", "Nuxt (static generate)"},
		{"Angular outputPath object", map[string]string{
			"package.json": `{"scripts":{"build":"ng build"},"dependencies":{"@angular/core":"^18"}}`,
			"angular.json": `{"defaultProject":"site","projects":{"other":{},"site":{"architect":{"build":{"builder":"@angular-devkit/build-angular:application","options":{"outputPath":{"base":"public/site","browser":""}}}}}}}`,
		}, "angular", "npm run build", "public/site", "Angular"},
		{"Angular several apps, one named like the package", map[string]string{
			"package.json": `{"name":"b","scripts":{"build":"ng build"},"dependencies":{"@angular/core":"^18"}}`,
			"angular.json": `{"projects":{"a":{},"b":{"targets":{"build":{"builder":"@angular-devkit/build-angular:browser-esbuild","options":{"outputPath":"dist/b-app"}}}}}}`,
		}, "angular", "npm run build", "dist/b-app", "Angular"},
		{"package.json with a build script and index.html is not static", map[string]string{
			"package.json": `{"scripts":{"build":"tailwindcss -i in.css -o out.css"}}`,
			"index.html":   "<p>",
		}, "other", "npm run build", "dist", "Other"},
		{"no package.json", map[string]string{
			"index.html": "<p>", ".nvmrc": "22",
		}, "static", "", ".", "Static HTML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustDetect(t, tree(tc.files))
			if p.Framework != tc.framework || p.BuildCommand != tc.build || p.OutputDir != tc.out || p.Name != tc.nm {
				t.Errorf("got %q %q %q %q, want %q %q %q %q", p.Framework, p.BuildCommand, p.OutputDir, p.Name, tc.framework, tc.build, tc.out, tc.nm)
			}
		})
	}
}

func TestWith(t *testing.T) {
	base := Plan{Framework: "vite", Name: "Vite (React)", PackageManager: "npm", InstallCommand: "npm ci",
		BuildCommand: "npm run build", OutputDir: "dist", Lockfile: "package-lock.json", NodeVersion: "22"}
	for _, tc := range []struct {
		name string
		o    Overrides
		want Plan
	}{
		{"nothing", Overrides{}, base},
		{"root dir is the caller's", Overrides{RootDir: ptr("app")}, base},
		{"install", Overrides{InstallCommand: ptr("npm ci --ignore-scripts")}, func() Plan { p := base; p.InstallCommand = "npm ci --ignore-scripts"; return p }()},
		{"empty install skips it", Overrides{InstallCommand: ptr("")}, func() Plan { p := base; p.InstallCommand = ""; return p }()},
		{"build", Overrides{BuildCommand: ptr("npm run build:prod")}, func() Plan { p := base; p.BuildCommand = "npm run build:prod"; return p }()},
		{"output cleaned", Overrides{OutputDir: ptr("./public/")}, func() Plan { p := base; p.OutputDir = "public"; return p }()},
		{"output empty is the root", Overrides{OutputDir: ptr("")}, func() Plan { p := base; p.OutputDir = "."; return p }()},
		{"same framework changes nothing", Overrides{Framework: ptr("vite")}, base},
		{"framework takes the preset's name and output", Overrides{Framework: ptr("create-react-app")},
			func() Plan {
				p := base
				p.Framework, p.Name, p.OutputDir, p.CacheDirs = "create-react-app", "Create React App", "build", []string{"node_modules/.cache"}
				return p
			}()},
		{"framework then explicit output", Overrides{Framework: ptr("gatsby"), OutputDir: ptr("site")},
			func() Plan {
				p := base
				p.Framework, p.Name, p.OutputDir, p.CacheDirs = "gatsby", "Gatsby", "site", []string{".cache"}
				return p
			}()},
		{"static clears install and build", Overrides{Framework: ptr("static")},
			Plan{Framework: "static", Name: "Static HTML", OutputDir: ".", NodeVersion: "22"}},
		{"static with a build of its own", Overrides{Framework: ptr("static"), BuildCommand: ptr("./gen.sh"), OutputDir: ptr("site")},
			Plan{Framework: "static", Name: "Static HTML", BuildCommand: "./gen.sh", OutputDir: "site", NodeVersion: "22"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := base.With(tc.o); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	t.Run("from static to a framework", func(t *testing.T) {
		p := Plan{Framework: "static", Name: "Static HTML", OutputDir: "."}.With(Overrides{Framework: ptr("vite")})
		want := Plan{Framework: "vite", Name: "Vite", PackageManager: "npm", InstallCommand: "npm install", BuildCommand: "vite build", OutputDir: "dist", CacheDirs: []string{"node_modules/.vite"}}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("got  %+v\nwant %+v", p, want)
		}
	})
}

func TestDetectWith(t *testing.T) {
	files := tree(map[string]string{
		"package.json":   `{"scripts":{"build":"vite build"},"devDependencies":{"vite":"*"}}`,
		"yarn.lock":      "",
		"vite.config.js": "export default { build: { outDir: 'www' } }",
		"index.html":     "<p>",
	})
	t.Run("forced framework is planned from the tree", func(t *testing.T) {
		p, err := DetectWith(files, Overrides{Framework: ptr("astro")})
		if err != nil {
			t.Fatal(err)
		}
		want := Plan{Framework: "astro", Name: "Astro", PackageManager: "yarn", InstallCommand: "yarn install --frozen-lockfile",
			BuildCommand: "yarn run build", OutputDir: "dist", Lockfile: "yarn.lock",
			CacheDirs: []string{".astro", "node_modules/.astro", "node_modules/.vite"}}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("got  %+v\nwant %+v", p, want)
		}
	})
	t.Run("forced static", func(t *testing.T) {
		p, err := DetectWith(files, Overrides{Framework: ptr("static")})
		if err != nil {
			t.Fatal(err)
		}
		if p.Framework != "static" || p.BuildCommand != "" || p.InstallCommand != "" || p.OutputDir != "." {
			t.Errorf("got %+v", p)
		}
	})
	t.Run("a build command turns a plain site with package.json into other", func(t *testing.T) {
		site := tree(map[string]string{"package.json": `{"devDependencies":{"serve":"*"}}`, "index.html": "<p>"})
		if p := mustDetect(t, site); p.Framework != "static" {
			t.Fatalf("Detect: got %+v", p)
		}
		p, err := DetectWith(site, Overrides{BuildCommand: ptr("npx tailwindcss -o out.css"), OutputDir: ptr(".")})
		if err != nil {
			t.Fatal(err)
		}
		want := Plan{Framework: "other", Name: "Other", PackageManager: "npm", InstallCommand: "npm install", BuildCommand: "npx tailwindcss -o out.css", OutputDir: "."}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("got  %+v\nwant %+v", p, want)
		}
	})
	t.Run("nothing to install skips the install", func(t *testing.T) {
		for _, tc := range []struct {
			pkg, install string
		}{
			{`{"scripts":{"build":"node build.js"}}`, ""},
			{`{"scripts":{"build":"node build.js"},"devDependencies":{"sass":"*"}}`, "npm install"},
			{`{"scripts":{"build":"node build.js","prepare":"node gen.js"}}`, "npm install"},
			{`{"scripts":{"build":"node build.js"},"optionalDependencies":{"fsevents":"*"}}`, "npm install"},
		} {
			if p := mustDetect(t, tree(map[string]string{"package.json": tc.pkg})); p.InstallCommand != tc.install {
				t.Errorf("%s: install %q, want %q", tc.pkg, p.InstallCommand, tc.install)
			}
		}
		if p := mustDetect(t, tree(map[string]string{"package.json": `{"scripts":{"build":"node build.js"}}`, "package-lock.json": "{}"})); p.InstallCommand != "npm ci" {
			t.Errorf("with a lockfile: install %q, want npm ci", p.InstallCommand)
		}
	})
	t.Run("invalid overrides", func(t *testing.T) {
		for _, o := range []Overrides{
			{Framework: ptr("hugo")},
			{OutputDir: ptr("../secrets")},
			{OutputDir: ptr("/etc")},
			{RootDir: ptr("a/../../b")},
			{RootDir: ptr("app\\web")},
			{BuildCommand: ptr("make\x00")},
			{InstallCommand: ptr(strings.Repeat("x", maxCommandLen+1))},
		} {
			if _, err := DetectWith(files, o); err == nil {
				t.Errorf("%+v: no error", o)
			} else {
				errCode(t, err, apogee.EINVALID)
			}
		}
	})
	t.Run("framework needing package.json", func(t *testing.T) {
		_, err := DetectWith(tree(map[string]string{"index.html": "<p>"}), Overrides{Framework: ptr("vite")})
		errCode(t, err, apogee.EINVALID)
	})
	t.Run("missing folder", func(t *testing.T) {
		sub, err := (Overrides{RootDir: ptr("nope")}).Sub(files)
		if sub != nil {
			t.Errorf("Sub gave a tree")
		}
		errCode(t, err, apogee.EINVALID)
	})
}

func TestOverridesSub(t *testing.T) {
	repo := tree(map[string]string{
		"README.md":             "monorepo",
		"apps/web/package.json": `{"scripts":{"build":"gatsby build"},"dependencies":{"gatsby":"5"}}`,
		"apps/web/yarn.lock":    "",
	})
	for _, root := range []string{"apps/web", "./apps/web/", "apps//web"} {
		sub, err := Overrides{RootDir: ptr(root)}.Sub(repo)
		if err != nil {
			t.Fatalf("%q: %v", root, err)
		}
		p := mustDetect(t, sub)
		if p.Framework != "gatsby" || p.Lockfile != "yarn.lock" || p.OutputDir != "public" {
			t.Errorf("%q: got %+v", root, p)
		}
	}
	if sub, err := (Overrides{RootDir: ptr(".")}).Sub(repo); err != nil || sub == nil {
		t.Errorf("root \".\": %v", err)
	}
	_, err := Overrides{RootDir: ptr("README.md")}.Sub(repo)
	errCode(t, err, apogee.EINVALID)
}

func TestPresetsTable(t *testing.T) {
	ps := Presets()
	index := map[string]int{}
	for i, p := range ps {
		if p.Framework == "" || p.Name == "" {
			t.Errorf("preset %d has no framework or name", i)
		}
		if _, dup := index[p.Framework]; dup {
			t.Errorf("framework %q twice", p.Framework)
		}
		index[p.Framework] = i
		if _, err := cleanDir("output", p.OutputDir); err != nil {
			t.Errorf("%s: %v", p.Framework, err)
		}
		if len(p.Dependencies) == 0 && len(p.ConfigFiles) == 0 && p.Framework != "other" && p.Framework != "static" {
			t.Errorf("%s cannot be recognised", p.Framework)
		}
	}
	for _, want := range []string{"vite", "create-react-app", "vue-cli", "angular", "sveltekit", "astro", "nextjs", "gatsby", "docusaurus", "nuxt", "other", "static"} {
		if _, ok := index[want]; !ok {
			t.Errorf("no %s preset", want)
		}
	}
	// More specific before less.
	for _, pair := range [][2]string{
		{"sveltekit", "vite"}, {"astro", "vite"}, {"nuxt", "vite"}, {"react-router", "vite"},
		{"nextjs", "create-react-app"}, {"gatsby", "create-react-app"}, {"docusaurus", "create-react-app"},
		{"vite", "other"}, {"other", "static"},
	} {
		if index[pair[0]] > index[pair[1]] {
			t.Errorf("%s comes after %s", pair[0], pair[1])
		}
	}
	// A copy: changing it leaves the table alone.
	ps[0].Dependencies[0] = "changed"
	if Presets()[0].Dependencies[0] == "changed" {
		t.Error("Presets returns the table itself")
	}
}

func TestStripComments(t *testing.T) {
	for in, want := range map[string]string{
		"a // b\nc":                  "a \nc",
		"a /* b\nc */ d":             "a \n  d",
		`x = "http://y" // z`:        `x = "http://y" `,
		"x = 'it\\'s // no' // yes":  "x = 'it\\'s // no' ",
		"x = `a\n// b` // c":         "x = `a\n// b` ",
		"/* unterminated":            "",
		"x = 'unterminated\n// c\ny": "x = 'unterminated\n\ny",
	} {
		if got := stripComments(in); got != want {
			t.Errorf("stripComments(%q) = %q, want %q", in, got, want)
		}
	}
}
