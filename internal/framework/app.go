package framework

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/apogee-dev/apogee"
)

// AppPlan says how to build an app: install its dependencies, run its
// build script if it has one, and leave only the production
// dependencies in the tree its instances run (as Heroku's Node.js
// buildpack does: devDependencies are there for the build and pruned
// after it).
type AppPlan struct {
	// PackageManager is "npm", "yarn" or "pnpm"; "" without package.json.
	PackageManager string `json:"package_manager"`
	// InstallCommand installs every dependency when there is a build,
	// and only the production ones when there is none ("npm ci
	// --omit=dev"); "" without package.json.
	InstallCommand string `json:"install_command"`
	// BuildCommand runs the "build" script ("npm run build"); "" when
	// package.json has none.
	BuildCommand string `json:"build_command"`
	// PruneCommand removes the devDependencies after the build ("npm
	// prune --omit=dev"); "" when there is no build, or when the package
	// manager cannot prune (yarn 2+ keeps them).
	PruneCommand string `json:"prune_command"`
	// ProdOnly reports that the install leaves no devDependencies: the
	// dependency cache may keep its node_modules for the next build.
	ProdOnly bool `json:"prod_only"`
	// Lockfile is the lockfile's path, for the dependency cache's key.
	Lockfile string `json:"lockfile"`
	// NodeVersion is engines.node, .nvmrc or .node-version, as written.
	NodeVersion string `json:"node_version"`
	// NodeVersionFrom says where NodeVersion was read (Plan's).
	NodeVersionFrom string `json:"node_version_from"`
}

// PlanApp plans the build of an app rooted at fsys. Overrides apply as
// for static sites: InstallCommand and BuildCommand replace the detected
// ones (a pointer to "" skips the step); the output folder is always the
// project root, since the app runs from its tree. Errors are those of
// DetectWith: a malformed package.json, or a package manager Apogee
// does not support without an InstallCommand override.
func PlanApp(fsys fs.FS, o Overrides) (AppPlan, error) {
	if err := o.Validate(); err != nil {
		return AppPlan{}, err
	}
	pr := &project{fsys: fsys, names: map[string]bool{}}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return AppPlan{}, fmt.Errorf("framework: read project folder: %w", err)
	}
	for _, e := range entries {
		pr.names[e.Name()] = true
	}
	var plan AppPlan
	pkg, err := pr.packageJSON()
	if err != nil {
		return AppPlan{}, err
	}
	if pkg != nil {
		pm, is, err := pr.detectPackageManager(pkg)
		if err != nil {
			return AppPlan{}, err
		}
		if is != nil && !is.rescuedBy(o) {
			return AppPlan{}, is.err
		}
		if plan.NodeVersion, plan.NodeVersionFrom, err = pr.nodeVersion(pkg); err != nil {
			return AppPlan{}, err
		}
		plan.PackageManager, plan.Lockfile = pm.name, pm.lockfile
		if _, ok := pkg.Scripts["build"]; ok {
			plan.BuildCommand = pm.run("build")
		}
		if o.BuildCommand != nil {
			plan.BuildCommand = *o.BuildCommand
		}
		if plan.BuildCommand != "" {
			plan.InstallCommand, plan.PruneCommand = pm.install, pm.prune()
		} else {
			plan.InstallCommand, plan.ProdOnly = pm.prodInstall()
		}
		if pm.lockfile == "" && pkg.nothingToInstall() {
			plan.InstallCommand, plan.PruneCommand, plan.ProdOnly = "", "", false
		}
	} else if o.BuildCommand != nil {
		plan.BuildCommand = *o.BuildCommand
	}
	if o.InstallCommand != nil {
		plan.InstallCommand = *o.InstallCommand
		plan.ProdOnly = false
	}
	return plan, nil
}

// prodInstall is the install that leaves out devDependencies, and
// whether it does.
func (pm packageManager) prodInstall() (string, bool) {
	switch {
	case pm.name == "npm":
		return pm.install + " --omit=dev", true
	case pm.name == "pnpm":
		return pm.install + " --prod", true
	case pm.name == "yarn" && !strings.Contains(pm.install, "--immutable"):
		return pm.install + " --production", true
	}
	// yarn 2+ installs everything (its production-only install needs
	// the workspace-tools plugin).
	return pm.install, false
}

// prune is the command that removes devDependencies after a build.
func (pm packageManager) prune() string {
	switch {
	case pm.name == "npm":
		return "npm prune --omit=dev"
	case pm.name == "pnpm":
		return "pnpm prune --prod"
	case pm.name == "yarn" && !strings.Contains(pm.install, "--immutable"):
		// yarn 1 has no prune: a production install over the full one
		// removes what is not needed, offline from its cache.
		return pm.install + " --production --ignore-scripts --prefer-offline"
	}
	return ""
}

// packageJSON reads the project's package.json; nil when there is none.
func (pr *project) packageJSON() (*packageJSON, error) {
	data, truncated, ok, err := readFile(pr.fsys, "package.json", maxPackageJSON)
	switch {
	case err != nil:
		return nil, err
	case truncated:
		return nil, apogee.Errorf(apogee.ETOOLARGE, "package.json is larger than %d MiB", maxPackageJSON>>20)
	case !ok:
		return nil, nil
	}
	return parsePackageJSON(data)
}
