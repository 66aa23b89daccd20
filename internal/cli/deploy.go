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
	var prod, prebuilt bool
	var concurrency int
	var build buildFlags
	cmd := &cobra.Command{
		Use:   "deploy [DIR]",
		Short: "Deploy a folder; prints the deployment's URL as the last line",
		Long: `Deploy sends a folder to a project as a new, immutable deployment.

A folder that is a project's source (a framework Apogee detects, such as
Vite, Next.js or Astro, a package.json with a build script, or a Node.js
app) is uploaded as source and built on the server, like "vercel deploy":
the build log streams to stderr while it builds. node_modules, .git, and
what .gitignore and .apogeeignore files exclude are never uploaded. Any
other folder (plain HTML, or build output) is deployed as it is, and so is
a source folder with --prebuilt; there only .apogeeignore applies.

Either way only files the server does not have yet are uploaded, so a
redeploy with one changed file uploads one file. ".git" folders,
".DS_Store" files and symbolic links that lead outside the folder are
skipped.

With --git the server builds the project's repository instead (--ref picks
a branch, tag or commit), and with --zip FILE it builds an uploaded ZIP of
the source tree. A build that fails or is canceled exits non-zero with the
reason.

The project: --project, else $APOGEE_PROJECT, else the folder's link
(.apogee/project.json, written by "apogee link" and by the first deploy of
the folder with --project), so later deploys of the folder need none.

Production or preview: every deploy from the command line (a folder, --git
or --zip) makes a preview with its own URL unless --prod is given; with
--prod it becomes the project's production as soon as it is ready. (Pushes,
by git push or a GitHub webhook, build the project's branch to production
and other branches as previews.)

A project set to be a Node.js app (projects update --kind app) is always
built on the server from the folder's source, even without a build script.

The deployment's URL is the last line on stdout.`,
		Example: `  apogee deploy ./my-app --project my-app      # a source folder: built on the server
  apogee deploy                                 # again, from the linked folder
  apogee deploy ./dist --project my-site --prebuilt --prod
  APOGEE_PROJECT=my-site apogee deploy public --json
  apogee deploy --project my-site --git --ref feature-x
  apogee deploy --project my-site --zip site.zip`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			dir := "."
			if len(argv) == 1 {
				dir = argv[0]
			}
			if build.active() {
				if prebuilt {
					return usageError(cmd, errors.New("--prebuilt is for folders; --git and --zip build on the server"))
				}
				proj, err := project(projectFlag)
				if err != nil {
					return err
				}
				return a.deployBuild(cmd, argv, proj, prod, &build)
			}
			if build.ref != "" {
				return usageError(cmd, errors.New("--ref is for builds of the project's repository: add --git"))
			}
			if prod && build.preview {
				return usageError(cmd, errors.New("--prod and --preview cannot be combined"))
			}
			if err := checkFolder(dir); err != nil {
				return err
			}
			src := folderSource{}
			if !prebuilt {
				src = detectSource(dir)
			}
			proj, linked, err := a.deployProject(projectFlag, dir)
			if err != nil {
				return err
			}
			c, cfg, err := a.client()
			if err != nil {
				return err
			}
			o := a.output(cmd)
			target := deployTarget(prod)
			abs, _ := filepath.Abs(dir)
			if !src.build && !prebuilt {
				// A project set to be a Node.js app is always built on
				// the server from its source, even with no build script.
				if pv, err := c.GetProject(cmd.Context(), proj); err == nil && pv.Settings.App.Kind != nil && *pv.Settings.App.Kind == apogee.KindApp {
					src = folderSource{build: true, what: "a Node.js app"}
				}
			}
			if build.noCache && !src.build {
				return usageError(cmd, errors.New("--no-cache is for builds on the server, and this folder is deployed as it is"))
			}
			if src.build {
				o.Notef("Deploying the source of %s (%s) to %s (%s): the server builds it; --prebuilt deploys the folder as it is.\n", abs, src.what, proj, target)
			} else {
				o.Notef("Deploying %s to %s (%s)\n", abs, proj, target)
			}

			ig := newIgnorer(dir, src.build)
			p := newDeployProgress(o, !a.json && isTerminal(o.err))
			start := time.Now()
			res, err := c.Deploy(cmd.Context(), dir, client.DeployOptions{
				Project:     proj,
				Production:  prod,
				Build:       src.build,
				NoCache:     build.noCache,
				Skip:        ig.skip,
				Concurrency: concurrency,
				OnWarning:   func(msg string) { o.Warnf("%s\n", msg) },
				OnUpload:    p.start,
				OnProgress:  p.progress,
			})
			p.finish()
			if err != nil {
				return withHint(err, apogee.ENOTFOUND, "Create it with `apogee projects create "+proj+"`.")
			}
			if src.build {
				o.Notef("Uploaded the source: %s, %s sent (%s)%s.\n", plural(res.Files, "file", "files"),
					plural(res.Uploaded, "file", "files"), formatBytes(res.Bytes), skippedNote(ig.skipped))
				if !linked {
					a.linkAfterDeploy(o, dir, proj, res, cfg.Server)
				}
				o.Notef("Queued build %s of %s (%s).\n", res.ID, proj, target)
				return a.followBuild(cmd.Context(), o, c, res.Deployment, build.quiet)
			}
			if a.json {
				if !linked {
					a.linkAfterDeploy(o, dir, proj, res, cfg.Server)
				}
				return o.JSON(res)
			}
			o.Notef("Ready in %s: %s, %s uploaded (%s).\n", time.Since(start).Round(10*time.Millisecond),
				plural(res.Files, "file", "files"), plural(res.Uploaded, "file", "files"), formatBytes(res.Bytes))
			printRuleWarnings(o, res.RuleWarnings)
			if res.Production {
				if pv, err := c.GetProject(cmd.Context(), proj); err == nil {
					o.Notef("Production: %s\n", pv.URL)
				}
			}
			if !linked {
				a.linkAfterDeploy(o, dir, proj, res, cfg.Server)
			}
			o.Notef("Inspect it with `apogee inspect %s`.\n", res.ID)
			o.Println(res.URL)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&projectFlag, "project", "p", "", "project to deploy to (default: $APOGEE_PROJECT, then the folder's link)")
	f.BoolVar(&prod, "prod", false, "make the deployment production once it is ready (default: a preview)")
	f.BoolVar(&prebuilt, "prebuilt", false, "deploy the folder as it is, even if it is a project's source")
	f.IntVar(&concurrency, "concurrency", client.DefaultConcurrency, "files to upload at once")
	build.add(cmd)
	return cmd
}

// printRuleWarnings lists, one warning each, the rules of the routing
// files a deployment is made without, with file and line.
func printRuleWarnings(o *output, ws []apogee.RuleWarning) {
	if len(ws) == 0 {
		return
	}
	o.Notef("%s of the routing files skipped:\n", plural(len(ws), "rule", "rules"))
	for _, w := range ws {
		o.Warnf("%s\n", w)
	}
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
