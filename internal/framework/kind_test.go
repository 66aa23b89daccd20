package framework

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/apogee-dev/apogee"
)

// TestDetectKindGolden runs DetectKind on every tree in testdata, the
// static ones included (each must stay static), and compares with its
// kind.json (-update rewrites them). The app trees come from their own
// tools: express-generator 4.16.1 (--no-view) and fastify-cli 8.0.2
// (generate), create-next-app (nextjs-server); the rest are written for
// the rule each tests.
func TestDetectKindGolden(t *testing.T) {
	dirs, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	apps := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		name := d.Name()
		t.Run(name, func(t *testing.T) {
			root, err := os.OpenRoot(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			var kind struct {
				Kind  *KindPlan  `json:"kind,omitempty"`
				Error *goldenErr `json:"error,omitempty"`
			}
			plan, err := DetectKind(root.FS())
			if err != nil {
				var e *apogee.Error
				if !errors.As(err, &e) {
					t.Fatalf("DetectKind: %v is not an *apogee.Error", err)
				}
				kind.Error = &goldenErr{Code: e.Code, Message: e.Message}
			} else {
				kind.Kind = &plan
				if plan.Kind == KindApp {
					apps++
				}
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(kind); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join("testdata", name, "kind.json")
			if *update {
				if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("DetectKind(%s):\n%s\nwant\n%s", name, buf.Bytes(), want)
			}
		})
	}
	if !*update && apps == 0 {
		t.Error("no tree was detected as an app: the golden files prove nothing")
	}
}

func TestDetectKindRules(t *testing.T) {
	for _, c := range []struct {
		name  string
		files map[string]string
		want  KindPlan
		code  string
	}{
		{"nothing", map[string]string{"index.html": "<p>hi"}, KindPlan{Kind: KindStatic, Rule: "static"}, ""},
		{"procfile without web", map[string]string{"Procfile": "worker: node w.js\nrelease: npm run migrate\n", "index.html": ""},
			KindPlan{Kind: KindStatic, Rule: "static", ReleaseCommand: "npm run migrate"}, ""},
		{"procfile web wins over next", map[string]string{"Procfile": "web: node custom.js", "package.json": `{"dependencies":{"next":"16.0.0"}}`},
			KindPlan{Kind: KindApp, Rule: "procfile-web", StartCommand: "node custom.js"}, ""},
		{"procfile without package.json", map[string]string{"Procfile": "\xef\xbb\xbfweb:   ./bin/server  \r\n"},
			KindPlan{Kind: KindApp, Rule: "procfile-web", StartCommand: "./bin/server"}, ""},
		{"next without start script", map[string]string{"package.json": `{"dependencies":{"next":"16.0.0"}}`},
			KindPlan{Kind: KindApp, Rule: "nextjs-server", StartCommand: "node_modules/.bin/next start"}, ""},
		{"next export by script", map[string]string{"package.json": `{"scripts":{"build":"next build && next export","start":"next start"},"dependencies":{"next":"12.0.0"}}`},
			KindPlan{Kind: KindStatic, Rule: "static"}, ""},
		{"yarn start", map[string]string{"package.json": `{"scripts":{"start":"node index.js"}}`, "yarn.lock": "__metadata:\n"},
			KindPlan{Kind: KindApp, Rule: "start-script", StartCommand: "yarn start"}, ""},
		{"pnpm start", map[string]string{"package.json": `{"packageManager":"pnpm@9.1.0","scripts":{"start":"node index.js"}}`},
			KindPlan{Kind: KindApp, Rule: "start-script", StartCommand: "pnpm start"}, ""},
		{"vite dev server start is static", map[string]string{"package.json": `{"scripts":{"start":"vite","build":"vite build"},"devDependencies":{"vite":"6.0.0"}}`},
			KindPlan{Kind: KindStatic, Rule: "static"}, ""},
		{"server.mjs", map[string]string{"package.json": `{"name":"x"}`, "server.mjs": ""},
			KindPlan{Kind: KindApp, Rule: "server-entry", StartCommand: "node server.mjs"}, ""},
		{"main missing", map[string]string{"package.json": `{"main":"index.js"}`, "index.html": ""},
			KindPlan{Kind: KindStatic, Rule: "static"}, ""},
		{"main outside", map[string]string{"package.json": `{"main":"../x.js"}`}, KindPlan{Kind: KindStatic, Rule: "static"}, ""},
		{"main with shell characters", map[string]string{"package.json": `{"main":"a;rm -rf.js"}`, "a;rm -rf.js": ""}, KindPlan{Kind: KindStatic, Rule: "static"}, ""},
		{"main not a string", map[string]string{"package.json": `{"main":["a.js"]}`, "a.js": ""}, KindPlan{Kind: KindStatic, Rule: "static"}, ""},
		{"bad procfile line", map[string]string{"Procfile": "web node x.js"}, KindPlan{}, apogee.EINVALID},
		{"procfile twice", map[string]string{"Procfile": "web: a\nweb: b"}, KindPlan{}, apogee.EINVALID},
		{"bad package.json", map[string]string{"package.json": "{"}, KindPlan{}, apogee.EINVALID},
	} {
		t.Run(c.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, body := range c.files {
				fsys[name] = &fstest.MapFile{Data: []byte(body)}
			}
			got, err := DetectKind(fsys)
			if c.code != "" {
				if apogee.ErrorCode(err) != c.code {
					t.Fatalf("error %v, want code %s", err, c.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestDevServerStartScripts(t *testing.T) {
	for script, dev := range map[string]bool{
		"vite":                              true,
		"serve .":                           true,
		"webpack serve --mode development":  true,
		"npx http-server dist":              true,
		"react-scripts start":               true,
		"node ./bin/www":                    false,
		"fastify start -l info app.js":      false,
		"node server.js --serve":            false,
		"next start":                        false,
		"npm run build && node dist/app.js": false,
		"node serve.js":                     false,
	} {
		if got := devServerRE.MatchString(script); got != dev {
			t.Errorf("%q: dev server %v, want %v", script, got, dev)
		}
	}
}
