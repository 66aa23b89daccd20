package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/ansi"
	"github.com/apogee-dev/apogee/internal/client"
)

// buildFlags are the flags of `apogee deploy` that make the platform
// build instead of uploading a folder.
type buildFlags struct {
	git     bool   // --git: build from the project's repository
	zip     string // --zip FILE: build from an uploaded ZIP
	ref     string // --ref BRANCH|TAG|SHA
	noCache bool   // --no-cache
	preview bool   // --preview
	quiet   bool   // --quiet: no log on stderr
}

func (b *buildFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&b.git, "git", false, "build on the server from the project's Git repository")
	f.StringVar(&b.zip, "zip", "", "build on the server from a ZIP of the source tree")
	f.StringVar(&b.ref, "ref", "", "with --git: branch, tag or commit to build (default: the project's branch)")
	f.BoolVar(&b.noCache, "no-cache", false, "for a build on the server (a source folder, --git, --zip): build without the dependency cache")
	f.BoolVar(&b.preview, "preview", false, "make a preview deployment (the default; the opposite of --prod)")
	f.BoolVarP(&b.quiet, "quiet", "q", false, "for a build on the server: do not stream the build log to stderr")
}

// active reports whether the flags ask for a build on the server.
func (b *buildFlags) active() bool { return b.git || b.zip != "" }

// deployBuild runs `apogee deploy --git|--zip`: queue the build (after
// uploading the ZIP), stream its log to stderr, and print the URL as the
// last line, or fail with the build's reason.
func (a *app) deployBuild(cmd *cobra.Command, argv []string, proj string, prod bool, b *buildFlags) error {
	switch {
	case len(argv) > 0:
		return usageError(cmd, errors.New("a folder and --git or --zip cannot be combined: the server builds from the repository or the ZIP"))
	case b.git && b.zip != "":
		return usageError(cmd, errors.New("--git and --zip cannot be combined"))
	case prod && b.preview:
		return usageError(cmd, errors.New("--prod and --preview cannot be combined"))
	case b.zip != "" && b.ref != "":
		return usageError(cmd, errors.New("--ref is for --git; a ZIP has no branches"))
	}
	req := apogee.BuildRequest{Ref: b.ref, NoCache: b.noCache, Target: deployTarget(prod)}
	c, _, err := a.client()
	if err != nil {
		return err
	}
	o := a.output(cmd)
	ctx := cmd.Context()
	if b.zip != "" {
		id, err := a.uploadZip(ctx, o, c, proj, b.zip)
		if err != nil {
			return err
		}
		req.UploadID = id
	}
	d, err := c.QueueBuild(ctx, proj, req)
	if err != nil {
		err = withHint(err, apogee.EINVALID, "Connect a repository with `apogee projects create "+proj+" --git URL`, or deploy a ZIP with --zip FILE.")
		return projectHint(err)
	}
	what := "branch " + orDash(d.Branch)
	if d.Commit != "" {
		what = "commit " + d.Commit
	}
	if d.Source == apogee.SourceZip {
		what = filepath.Base(b.zip)
	}
	o.Notef("Queued build %s of %s (%s, %s).\n", d.ID, proj, what, d.Target)
	return a.followBuild(ctx, o, c, d, b.quiet)
}

// followBuild streams a queued build's log to stderr (unless quiet) and
// prints the URL as the last line once it is ready, or fails with the
// build's reason.
func (a *app) followBuild(ctx context.Context, o *output, c *client.Client, d *apogee.DeploymentView, quiet bool) error {
	start := time.Now()
	lw := newLogPrinter(o.err)
	status, err := c.FollowLogs(ctx, d.ID, 0, func(l apogee.LogLine) error {
		if !quiet {
			lw.print(l)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintf(o.err, "Stopped following; build %s goes on on the server. Cancel it with `apogee cancel %s`.\n", d.ID, d.ID)
		}
		return err
	}
	final, err := c.GetDeployment(context.WithoutCancel(ctx), d.ID)
	if err != nil {
		return err
	}
	if final.Status != apogee.StatusReady {
		if a.json {
			_ = o.JSON(final)
			return &reported{err: buildFailure(final, status)}
		}
		return buildFailure(final, status)
	}
	if a.json {
		return o.JSON(final)
	}
	o.Notef("Ready in %s: %s (%s).\n", time.Since(start).Round(10*time.Millisecond), plural(final.Files, "file", "files"), formatBytes(final.Size))
	if final.Production {
		if pv, err := c.GetProject(ctx, final.Project); err == nil {
			o.Notef("Production: %s\n", pv.URL)
		}
	}
	o.Println(final.URL)
	return nil
}

// buildFailure is the error of a build that ended without a deployment.
func buildFailure(d *apogee.DeploymentView, status apogee.Status) error {
	if status == "" {
		status = d.Status
	}
	reason := d.Error
	if reason == "" {
		reason = "no reason recorded"
	}
	code, verb := "build_failed", "failed"
	if status == apogee.StatusCanceled {
		code, verb = "build_canceled", "was canceled"
	}
	return &cliError{
		code: code,
		msg:  fmt.Sprintf("build %s %s: %s", d.ID, verb, reason),
		hint: fmt.Sprintf("See its whole log with `apogee logs %s`.", d.ID),
	}
}

// uploadZip sends the ZIP at path to a new pre-signed upload of proj and
// returns the upload's id. A progress bar shows on a terminal.
func (a *app) uploadZip(ctx context.Context, o *output, c *client.Client, proj, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", &cliError{code: "invalid", msg: "cannot read the ZIP", err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", &cliError{code: "invalid", msg: "cannot read the ZIP", err: err}
	}
	if !st.Mode().IsRegular() {
		return "", &cliError{code: "invalid", msg: path + " is not a file", hint: "Pass --zip with the path of a .zip file."}
	}
	up, err := c.CreateUpload(ctx, proj)
	if err != nil {
		return "", projectHint(err)
	}
	o.Notef("Uploading %s (%s)…\n", filepath.Base(path), formatBytes(st.Size()))
	var body io.Reader = f
	var bar *progressbar.ProgressBar
	if !a.json && isTerminal(o.err) {
		bar = progressbar.NewOptions64(st.Size(),
			progressbar.OptionSetWriter(o.err),
			progressbar.OptionShowBytes(true),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetPredictTime(true),
		)
		body = io.TeeReader(f, bar)
	}
	err = c.PutUpload(ctx, up.UploadURL, body, st.Size())
	if bar != nil {
		_ = bar.Finish()
	}
	if err != nil {
		return "", withHint(err, apogee.ETOOLARGE, "Leave node_modules and build output out of the ZIP.")
	}
	return up.ID, nil
}

// logPrinter prints log lines for people: the build's own output as it
// is, the platform's lines after "==> ". Terminal colours stay on a
// terminal (unless NO_COLOR is set) and are stripped elsewhere.
type logPrinter struct {
	w     io.Writer
	color bool
}

func newLogPrinter(w io.Writer) *logPrinter {
	return &logPrinter{w: w, color: isTerminal(w) && os.Getenv("NO_COLOR") == ""}
}

func (p *logPrinter) print(l apogee.LogLine) {
	text := l.Text
	if !p.color {
		text = ansi.Strip(text)
	}
	if l.Stream == apogee.StreamSystem {
		fmt.Fprintf(p.w, "==> %s\n", text)
		return
	}
	fmt.Fprintln(p.w, text)
}

func newCancelCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a queued or running build",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			d, err := c.Cancel(cmd.Context(), argv[0])
			if err != nil {
				err = withHint(err, apogee.ECONFLICT, "Only queued and building deployments can be canceled; see its status with `apogee inspect "+argv[0]+"`.")
				return withHint(err, apogee.ENOTFOUND, "List deployments with `apogee deployments list --project NAME`.")
			}
			o := a.output(cmd)
			if a.json {
				return o.JSON(d)
			}
			o.Printf("Canceled build %s of %s.\n", d.ID, d.Project)
			return nil
		},
	}
}

func newRedeployCmd(a *app) *cobra.Command {
	var noCache, quiet bool
	cmd := &cobra.Command{
		Use:   "redeploy ID",
		Short: "Build a Git deployment's commit again, with its branch and target",
		Long: "Queues a new deployment of the same commit, branch and target as deployment ID, built with the\n" +
			"project's current settings and variables, streams its log and prints its URL as the last line.",
		Example: "  apogee redeploy jdxdnsq6zx4q\n  apogee redeploy jdxdnsq6zx4q --no-cache --json",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			o := a.output(cmd)
			d, err := c.Redeploy(cmd.Context(), argv[0], noCache)
			if err != nil {
				return withHint(err, apogee.ENOTFOUND, "List deployments with `apogee deployments list --project NAME`.")
			}
			o.Notef("Queued build %s of %s (commit %s, %s).\n", d.ID, d.Project, d.Commit, d.Target)
			return a.followBuild(cmd.Context(), o, c, d, quiet)
		},
	}
	cmd.Flags().BoolVar(&noCache, "no-cache", false, "build without the dependency cache")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "do not stream the build log to stderr")
	return cmd
}

// shortError cuts a deployment's error for a table cell.
func shortError(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 60 {
		return string(r[:59]) + "…"
	}
	return s
}
