package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/apogee-dev/apogee"
)

// linkDir is the folder, inside a linked folder, that holds linkFile.
const (
	linkDir  = ".apogee"
	linkFile = "project.json"
)

// projectLink is .apogee/project.json: the project (and server) a folder
// deploys to, like Vercel's .vercel/project.json. `apogee link` and the
// first `apogee deploy DIR --project NAME` write it; later commands run
// in (or deploying) the folder need no --project.
type projectLink struct {
	Project   string `json:"project"`
	ProjectID string `json:"projectId"`
	Server    string `json:"server"`
}

// linkPath is the link file of folder dir.
func linkPath(dir string) string { return filepath.Join(dir, linkDir, linkFile) }

// readLink returns dir's link, or nil if it has none.
func readLink(dir string) (*projectLink, error) {
	b, err := os.ReadFile(linkPath(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &cliError{code: "invalid", msg: "cannot read " + linkPath(dir), err: err}
	}
	var l projectLink
	if err := json.Unmarshal(b, &l); err != nil || l.Project == "" {
		return nil, &cliError{code: "invalid", msg: linkPath(dir) + " is not a project link",
			hint: "Link the folder again with `apogee link --project NAME`, or delete " + filepath.Join(dir, linkDir) + "."}
	}
	return &l, nil
}

// writeLink writes dir's link, and a .gitignore in .apogee that keeps the
// folder out of Git (it names a server), and a README saying what it is.
func writeLink(dir string, l projectLink) error {
	d := filepath.Join(dir, linkDir)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return fmt.Errorf("link %s: %w", dir, err)
	}
	b, _ := json.MarshalIndent(l, "", "  ")
	files := map[string]string{
		linkFile:     string(b) + "\n",
		".gitignore": "# Written by apogee link: this folder names a server and stays out of Git.\n*\n",
		"README.txt": "This folder is linked to the Apogee project \"" + l.Project + "\" on " + l.Server + ".\n" +
			"`apogee deploy` run here (or given this folder) deploys to it without --project.\n" +
			"`apogee link --project NAME` links it to another project; delete this folder to unlink it.\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(d, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("link %s: %w", dir, err)
		}
	}
	return nil
}

// linkedProject returns the project dir is linked to ("" if none), and
// fails when the link was made with another server than server.
func linkedProject(dir, server string) (string, error) {
	l, err := readLink(dir)
	if err != nil || l == nil {
		return "", err
	}
	if l.Server != "" && server != "" && normalizeServer(l.Server) != normalizeServer(server) {
		return "", &cliError{code: "invalid",
			msg:  fmt.Sprintf("%s links project %s on %s, but the CLI talks to %s", linkPath(dir), l.Project, l.Server, server),
			hint: "Pass --project NAME, or link the folder to a project on this server with `apogee link --project NAME`."}
	}
	return l.Project, nil
}

func newLinkCmd(a *app) *cobra.Command {
	var projectFlag string
	cmd := &cobra.Command{
		Use:   "link [DIR]",
		Short: "Link a folder to a project, so deploys from it need no --project",
		Long: `Link writes .apogee/project.json in DIR (default: the current folder) naming the
project and the server, like Vercel's .vercel/project.json. From then on
"apogee deploy" of that folder, and commands run in it that take --project,
use the linked project. The first "apogee deploy DIR --project NAME" links
DIR by itself. The .apogee folder keeps itself out of Git and is never
uploaded; delete it to unlink the folder.`,
		Example: "  apogee link --project my-site\n  apogee link ./web --project web\n  apogee deploy            # in a linked folder",
		Args:    args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			dir := "."
			if len(argv) == 1 {
				dir = argv[0]
			}
			if err := checkFolder(dir); err != nil {
				return err
			}
			name := projectFlag
			if name == "" {
				name = os.Getenv("APOGEE_PROJECT")
			}
			if name == "" {
				return usageError(cmd, errors.New("name the project to link to with --project NAME"))
			}
			c, cfg, err := a.client()
			if err != nil {
				return err
			}
			p, err := c.GetProject(cmd.Context(), name)
			if err != nil {
				return withHint(err, apogee.ENOTFOUND, "Create it with `apogee projects create "+name+"`, then link again.")
			}
			l := projectLink{Project: p.Name, ProjectID: p.ID, Server: cfg.Server}
			if err := writeLink(dir, l); err != nil {
				return err
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(map[string]any{"project": l.Project, "projectId": l.ProjectID, "server": l.Server, "path": linkPath(dir)})
			}
			abs, _ := filepath.Abs(dir)
			o.Printf("Linked %s to project %s on %s.\n", abs, p.Name, cfg.Server)
			o.Notef("Deploy it with `apogee deploy` (run in %s) or `apogee deploy %s`.\n", abs, dir)
			return nil
		},
	}
	cmd.Flags().StringVarP(&projectFlag, "project", "p", "", "project to link to (default: $APOGEE_PROJECT)")
	return cmd
}
