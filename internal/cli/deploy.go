package cli

import (
	"errors"
	"path/filepath"
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
skipped, and so are symbolic links that lead outside the folder. With --prod
the deployment becomes the project's production as soon as it is ready.

With --git the server builds the project's repository instead (--ref picks
a branch, tag or commit), and with --zip FILE it builds an uploaded ZIP of
the source tree; the build log streams to stderr while it builds. A build
of the project's branch (or of a ZIP) goes to production unless --preview;
any other ref makes a preview unless --prod. A build that fails or is
canceled exits non-zero with the reason.

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
			if build.preview || build.ref != "" || build.noCache {
				return usageError(cmd, errors.New("--preview, --ref and --no-cache are for builds on the server: add --git or --zip"))
			}
			c, _, err := a.client()
			if err != nil {
				return err
			}
			o := a.output(cmd)
			target := apogee.TargetPreview
			if prod {
				target = apogee.TargetProduction
			}
			abs, _ := filepath.Abs(dir)
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
	f.BoolVar(&prod, "prod", false, "make the deployment production once it is ready")
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
