package kuberuntime

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/apogee-dev/apogee/internal/appproxy"
	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/apps/runtimetest"
	"github.com/apogee-dev/apogee/internal/ociimage"
)

// TestRuntimeSuite runs the shared runtime suite on a real API server,
// the cluster's other parts played by standIn (a kubelet that runs each
// pod's container in a bwrap sandbox from the image the runtime pushed).
// Each suite test gets a namespace of its own with the RBAC the docs
// ship; the runtime talks as the user that RBAC binds.
//
// What the suite cannot ask of Kubernetes (runtimetest.Caps):
//   - OneStream: the pod log API merges stdout and stderr;
//   - WholeSeconds: probe timeouts and periods are whole seconds;
//   - no Limits: a pod has no process limit of its own (the kubelet's
//     podPidsLimit is the node's), so the fork bomb case does not apply.
func TestRuntimeSuite(t *testing.T) {
	admin, user := apiServer(t)
	si := newStandIn(t, admin)
	n := 0
	runtimetest.Run(t, runtimetest.Caps{Isolated: true, OneStream: true, WholeSeconds: true}, func(t *testing.T, obs apps.Observer) apps.Runtime {
		n++
		space := fmt.Sprintf("suite-%d", n)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: space}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		applyRBAC(t, admin, space)
		r, err := New(ctx, Options{
			Client: user, Namespace: space, Observer: obs, Dial: si.Dial, Metrics: si.mc,
			Images: &ImageBuilder{Builder: &ociimage.Builder{Base: si.baseRef()}, Repository: si.reg + "/apogee"},
		})
		if err != nil {
			t.Fatal(err)
		}
		return r
	})
}

// TestReleaseCommandJob runs release commands as Jobs on a real API
// server (the stand-in plays the Job controller and the kubelet): the
// output comes back, the release's variables are there, a failure is an
// exit code, and the Job is gone afterwards.
func TestReleaseCommandJob(t *testing.T) {
	admin, user := apiServer(t)
	si := newStandIn(t, admin)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := New(ctx, Options{Client: user, Namespace: ns, Dial: si.Dial, Metrics: si.mc,
		Images: &ImageBuilder{Builder: &ociimage.Builder{Base: si.baseRef()}, Repository: si.reg + "/apogee"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	dir := runtimetest.AppDir(t)
	for _, tc := range []struct {
		name, command string
		code          int
		out           string
	}{
		{"ok", `echo "migrating $DATABASE_URL in $PWD"`, 0, "migrating postgres://db/app in /workspace\n"},
		{"fails", `echo "no database" >&2; exit 3`, 3, "no database\n"},
		{"not found", `no-such-migrate`, 127, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := apps.Spec{Project: "web", Release: "r" + strings.ReplaceAll(tc.name, " ", ""), Dir: dir, Command: "node app.js",
				Env: []string{"DATABASE_URL=postgres://db/app"}}
			var out strings.Builder
			res, err := r.RunRelease(ctx, s, tc.command, time.Minute, &out)
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != tc.code || res.Reason != "exited" || !strings.Contains(out.String(), tc.out) {
				t.Errorf("result %+v, output %q; want code %d and %q", res, out.String(), tc.code, tc.out)
			}
			job := ReleaseName(s.Project, s.Release) + "-release"
			if _, err := admin.BatchV1().Jobs(ns).Get(ctx, job, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("job %s after the run: %v", job, err)
			}
		})
	}
}

// TestManagerOnAPIServer runs apps.Manager (what apphost drives) on the
// Kubernetes runtime against a real API server, pods run by the
// stand-in kubelet: a release whose pods get ready goes live and serves
// through the edge's proxy; a release whose app answers 500 is refused
// with the kubelet's reason, and production stays on the release that
// served; a good release then replaces it, and the old release's
// objects leave the cluster.
func TestManagerOnAPIServer(t *testing.T) {
	admin, user := apiServer(t)
	si := newStandIn(t, admin)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rt, err := New(ctx, Options{Client: user, Namespace: ns, Dial: si.Dial, Metrics: si.mc,
		Images: &ImageBuilder{Builder: &ociimage.Builder{Base: si.baseRef()}, Repository: si.reg + "/apogee"}})
	if err != nil {
		t.Fatal(err)
	}
	m := apps.NewManager(rt, appproxy.New(appproxy.Options{}), apps.ManagerOptions{KeepWarm: 0})
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		m.Close(cctx)
		rt.Close(cctx)
	}()
	dir := runtimetest.AppDir(t)
	spec := func(release string, env ...string) apps.Spec {
		return apps.Spec{Project: "web", Release: release, Dir: dir, Command: "exec node app.js", Env: env,
			Health:  apps.Health{BootTimeout: 5 * time.Second, Interval: time.Second, Timeout: time.Second},
			Restart: apps.Restart{StopGrace: 2 * time.Second}}
	}
	if err := m.Prepare(ctx, apps.Release{Spec: spec("r1", "GREETING=one"), Instances: 2}); err != nil {
		t.Fatalf("prepare r1: %v", err)
	}
	if err := m.Switch(ctx, "web", "r1"); err != nil {
		t.Fatal(err)
	}
	if d, err := admin.AppsV1().Deployments(ns).Get(ctx, ReleaseName("web", "r1"), metav1.GetOptions{}); err != nil || *d.Spec.Replicas != 2 {
		t.Fatalf("r1's Deployment: %v", err)
	}
	for _, in := range m.Instances("r1") {
		if code, body, err := get(ctx, in); err != nil || code != 200 || body != "hello from one\n" {
			t.Errorf("instance %s: %d %q %v", in.ID(), code, body, err)
		}
	}
	err = m.Prepare(ctx, apps.Release{Spec: spec("r2", "MODE=health500"), Instances: 1})
	if err == nil || !strings.Contains(err.Error(), "GET / answered 500") {
		t.Fatalf("a release answering 500 was not refused with the kubelet's reason: %v", err)
	}
	if cur := m.Current("web"); cur != "r1" {
		t.Errorf("production serves %q, want r1", cur)
	}
	if err := m.Prepare(ctx, apps.Release{Spec: spec("r3", "GREETING=three"), Instances: 1}); err != nil {
		t.Fatalf("prepare r3: %v", err)
	}
	if err := m.Switch(ctx, "web", "r3"); err != nil {
		t.Fatal(err)
	}
	for _, release := range []string{"r1", "r2"} {
		w, err := admin.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := admin.AppsV1().Deployments(ns).Get(ctx, ReleaseName("web", release), metav1.GetOptions{}); apierrors.IsNotFound(err) {
				break
			}
			select {
			case <-w.ResultChan():
			case <-ctx.Done():
				t.Fatalf("the Deployment of %s is still there", release)
			}
		}
		w.Stop()
	}
}

func get(ctx context.Context, in apps.Instance) (int, string, error) {
	c := &http.Client{Transport: &http.Transport{
		DialContext:       func(ctx context.Context, _, _ string) (net.Conn, error) { return in.Dial(ctx) },
		DisableKeepAlives: true,
	}, Timeout: 10 * time.Second}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://instance/", nil)
	res, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}
