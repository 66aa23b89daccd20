package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
)

func newDeployCmd(a *app) *cobra.Command {
	var projectFlag string
	var prod bool
	var concurrency int
	var build buildFlags
	cmd := &cobra.Command{
		Use:   "deploy [DIR]",
		Short: "Deploy a folder; prints the deployment's URL as the last line",
		Long: `Deploy uploads a folder as a new, immutable deployment of a project.

Only files the server does not have yet are uploaded, so a redeploy with one
changed file uploads one file. ".git" folders and ".DS_Store" files are
skipped, and so are symbolic links that lead outside the folder.

With --git the server builds the project's repository instead (--ref picks
a branch, tag or commit), and with --zip FILE it builds an uploaded ZIP of
the source tree; the build log streams to stderr while it builds. A build
that fails or is canceled exits non-zero with the reason.

Production or preview: every deploy from the command line (a folder, --git
or --zip) makes a preview with its own URL unless --prod is given; with
--prod it becomes the project's production as soon as it is ready. (Pushes,
by git push or a GitHub webhook, build the project's branch to production
and other branches as previews.)

A project set to be a Node.js app (` + "`projects update --kind app`" + `) is built on the
server from the folder's source: the folder goes up as a ZIP, without
node_modules and .git, as with --zip.

The deployment's URL is the last line on stdout.`,
		Example: `  apogee deploy ./public --project my-site
  apogee deploy --project my-site --prod
  APOGEE_PROJECT=my-site apogee deploy dist --json
  apogee deploy --project my-site --git --ref feature-x
  apogee deploy --project my-site --zip site.zip`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			dir := "."
			if len(argv) == 1 {
				dir = argv[0]
			}
			proj, err := project(projectFlag)
			if err != nil {
				return err
			}
			if build.active() {
				return a.deployBuild(cmd, argv, proj, prod, &build)
			}
			if build.ref != "" || build.noCache {
				return usageError(cmd, errors.New("--ref and --no-cache are for builds on the server: add --git or --zip"))
			}
			if prod && build.preview {
				return usageError(cmd, errors.New("--prod and --preview cannot be combined"))
			}
			if err := checkFolder(dir); err != nil {
				return err
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			o := a.output(cmd)
			target := deployTarget(prod)
			abs, _ := filepath.Abs(dir)
			if pv, err := c.GetProject(cmd.Context(), proj); err == nil && pv.Settings.App.Kind != nil && *pv.Settings.App.Kind == apogee.KindApp {
				// An app is built on the server from its source: the
				// folder goes up as a ZIP.
				zipPath, err := zipSource(dir)
				if err != nil {
					return &cliError{code: "invalid", msg: "cannot pack " + dir, err: err}
				}
				defer os.Remove(zipPath)
				o.Notef("%s is an app: building %s on the server\n", proj, abs)
				b := build
				b.zip = zipPath
				return a.deployBuild(cmd, nil, proj, prod, &b)
			}
			o.Notef("Deploying %s to %s (%s)\n", abs, proj, target)

			p := newDeployProgress(o, !a.json && isTerminal(o.err))
			start := time.Now()
			res, err := c.Deploy(cmd.Context(), dir, client.DeployOptions{
				Project:     proj,
				Production:  prod,
				Concurrency: concurrency,
				OnWarning:   func(msg string) { o.Warnf("%s\n", msg) },
				OnUpload:    p.start,
				OnProgress:  p.progress,
			})
			p.finish()
			if err != nil {
				return withHint(err, apogee.ENOTFOUND, "Create it with `apogee projects create "+proj+"`.")
			}
			if a.json {
				return o.JSON(res)
			}
			o.Notef("Ready in %s: %s, %s uploaded (%s).\n", time.Since(start).Round(10*time.Millisecond),
				plural(res.Files, "file", "files"), plural(res.Uploaded, "file", "files"), formatBytes(res.Bytes))
			if res.Production {
				if pv, err := c.GetProject(cmd.Context(), proj); err == nil {
					o.Notef("Production: %s\n", pv.URL)
				}
			}
			o.Notef("Inspect it with `apogee inspect %s`.\n", res.ID)
			o.Println(res.URL)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&projectFlag, "project", "p", "", "project to deploy to (default: $APOGEE_PROJECT)")
	f.BoolVar(&prod, "prod", false, "make the deployment production once it is ready (default: a preview)")
	f.IntVar(&concurrency, "concurrency", client.DefaultConcurrency, "files to upload at once")
	build.add(cmd)
	return cmd
}

// deployProgress shows upload progress on stderr: a bar on a terminal,
// plain lines otherwise, nothing with --json.
type deployProgress struct {
	o   *output
	bar *progressbar.ProgressBar // nil unless on a terminal
	tty bool
}

func newDeployProgress(o *output, tty bool) *deployProgress {
	return &deployProgress{o: o, tty: tty}
}

// start is called (serialized by the client) before each round of uploads.
func (p *deployProgress) start(files int, bytes int64) {
	if files == 0 {
		p.o.Notef("Nothing to upload: the server has every file already.\n")
		return
	}
	p.o.Notef("Uploading %s (%s)…\n", plural(files, "file", "files"), formatBytes(bytes))
	if !p.tty {
		return
	}
	if p.bar != nil {
		p.bar.Finish()
	}
	p.bar = progressbar.NewOptions64(bytes,
		progressbar.OptionSetWriter(p.o.err),
		progressbar.OptionShowBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetPredictTime(true),
	)
}

func (p *deployProgress) progress(done, total int64) {
	if p.bar == nil {
		return
	}
	// done and total count every round; the bar shows the current one.
	_ = p.bar.Set64(done - (total - p.bar.GetMax64()))
}

func (p *deployProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}

// deployTarget is the one rule of every `apogee deploy`, of a folder, with
// --git or with --zip: a preview unless --prod.
func deployTarget(prod bool) string {
	if prod {
		return apogee.TargetProduction
	}
	return apogee.TargetPreview
}

// checkFolder fails with advice when dir is not a folder to deploy.
func checkFolder(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &cliError{code: "invalid", msg: fmt.Sprintf("folder %s does not exist", dir),
			hint: "Check the path, or build your site first (for example `npm run build`) and deploy the folder the build wrote."}
	case err != nil:
		return &cliError{code: "invalid", msg: "cannot read " + dir, err: err}
	case !st.IsDir() && strings.EqualFold(filepath.Ext(dir), ".zip"):
		return &cliError{code: "invalid", msg: dir + " is a file, not a folder",
			hint: "To build a ZIP of your source on the server, pass it with --zip: `apogee deploy --zip " + dir + "`."}
	case !st.IsDir():
		return &cliError{code: "invalid", msg: dir + " is a file, not a folder", hint: "Pass the folder that holds your site."}
	}
	return nil
}
