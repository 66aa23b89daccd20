package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/runtimelog"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// TestRuntimeLogsCommand: `apogee logs --runtime` prints the newest lines
// of an app's log, filtered, as text or JSON, and follows it live.
func TestRuntimeLogsCommand(t *testing.T) {
	st, hub := buildAPI(t)
	p, err := st.ProjectByName(t.Context(), "web")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Add(-2 * time.Hour)
	var lines []apogee.LogLine
	for i := range 150 {
		inst := []string{"aaaaaaaaaaaa", "bbbbbbbbbbbb"}[i%2]
		lines = append(lines, apogee.LogLine{Time: t0.Add(time.Duration(i) * 30 * time.Second), Stream: "stdout", Instance: inst, Text: fmt.Sprint("request ", i)})
	}
	lines = append(lines, apogee.LogLine{Time: t0.Add(75 * time.Minute), Stream: "system", Instance: "aaaaaaaaaaaa", Text: "crashed: exited with code 1; restarting now"})
	if _, _, err := st.AppendRuntimeLogs(t.Context(), p.ID, lines); err != nil {
		t.Fatal(err)
	}

	r := run(t, "", "logs", "--runtime", "--project", "web").ok(t)
	out := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(out) != 100 || !strings.HasSuffix(out[99], " aaaaaaaaaaaa system crashed: exited with code 1; restarting now") ||
		!strings.HasPrefix(out[98], t0.Add(149*30*time.Second).Format("2006-01-02T15:04:05.000Z")+" bbbbbbbbbbbb stdout request 149") {
		t.Errorf("the newest 100 lines:\n%s", strings.Join(out[95:], "\n"))
	}
	if !strings.Contains(r.stderr, "Older lines are left out") {
		t.Errorf("no note of the lines left out: %q", r.stderr)
	}

	// --project alone means the runtime log; filters; -n.
	r = run(t, "", "logs", "--project", "web", "--instance", "bbbbbbbbbbbb", "--search", "REQUEST 1", "-n", "3").ok(t)
	if got := strings.Count(r.stdout, "\n"); got != 3 || !strings.Contains(r.stdout, "request 145") || strings.Contains(r.stdout, "aaaaaaaaaaaa") {
		t.Errorf("filtered:\n%s", r.stdout)
	}
	r = run(t, "", "logs", "--runtime", "--project", "web", "--since", "45m15s", "--json").ok(t)
	v := oneJSON(t, r.stdout)
	if got := len(v["lines"].([]any)); got != 1 || v["last_seq"].(float64) != 151 {
		t.Errorf("--since 45m15s --json: %d lines, %v", got, v)
	}
	r = run(t, "", "logs", "--runtime", "--project", "web", "--search", "no such text")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "No runtime log lines of web match") {
		t.Errorf("no match: %+v", r)
	}

	// Bad input says what to do.
	for _, c := range []struct {
		argv []string
		want string
	}{
		{[]string{"logs", "--runtime", "--project", "web", "--since", "yesterday"}, "duration before now"},
		{[]string{"logs", "--runtime", "--project", "nosuch"}, "apogee projects list"},
		{[]string{"logs", "--runtime", "abc123", "--project", "web"}, "not a deployment id"},
		{[]string{"logs", "abc123", "--since", "1h"}, "--since is for runtime logs"},
		{[]string{"logs"}, "--runtime --project NAME"},
		{[]string{"logs", "--runtime", "--project", "web", "-n", "0"}, "1 to 10000"},
	} {
		r := run(t, "", c.argv...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: code %d, stderr %q; want it to say %q", c.argv, r.code, r.stderr, c.want)
		}
	}

	// -f: the newest lines, then live ones, until --until passes.
	w := runtimelog.NewWriter(st, hub, runtimelog.Options{Log: testbed.Quiet})
	defer w.Close(context.Background())
	until := time.Now().Add(2 * time.Second)
	done := make(chan result, 1)
	go func() {
		done <- run(t, "", "logs", "--runtime", "--project", "web", "-f", "-n", "1", "--json", "--until", until.Format(time.RFC3339Nano))
	}()
	// The follower is live once its request is in; lines written before
	// it subscribed are replayed, so nothing is lost either way.
	w.Add("web", apogee.LogLine{Time: time.Now(), Stream: "stderr", Instance: "aaaaaaaaaaaa", Text: "live one"})
	w.Add("web", apogee.LogLine{Time: until.Add(time.Millisecond), Stream: "stdout", Instance: "aaaaaaaaaaaa", Text: "past the end"}) // out of range
	select {
	case r := <-done:
		r.ok(t)
		var got []string
		for _, s := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			var l apogee.LogLine
			if err := json.Unmarshal([]byte(s), &l); err != nil {
				t.Fatalf("not JSON lines: %q", r.stdout)
			}
			got = append(got, l.Text)
		}
		if strings.Join(got, "|") != "live one" && strings.Join(got, "|") != "crashed: exited with code 1; restarting now|live one" {
			t.Errorf("followed %q", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("logs -f did not end within 30s of --until")
	}
}
