package framework

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/apogee-dev/apogee"
)

// TestPlanApp plans the builds of app trees: the generated ones in
// testdata and small ones for each package manager and override.
func TestPlanApp(t *testing.T) {
	tree := func(files map[string]string) fs.FS {
		m := fstest.MapFS{}
		for name, data := range files {
			m[name] = &fstest.MapFile{Data: []byte(data)}
		}
		return m
	}
	dir := func(name string) fs.FS {
		root, err := os.OpenRoot(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { root.Close() })
		return root.FS()
	}
	str := func(s string) *string { return &s }
	withBuild := `{"scripts": {"build": "tsc", "start": "node dist/server.js"}, "dependencies": {"express": "^5"}}`
	noBuild := `{"scripts": {"start": "node server.js"}, "dependencies": {"express": "^5"}}`
	tests := []struct {
		name string
		fsys fs.FS
		o    Overrides
		want AppPlan
		code string
	}{
		{name: "express-generator (no lockfile, no build)", fsys: dir("express-generator"),
			want: AppPlan{PackageManager: "npm", InstallCommand: "npm install --omit=dev", ProdOnly: true}},
		{name: "procfile-web (npm lockfile, tsc build)", fsys: dir("procfile-web"),
			want: AppPlan{PackageManager: "npm", InstallCommand: "npm ci", BuildCommand: "npm run build", PruneCommand: "npm prune --omit=dev", Lockfile: "package-lock.json"}},
		{name: "nextjs-server", fsys: dir("nextjs-server"),
			want: AppPlan{PackageManager: "npm", InstallCommand: "npm install", BuildCommand: "npm run build", PruneCommand: "npm prune --omit=dev"}},
		{name: "npm ci, no build", fsys: tree(map[string]string{"package.json": noBuild, "package-lock.json": "{}"}),
			want: AppPlan{PackageManager: "npm", InstallCommand: "npm ci --omit=dev", ProdOnly: true, Lockfile: "package-lock.json"}},
		{name: "pnpm with build", fsys: tree(map[string]string{"package.json": withBuild, "pnpm-lock.yaml": "lockfileVersion: '9.0'"}),
			want: AppPlan{PackageManager: "pnpm", InstallCommand: "pnpm install --frozen-lockfile", BuildCommand: "pnpm run build", PruneCommand: "pnpm prune --prod", Lockfile: "pnpm-lock.yaml"}},
		{name: "pnpm without build", fsys: tree(map[string]string{"package.json": noBuild, "pnpm-lock.yaml": "lockfileVersion: '9.0'"}),
			want: AppPlan{PackageManager: "pnpm", InstallCommand: "pnpm install --frozen-lockfile --prod", ProdOnly: true, Lockfile: "pnpm-lock.yaml"}},
		{name: "yarn 1 with build", fsys: tree(map[string]string{"package.json": withBuild, "yarn.lock": "# yarn lockfile v1\n"}),
			want: AppPlan{PackageManager: "yarn", InstallCommand: "yarn install --frozen-lockfile", BuildCommand: "yarn run build",
				PruneCommand: "yarn install --frozen-lockfile --production --ignore-scripts --prefer-offline", Lockfile: "yarn.lock"}},
		{name: "yarn 1 without build", fsys: tree(map[string]string{"package.json": noBuild, "yarn.lock": "# yarn lockfile v1\n"}),
			want: AppPlan{PackageManager: "yarn", InstallCommand: "yarn install --frozen-lockfile --production", ProdOnly: true, Lockfile: "yarn.lock"}},
		{name: "yarn berry keeps devDependencies", fsys: tree(map[string]string{"package.json": withBuild, "yarn.lock": "__metadata:\n  version: 8\n"}),
			want: AppPlan{PackageManager: "yarn", InstallCommand: "yarn install --immutable", BuildCommand: "yarn run build", Lockfile: "yarn.lock"}},
		{name: "no dependencies: nothing to install", fsys: tree(map[string]string{"package.json": `{"scripts": {"start": "node server.js"}}`}),
			want: AppPlan{PackageManager: "npm"}},
		{name: "no dependencies but a build", fsys: tree(map[string]string{"package.json": `{"scripts": {"build": "node build.js"}}`}),
			want: AppPlan{PackageManager: "npm", BuildCommand: "npm run build"}},
		{name: "no dependencies but a postinstall script", fsys: tree(map[string]string{"package.json": `{"scripts": {"postinstall": "node gen.js"}}`}),
			want: AppPlan{PackageManager: "npm", InstallCommand: "npm install --omit=dev", ProdOnly: true}},
		{name: "no dependencies but workspaces", fsys: tree(map[string]string{"package.json": `{"workspaces": ["packages/*"]}`}),
			want: AppPlan{PackageManager: "npm", InstallCommand: "npm install --omit=dev", ProdOnly: true}},
		{name: "no package.json (a Procfile app)", fsys: tree(map[string]string{"Procfile": "web: ./server"}), want: AppPlan{}},
		{name: "build override skips the build", fsys: tree(map[string]string{"package.json": withBuild}), o: Overrides{BuildCommand: str("")},
			want: AppPlan{PackageManager: "npm", InstallCommand: "npm install --omit=dev", ProdOnly: true}},
		{name: "build override adds one", fsys: tree(map[string]string{"package.json": noBuild}), o: Overrides{BuildCommand: str("make")},
			want: AppPlan{PackageManager: "npm", InstallCommand: "npm install", BuildCommand: "make", PruneCommand: "npm prune --omit=dev"}},
		{name: "install override wins", fsys: tree(map[string]string{"package.json": noBuild}), o: Overrides{InstallCommand: str("npm i --legacy-peer-deps")},
			want: AppPlan{PackageManager: "npm", InstallCommand: "npm i --legacy-peer-deps"}},
		{name: "bun is refused", fsys: tree(map[string]string{"package.json": noBuild, "bun.lockb": "x"}), code: apogee.EINVALID},
		{name: "bun with an install override", fsys: tree(map[string]string{"package.json": noBuild, "bun.lockb": "x"}), o: Overrides{InstallCommand: str("bun install")},
			want: AppPlan{PackageManager: "npm", InstallCommand: "bun install"}},
		{name: "malformed package.json", fsys: tree(map[string]string{"package.json": "{"}), code: apogee.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PlanApp(tt.fsys, tt.o)
			if tt.code != "" {
				if apogee.ErrorCode(err) != tt.code {
					t.Fatalf("PlanApp = %+v, %v; want code %s", got, err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("PlanApp:\n got  %+v\n want %+v", got, tt.want)
			}
		})
	}
}
