package framework

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"strings"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/safefs"
)

const (
	maxPackageJSON = 4 << 20   // a real package.json is a few KiB
	maxConfigFile  = 256 << 10 // config sources read for options; longer ones are read in part
)

// packageJSON holds the fields of package.json that planning reads.
type packageJSON struct {
	Name string `json:"name"`
	// Main is decoded leniently too (mainEntry): only app detection reads it.
	Main            json.RawMessage   `json:"main"`
	Scripts         map[string]string `json:"scripts"`
	Dependencies    map[string]string `json:"dependencies"`
	DevDependencies map[string]string `json:"devDependencies"`
	// OptionalDependencies and Workspaces matter only to nothingToInstall.
	OptionalDependencies map[string]string `json:"optionalDependencies"`
	Workspaces           json.RawMessage   `json:"workspaces"`
	PackageManager       string            `json:"packageManager"`
	// Engines is decoded on its own and leniently: npm only warns about a
	// malformed engines field, so Apogee does not refuse one either.
	Engines json.RawMessage `json:"engines"`
}

// nothingToInstall reports whether installing would do nothing: no
// dependency of any kind, no workspaces, and no script an install runs
// (npm runs preinstall, install, postinstall and prepare). Apogee then
// skips the install, which would only start the package manager.
func (p *packageJSON) nothingToInstall() bool {
	if len(p.Dependencies)+len(p.DevDependencies)+len(p.OptionalDependencies) > 0 {
		return false
	}
	if w := strings.TrimSpace(string(p.Workspaces)); w != "" && w != "null" && w != "[]" && w != "{}" {
		return false
	}
	for _, s := range []string{"preinstall", "install", "postinstall", "prepare"} {
		if _, ok := p.Scripts[s]; ok {
			return false
		}
	}
	return true
}

// has reports whether dep is in dependencies or devDependencies.
func (p *packageJSON) has(dep string) bool {
	_, a := p.Dependencies[dep]
	_, b := p.DevDependencies[dep]
	return a || b
}

// version returns the range of dep as written, from dependencies or
// devDependencies.
func (p *packageJSON) version(dep string) string {
	if v, ok := p.Dependencies[dep]; ok {
		return v
	}
	return p.DevDependencies[dep]
}

// mainEntry returns the "main" field when it is a string, else "".
func (p *packageJSON) mainEntry() string {
	var s string
	if len(p.Main) == 0 || json.Unmarshal(p.Main, &s) != nil {
		return ""
	}
	return strings.TrimSpace(s)
}

func (p *packageJSON) enginesNode() string {
	var e struct {
		Node string `json:"node"`
	}
	if len(p.Engines) == 0 || json.Unmarshal(p.Engines, &e) != nil {
		return ""
	}
	return strings.TrimSpace(e.Node)
}

// parsePackageJSON decodes package.json. Malformed JSON and fields of the
// wrong type are EINVALID errors naming the file, line and column.
func parsePackageJSON(data []byte) (*packageJSON, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // npm tolerates a BOM
	var p packageJSON
	err := json.Unmarshal(data, &p)
	if err == nil {
		return &p, nil
	}
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		msg string
		off int64
	)
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
		msg = "package.json is not valid JSON: %s: " + syn.Error()
	case errors.As(err, &typ):
		off = typ.Offset
		if typ.Field == "" {
			msg = "package.json is not a JSON object: %s: found " + typ.Value
		} else {
			msg = fmt.Sprintf("package.json: %q has the wrong type: %%s: found %s, want %s", typ.Field, typ.Value, jsonKind(typ.Type.String()))
		}
	default:
		return nil, apogee.Errorf(apogee.EINVALID, "package.json is not valid JSON: %v", err)
	}
	line, col := position(data, off)
	e := apogee.Errorf(apogee.EINVALID, msg, fmt.Sprintf("line %d, column %d", line, col))
	e.Data = map[string]any{"file": "package.json", "line": line, "column": col}
	e.Err = err
	return nil, e
}

func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "map["):
		return "an object of strings"
	case goType == "string":
		return "a string"
	}
	return goType
}

// position turns the offset of a JSON error (bytes read when it was found)
// into the 1-based line and column of the offending byte.
func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off > 0 {
		off-- // the decoder has consumed the offending byte
	}
	before := data[:off]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// readFile reads at most limit bytes of name. It reports ok=false, and no
// error, when the file does not exist or is a folder; truncated is true
// when the file is longer than limit.
func readFile(fsys fs.FS, name string, limit int64) (data []byte, truncated, ok bool, err error) {
	f, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, false, nil
	}
	if safefs.IsUnsafe(err) {
		// A link, FIFO or device planted in the repository (safefs).
		return nil, false, false, &apogee.Error{Code: apogee.EINVALID, Err: err,
			Message: fmt.Sprintf("%s %s; commit the file itself", name, safefs.Reason(err))}
	}
	if err != nil {
		return nil, false, false, fmt.Errorf("framework: open %s: %w", name, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, false, false, nil
	}
	data, err = io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, false, false, fmt.Errorf("framework: read %s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return data[:limit], true, true, nil
	}
	return data, false, true, nil
}

// packageManager is how a project installs its dependencies and runs its
// scripts.
type packageManager struct {
	name     string // npm, yarn, pnpm
	install  string
	lockfile string
}

func (pm packageManager) run(script string) string {
	return pm.name + " run " + script
}

// Lockfiles in the order they win when a tree has several and package.json
// names no packageManager; the same order as Vercel's, so a project moving
// from there keeps its installer. npm itself prefers npm-shrinkwrap.json to
// package-lock.json.
var lockfiles = []struct{ name, manager string }{
	{"yarn.lock", "yarn"},
	{"pnpm-lock.yaml", "pnpm"},
	{"npm-shrinkwrap.json", "npm"},
	{"package-lock.json", "npm"},
	{"bun.lock", "bun"},
	{"bun.lockb", "bun"},
}

var corepackRE = regexp.MustCompile(`^(npm|yarn|pnpm|bun)@v?(\d+)`)

// detectPackageManager picks the package manager: the packageManager field
// of package.json (corepack's "pnpm@9.1.0+sha512…") when set, else the
// first lockfile of the lockfiles table, else npm. The install is frozen
// to the lockfile whenever there is one.
func (pr *project) detectPackageManager(pkg *packageJSON) (packageManager, *issue, error) {
	name, major := "", 0
	if pkg.PackageManager != "" {
		m := corepackRE.FindStringSubmatch(strings.TrimSpace(pkg.PackageManager))
		if m == nil {
			return npmFallback(), &issue{
				err:       apogee.Errorf(apogee.EINVALID, "package.json: packageManager %q is not npm, yarn or pnpm with a version (like \"pnpm@9.1.0\"); fix it or set the install command", pkg.PackageManager),
				rescuedBy: needInstall,
			}, nil
		}
		name = m[1]
		fmt.Sscan(m[2], &major)
	}
	lock := ""
	for _, l := range lockfiles {
		if !pr.exists(l.name) {
			continue
		}
		if name == "" {
			name = l.manager
		}
		if l.manager == name {
			lock = l.name
			break
		}
	}
	if name == "" {
		name = "npm"
	}
	switch name {
	case "bun":
		what := "packageManager " + pkg.PackageManager
		if lock != "" {
			what = lock
		}
		return npmFallback(), &issue{
			err:       apogee.Errorf(apogee.EINVALID, "bun is not supported yet (the project has %s); commit a package-lock.json, yarn.lock or pnpm-lock.yaml, or set the install command", what),
			rescuedBy: needInstall,
		}, nil
	case "npm":
		if lock != "" {
			return packageManager{"npm", "npm ci", lock}, nil, nil
		}
		return packageManager{"npm", "npm install", ""}, nil, nil
	case "pnpm":
		if lock != "" {
			return packageManager{"pnpm", "pnpm install --frozen-lockfile", lock}, nil, nil
		}
		return packageManager{"pnpm", "pnpm install", ""}, nil, nil
	}
	// yarn: classic (1.x) and berry (2+) spell a frozen install differently.
	if lock == "" {
		return packageManager{"yarn", "yarn install", ""}, nil, nil
	}
	berry := major >= 2 || pr.exists(".yarnrc.yml")
	if !berry {
		head, _, _, err := readFile(pr.fsys, lock, 4096)
		if err != nil {
			return packageManager{}, nil, err
		}
		berry = bytes.Contains(head, []byte("__metadata:"))
	}
	if berry {
		return packageManager{"yarn", "yarn install --immutable", lock}, nil, nil
	}
	return packageManager{"yarn", "yarn install --frozen-lockfile", lock}, nil, nil
}

func npmFallback() packageManager { return packageManager{"npm", "npm install", ""} }

// nodeVersion is engines.node, else the first line of .nvmrc or
// .node-version, and where it was read.
func (pr *project) nodeVersion(pkg *packageJSON) (version, from string, err error) {
	if pkg != nil {
		if v := pkg.enginesNode(); v != "" {
			return v, "engines.node", nil
		}
	}
	for _, name := range []string{".nvmrc", ".node-version"} {
		data, _, ok, err := readFile(pr.fsys, name, 1024)
		if err != nil {
			return "", "", err
		}
		if !ok {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			line, _, _ = strings.Cut(line, "#")
			if line = strings.TrimSpace(line); line != "" {
				return line, name, nil
			}
		}
	}
	return "", "", nil
}
