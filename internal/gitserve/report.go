package gitserve

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
)

// A push's answer tells the person pushing what the platform does with
// it, Heroku-style: git http-backend's answer to git-receive-pack goes
// through a sideband filter that passes git's own progress on at once
// but holds its report-status (band 1) and the final flush. Once the
// moved branches are queued, each build's id and URL and then its log go
// to the client on the progress band (git prints them as "remote: "
// lines) until the build ends; then the report is sent, with the branch
// of a failed build changed from "ok" to "ng", so that git push exits
// non-zero. The branch has moved all the same: the report says so.
//
// Clients that did not ask for side-band-64k (or side-band) get git's
// answer untouched and no build output.

// BuildLogs follows a build for the person pushing.
type BuildLogs interface {
	// FollowBuild calls fn with each line of deployment id's log, stored
	// and then live, until the build ends or ctx ends, and returns the
	// deployment as it ended (its status, error and URL). ctx carries
	// the pusher.
	FollowBuild(ctx context.Context, id string, fn func(apogee.LogLine) error) (*apogee.DeploymentView, error)
}

// HubLogs is BuildLogs over a log store and hub (logs.Follow) and the
// deployment service, which reads the deployment as the pusher.
type HubLogs struct {
	Store interface {
		logs.Reader
		DeploymentByID(ctx context.Context, id string) (*apogee.Deployment, error)
	}
	Hub         *logs.Hub
	Deployments interface {
		Deployment(ctx context.Context, id string) (*apogee.DeploymentView, error)
	}
}

var _ BuildLogs = (*HubLogs)(nil)

// FollowBuild implements BuildLogs.
func (h *HubLogs) FollowBuild(ctx context.Context, id string, fn func(apogee.LogLine) error) (*apogee.DeploymentView, error) {
	status := logs.DeploymentStatus(h.Store, id)
	live := func(ctx context.Context) (bool, error) {
		s, err := status(ctx)
		return apogee.Building(s), err
	}
	err := logs.Follow(ctx, h.Store, h.Hub, id, 0, live, func(ls []apogee.LogLine) error {
		for _, l := range ls {
			if err := fn(l); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h.Deployments.Deployment(ctx, id)
}

// pushCaps reads the capabilities the client sent with the first command
// of a push, and returns a body that still holds everything it read.
// A gzip-encoded body is decoded (git http-backend takes both), so the
// caller must drop Content-Encoding when gzipped is true.
func pushCaps(body io.ReadCloser, encoding string) (caps map[string]bool, rest io.ReadCloser, gzipped bool, err error) {
	var r io.Reader = body
	if strings.EqualFold(encoding, "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, body, false, err
		}
		r, gzipped = zr, true
	}
	br := bufio.NewReaderSize(r, 65536)
	caps = map[string]bool{}
	if hdr, err := br.Peek(4); err == nil {
		if n, err := strconv.ParseUint(string(hdr), 16, 16); err == nil && n > 4 {
			if line, err := br.Peek(int(n)); err == nil {
				if _, list, ok := bytes.Cut(line[4:], []byte{0}); ok {
					for _, c := range strings.Fields(string(list)) {
						caps[c] = true
					}
				}
			}
		}
	}
	return caps, readCloser{br, body}, gzipped, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// maxBand is the most data one side-band-64k packet carries: 65520
// bytes, less the 4-byte length and the band byte.
const maxBand = 65520 - 5

// sideband is the http.ResponseWriter git http-backend writes its answer
// to a push through: band 2 and 3 packets go to the client at once,
// band 1 (the report-status) and the final flush are held.
type sideband struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	max    int // payload per packet: maxBand, or 1000-5 for side-band
	status int
	buf    []byte // bytes not parsed yet
	report []byte // band 1, held
	ended  bool   // the final flush arrived
	raw    bool   // not pkt-lines we understand: pass everything through
}

func newSideband(w http.ResponseWriter, small bool) *sideband {
	sb := &sideband{w: w, rc: http.NewResponseController(w), max: maxBand}
	if small {
		sb.max = 1000 - 5
	}
	return sb
}

func (sb *sideband) Header() http.Header { return sb.w.Header() }

func (sb *sideband) WriteHeader(status int) {
	sb.status = status
	if status != http.StatusOK {
		sb.raw = true
	}
	sb.w.WriteHeader(status)
}

func (sb *sideband) Write(p []byte) (int, error) {
	if sb.status == 0 {
		sb.WriteHeader(http.StatusOK)
	}
	if sb.raw {
		return sb.w.Write(p)
	}
	sb.buf = append(sb.buf, p...)
	for !sb.raw && len(sb.buf) >= 4 {
		n, err := strconv.ParseUint(string(sb.buf[:4]), 16, 16)
		switch {
		case err != nil || (n > 0 && n < 5) || sb.ended:
			// Not a band packet (or data after the end): give up
			// filtering, losing nothing.
			sb.passThrough()
			continue
		case n == 0:
			sb.ended = true
			sb.buf = sb.buf[4:]
			continue
		case len(sb.buf) < int(n):
			return len(p), nil
		}
		pkt := sb.buf[:n]
		if pkt[4] == 1 {
			sb.report = append(sb.report, pkt[5:]...)
		} else if _, err := sb.w.Write(pkt); err != nil {
			return 0, err
		} else {
			_ = sb.rc.Flush()
		}
		sb.buf = sb.buf[n:]
	}
	return len(p), nil
}

// passThrough stops filtering: what was held goes out as it came.
func (sb *sideband) passThrough() {
	sb.raw = true
	if len(sb.report) > 0 {
		sb.band(1, sb.report)
		sb.report = nil
	}
	if sb.ended {
		io.WriteString(sb.w, "0000")
	}
	sb.w.Write(sb.buf)
	sb.buf = nil
}

// band sends data on band b in as many packets as it takes.
func (sb *sideband) band(b byte, data []byte) {
	for len(data) > 0 {
		n := min(len(data), sb.max)
		fmt.Fprintf(sb.w, "%04x%c", n+5, b)
		sb.w.Write(data[:n])
		data = data[n:]
	}
	_ = sb.rc.Flush()
}

// say sends lines of progress, which git prints after "remote: ".
func (sb *sideband) say(format string, args ...any) {
	if sb.raw {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	sb.band(2, []byte(msg))
}

// finish sends the held report, with the branches of failed (ref →
// reason) turned from "ok" to "ng", and the final flush.
func (sb *sideband) finish(failed map[string]string) {
	if sb.raw {
		return
	}
	report := sb.report
	if len(failed) > 0 {
		report = rewriteReport(report, failed)
	}
	if len(report) > 0 {
		sb.band(1, report)
	}
	if sb.ended {
		io.WriteString(sb.w, "0000")
	}
	if len(sb.buf) > 0 {
		sb.w.Write(sb.buf)
	}
	_ = sb.rc.Flush()
}

// rewriteReport changes "ok REF" lines of a report-status (pkt-lines)
// into "ng REF reason" for the refs in failed. A report it cannot parse
// is returned as it is.
func rewriteReport(report []byte, failed map[string]string) []byte {
	var out bytes.Buffer
	rest := report
	for len(rest) >= 4 {
		n, err := strconv.ParseUint(string(rest[:4]), 16, 16)
		if err != nil || (n > 0 && n < 4) || int(n) > len(rest) {
			return report
		}
		if n == 0 {
			out.WriteString("0000")
			rest = rest[4:]
			continue
		}
		line := string(rest[4:n])
		rest = rest[n:]
		if ref, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "ok "); ok {
			if reason, bad := failed[ref]; bad {
				line = "ng " + ref + " " + reason + "\n"
			}
		}
		fmt.Fprintf(&out, "%04x%s", len(line)+4, line)
	}
	out.Write(rest)
	return out.Bytes()
}

// okRefs returns the refs a report-status (pkt-lines) says were updated.
func okRefs(report []byte) []string {
	var refs []string
	rest := report
	for len(rest) >= 4 {
		n, err := strconv.ParseUint(string(rest[:4]), 16, 16)
		if err != nil || (n > 0 && n < 4) || int(n) > len(rest) {
			return refs
		}
		if n == 0 {
			rest = rest[4:]
			continue
		}
		line := strings.TrimSuffix(string(rest[4:n]), "\n")
		rest = rest[n:]
		if ref, ok := strings.CutPrefix(line, "ok "); ok {
			refs = append(refs, ref)
		}
	}
	return refs
}

// report tells the person pushing about the builds their push queued and,
// with logs, follows each until it ends; it returns the refs whose build
// failed, with a short reason for git's "[remote rejected]".
//
// The log is printed whether or not the client asked for "quiet": git
// asks for it whenever its stderr is no terminal (and for push -q), and
// a build's log is the push's result, not git's progress.
func (s *Server) report(ctx context.Context, sb *sideband, p *apogee.Project, ds []*apogee.DeploymentView) map[string]string {
	failed := map[string]string{}
	for _, d := range ds {
		sb.say("Apogee: building %s of %s as deployment %s (%s)", d.Branch, p.Name, d.ID, d.Target)
		sb.say("Apogee: its URL once it is ready: %s", d.URL)
	}
	if s.cfg.Logs == nil {
		for _, d := range ds {
			sb.say("Apogee: follow the build with `apogee logs %s --follow`", d.ID)
		}
		return failed
	}
	for _, d := range ds {
		if len(ds) > 1 {
			sb.say("Apogee: the log of %s (%s):", d.ID, d.Branch)
		}
		end, err := s.cfg.Logs.FollowBuild(ctx, d.ID, func(l apogee.LogLine) error {
			if l.Stream == apogee.StreamSystem {
				sb.say("==> %s", l.Text)
			} else {
				sb.say("%s", l.Text)
			}
			return nil
		})
		ref := "refs/heads/" + d.Branch
		switch {
		case err != nil && ctx.Err() != nil:
			return failed // the client hung up; the builds go on
		case err != nil:
			s.log.Error("git push: follow the build", "project", p.Name, "deployment", d.ID, "err", err)
			sb.say("Apogee: cannot follow build %s here; see it with `apogee logs %s --follow`", d.ID, d.ID)
		case end.Skipped:
			// A monorepo's project the push did not touch, or its ignored
			// build step: not a failure.
			sb.say("Apogee: build %s of %s was skipped: %s", d.ID, d.Branch, end.Error)
		case end.Status == apogee.StatusReady:
			sb.say("Apogee: deployment %s of %s is ready: %s", d.ID, d.Branch, end.URL)
			if end.Production {
				if pv, err := s.cfg.Projects.Project(ctx, p.Name); err == nil {
					sb.say("Apogee: production: %s", pv.URL)
				}
			}
		default:
			reason := end.Error
			if reason == "" {
				reason = string(end.Status)
			}
			sb.say("Apogee: build %s of %s %s: %s", d.ID, d.Branch, verb(end.Status), reason)
			sb.say("Apogee: %s moved all the same; fix it and push again, or see the whole log with `apogee logs %s`", d.Branch, d.ID)
			failed[ref] = "build " + string(end.Status)
		}
	}
	return failed
}

func verb(s apogee.Status) string {
	if s == apogee.StatusCanceled {
		return "was canceled"
	}
	return "failed"
}
