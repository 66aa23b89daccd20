package appwatch_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/apps/runtimetest"
	"github.com/apogee-dev/apogee/internal/appwatch"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/logs"
	"github.com/apogee-dev/apogee/internal/notify"
	"github.com/apogee-dev/apogee/internal/runtimelog"
	"github.com/apogee-dev/apogee/internal/sandbox"
	"github.com/apogee-dev/apogee/internal/secretbox"
	"github.com/apogee-dev/apogee/internal/supervisor"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// TestCrashReachesItsPeople runs real Node apps that crash, through the
// supervisor, the watcher, the bus and the notifier, to the project's
// webhook and its runtime log: one that exits with code 1 (on the host),
// and one the kernel kills at its cgroup's memory limit (in bubblewrap,
// the default sandbox), whose reason says so.
func TestCrashReachesItsPeople(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("this test needs Node.js: apt-get install nodejs")
	}
	for _, tc := range []struct {
		name, mode string
		launcher   func(t *testing.T) supervisor.Launcher
		limits     apps.Limits
		reason     string
	}{
		{"exit", "exit", func(*testing.T) supervisor.Launcher { return supervisor.Host{} }, apps.Limits{}, "exited with code 1"},
		{"oom", "oom", func(t *testing.T) supervisor.Launcher {
			sb, err := sandbox.New("bwrap", sandbox.WithLogger(testbed.Quiet), sandbox.WithCgroupParent("apogee-test/appwatch"))
			if err != nil {
				t.Fatalf("sandbox bwrap: %v (apt-get install bubblewrap)", err)
			}
			return supervisor.Sandboxed{Sandbox: sb}
		}, apps.Limits{MemoryBytes: 128 << 20}, "killed: out of memory (limit 128 MiB)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			st := testbed.Store(t, t.TempDir())
			u := &apogee.User{ID: apogee.NewID(), Email: "ada@example.com", Password: "x", CreatedAt: time.Now()}
			p := &apogee.Project{ID: apogee.NewID(), Name: "api", OwnerID: u.ID, CreatedAt: time.Now()}
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			if err := st.CreateProject(ctx, p); err != nil {
				t.Fatal(err)
			}
			got := make(chan []byte, 16)
			rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got <- b
			}))
			defer rcv.Close()
			box := secretbox.NewRandom()
			h := &apogee.Webhook{ID: apogee.NewID(), ProjectID: p.ID, URL: rcv.URL, Events: []string{apogee.NotifyAppCrashed}}
			h.Secret = box.Seal("s3cret-s3cret-s3cret", apogee.WebhookSecretPurpose(p.ID, h.ID))
			if err := st.CreateWebhook(ctx, h); err != nil {
				t.Fatal(err)
			}

			bus := events.NewLocal(testbed.Quiet)
			sender := notify.NewSender(notify.SenderConfig{Store: st, Box: box, AllowPrivate: true, Log: testbed.Quiet})
			n, err := notify.New(notify.Config{Store: st, Bus: bus, Webhooks: sender, Log: testbed.Quiet})
			if err != nil {
				t.Fatal(err)
			}
			hub := logs.NewHub(0)
			lw := runtimelog.NewWriter(st, hub, runtimelog.Options{Log: testbed.Quiet})
			w := appwatch.New(lw, appwatch.Options{Bus: bus, Log: testbed.Quiet})
			rctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for _, run := range []func(context.Context){sender.Run, func(ctx context.Context) { n.Run(ctx) }, w.Run} {
				wg.Go(func() { run(rctx) })
			}
			sup, err := supervisor.New(ctx, supervisor.Options{Launcher: tc.launcher(t), DataDir: t.TempDir(), Observer: w, Log: testbed.Quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				sup.Close(context.Background())
				lw.Close(context.Background())
				cancel()
				wg.Wait()
			}()
			// The notifier subscribes in its goroutine: it is listening once
			// a live subscription of the owner hears a probe.
			live := n.Subscribe(ctx, u.ID)
			for listening := false; !listening; {
				bus.Publish(ctx, apogee.Event{Type: apogee.EventAppDeployFailed, ProjectID: p.ID, Reason: "probe"})
				select {
				case <-live:
					listening = true
				case <-time.After(20 * time.Millisecond):
				}
			}

			if _, err := sup.Start(ctx, apps.Spec{Project: "api", Release: "r1", Dir: runtimetest.AppDir(t), Command: "exec node app.js",
				Env: []string{"MODE=" + tc.mode}, Limits: tc.limits, Health: apps.Health{BootTimeout: 30 * time.Second}}); err != nil {
				t.Fatal(err)
			}
			select {
			case body := <-got:
				if !strings.Contains(string(body), `"type": "app.crashed"`) && !strings.Contains(string(body), `"type":"app.crashed"`) ||
					!strings.Contains(string(body), tc.reason) {
					t.Errorf("webhook body %s, want app.crashed with %q", body, tc.reason)
				}
			case <-time.After(time.Minute):
				t.Fatal("no app.crashed webhook within a minute")
			}
			// The reason is in the runtime log too.
			deadline := time.Now().Add(10 * time.Second)
			for {
				lines, err := st.RuntimeLogs(ctx, p.ID, apogee.RuntimeLogQuery{Search: "crashed: " + tc.reason})
				if err != nil {
					t.Fatal(err)
				}
				if len(lines) > 0 {
					if lines[0].Stream != apogee.StreamSystem || lines[0].Instance == "" {
						t.Errorf("crash line %+v", lines[0])
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the runtime log has no crash line with the reason")
				}
				time.Sleep(20 * time.Millisecond) // polling the store: a condition, not a timing
			}
		})
	}
}
