package kuberuntime

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
