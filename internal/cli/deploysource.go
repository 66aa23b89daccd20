package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/apogee-dev/apogee/internal/client"
	"github.com/apogee-dev/apogee/internal/framework"
)

// folderSource says how `apogee deploy DIR` sends a folder.
type folderSource struct {
	build bool   // a project's source: uploaded and built on the server
	what  string // what was detected, for people: "Vite (React)"
}

// detectSource tells a project's source from a folder to deploy as it is,
// with the same detection the builder uses (internal/framework, which
// reads package.json and config files and runs nothing): a framework or
// a package.json build script to run, or a Node.js app to start.
func detectSource(dir string) folderSource {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return folderSource{}
	}
	defer root.Close()
	fsys := root.FS()
	if plan, err := framework.Detect(fsys); err == nil && plan.BuildCommand != "" {
		return folderSource{build: true, what: plan.Name}
	}
	if k, err := framework.DetectKind(fsys); err == nil && k.Kind == framework.KindApp {
		return folderSource{build: true, what: "a Node.js app"}
	}
	return folderSource{}
}

// deployProject resolves the project of `apogee deploy DIR`: --project,
// then $APOGEE_PROJECT, then DIR's link. linked reports that DIR has a
// link already (the first deploy of an unlinked folder links it).
func (a *app) deployProject(flag, dir string) (proj string, linked bool, err error) {
	l, err := readLink(dir)
	if err != nil {
		return "", false, err
	}
	if flag == "" {
		flag = os.Getenv("APOGEE_PROJECT")
	}
	if flag != "" {
		return flag, l != nil, nil
	}
	if l == nil {
		return "", false, errNoProject
	}
	cfg, err := a.resolve()
	if err != nil {
		return "", false, err
	}
	proj, err = linkedProject(dir, cfg.Server)
	return proj, true, err
}

// linkAfterDeploy links DIR to the project its first deploy went to; a
// folder that cannot be written keeps working without a link.
func (a *app) linkAfterDeploy(o *output, dir, proj string, res *client.DeployResult, server string) {
	l := projectLink{Project: proj, Server: server}
	if res.Deployment != nil && res.Deployment.Deployment != nil {
		l.ProjectID = res.Deployment.ProjectID
	}
	if err := writeLink(dir, l); err != nil {
		o.Warnf("could not link %s to %s: %v\n", dir, proj, err)
		return
	}
	o.Notef("Linked %s to %s (%s): later deploys of this folder need no --project.\n", dir, proj, filepath.Join(dir, linkDir, linkFile))
}

// skippedNote says how many files and folders the ignore rules left out.
func skippedNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; %s left out by node_modules, .gitignore and .apogeeignore rules", plural(n, "path", "paths"))
}
