package dashboard

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
)

// TestFailedBuildLog: a failed build's page names the failing step and
// its reason, shows the step's last lines, opens the log at the first
// error line, renders terminal colours as escaped spans with a time per
// line, and offers the log as a text file without colours.
func TestFailedBuildLog(t *testing.T) {
	e := newEnv(t, SignupClosed)
	p, _, _ := e.project(e.alice, "web")
	d := e.building(p)
	w := logs.NewWriter(d.ID, e.store, e.hub, logs.Options{})
	out, errw := w.Stream(apogee.StreamStdout), w.Stream(apogee.StreamStderr)
	w.Systemf("Installing: npm ci")
	io.WriteString(errw, "npm warn deprecated inflight@1.0.6\n")
	io.WriteString(out, "added 120 packages\n")
	w.Systemf("Building: npm run build")
	io.WriteString(out, "\x1b[36mvite v5.4.0\x1b[39m building for production...\n")
	io.WriteString(out, "transforming <App>...\n")
	io.WriteString(errw, "\x1b[31merror\x1b[39m during build:\n")
	io.WriteString(errw, "src/main.ts(3,1): error TS2304: Cannot find name 'foo'.\n")
	w.Systemf("Building finished in 1.2s (exit code 1)")
	w.Systemf("Build failed: `npm run build` exited with code 1")
	out.Close()
	errw.Close()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.EndBuild(context.Background(), d.ID, apogee.StatusError, "`npm run build` exited with code 1", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	lines, err := e.store.Logs(context.Background(), d.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := e.signedIn(e.alice)
	page := b.get("/deployments/" + d.ID)
	want(t, "failed page", page, 200,
		`Build failed at <span class="mono">Building: npm run build</span>`,
		"`npm run build` exited with code 1",
		`<span class="ansi-fg-6">vite v5.4.0</span> building for production...`,
		"transforming &lt;App&gt;...",
		`href="/deployments/`+d.ID+`/log.txt"`,
		`<time datetime="`+lines[0].Time.UTC().Format("2006-01-02T15:04:05.000Z07:00")+`">`+lines[0].Time.UTC().Format("15:04:05")+`</time>`,
		`data-first-error="7"`)
	// The first error is the step's "error during build" (line 7), not
	// npm's warning in the install (line 2).
	if m := regexp.MustCompile(`<div class="line stderr first-error" data-seq="(\d+)" id="first-error">`).FindStringSubmatch(page.body); m == nil || m[1] != "7" {
		t.Fatalf("the first error line is not line 7: %v\n%.3000s", m, page.body)
	}
	// The summary's tail is the build step's output, not the install's.
	summary := page.body[strings.Index(page.body, `class="card failure"`):strings.Index(page.body, `id="log"`)]
	if !strings.Contains(summary, "Cannot find name") || strings.Contains(summary, "added 120 packages") {
		t.Fatalf("summary:\n%s", summary)
	}

	txt := b.get("/deployments/" + d.ID + "/log.txt")
	want(t, "log.txt", txt, 200, "stdout vite v5.4.0 building for production...", "stderr error during build:",
		lines[0].Time.UTC().Format("2006-01-02T15:04:05.000Z")+" system Installing: npm ci")
	if strings.Contains(txt.body, "\x1b") || !strings.Contains(txt.header.Get("Content-Disposition"), `attachment; filename="web-`+d.ID+`.log"`) ||
		!strings.HasPrefix(txt.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("log.txt: %v\n%s", txt.header, txt.body)
	}
	want(t, "another's log.txt", e.signedIn(e.bob).get("/deployments/"+d.ID+"/log.txt"), 404)
}

// TestLiveLogLineHTML: the dashboard's stream carries each line's HTML.
func TestLiveLogLineHTML(t *testing.T) {
	e := newEnv(t, SignupClosed)
	p, _, _ := e.project(e.alice, "web")
	d := e.building(p)
	b := e.signedIn(e.alice)
	req, _ := http.NewRequest("GET", e.srv.URL+"/deployments/"+d.ID+"/log", nil)
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	w := logs.NewWriter(d.ID, e.store, e.hub, logs.Options{})
	io.WriteString(w.Stream(apogee.StreamStdout), "\x1b[1m<b>bold</b>\x1b[0m\n")
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			if want := `"html":"\u003cspan class=\"ansi-bold\"\u003e\u0026lt;b\u0026gt;bold\u0026lt;/b\u0026gt;\u003c/span\u003e"`; !strings.Contains(sc.Text(), want) {
				t.Fatalf("line event %s lacks %s", sc.Text(), want)
			}
			break
		}
	}
	w.Close(context.Background())
}

func TestFailureOf(t *testing.T) {
	mk := func(stream, text string) apogee.LogLine { return apogee.LogLine{Stream: stream, Text: text} }
	for _, tc := range []struct {
		name       string
		lines      []apogee.LogLine
		step       string
		firstError int64
		tail       int
	}{
		{"no output at all", []apogee.LogLine{mk("system", "Cloning"), mk("system", "Build failed: x")}, "", 2, 0},
		{"an error word in the step", []apogee.LogLine{mk("system", "Building: make"), mk("stdout", "0 errors so far"), mk("stdout", "ok"),
			mk("stderr", "make: *** [all] Error 2")}, "Building: make", 4, 3},
		{"no error word: the step's output", []apogee.LogLine{mk("system", "Installing: npm ci"), mk("stdout", "a"), mk("system", "Building: x"),
			mk("stdout", "first"), mk("stdout", "last")}, "Building: x", 4, 2},
		{"ERR! of npm", []apogee.LogLine{mk("system", "Installing: npm ci"), mk("stderr", "npm ERR! code ERESOLVE")}, "Installing: npm ci", 2, 1},
		{"a word that holds error is none", []apogee.LogLine{mk("system", "Building: x"), mk("stdout", "terrorform"), mk("stdout", "Failed to compile.")}, "Building: x", 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range tc.lines {
				tc.lines[i].Seq = int64(i + 1)
			}
			view := logView(tc.lines)
			f := failureOf("reason", view)
			if f.Step != tc.step || f.FirstError != tc.firstError || len(f.Tail) != tc.tail {
				t.Fatalf("got step %q first error %d tail %d, want %q %d %d", f.Step, f.FirstError, len(f.Tail), tc.step, tc.firstError, tc.tail)
			}
			if !view[tc.firstError-1].FirstError {
				t.Error("the first error line is not marked")
			}
		})
	}
}
