package kuberuntime

import (
	"context"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/apogee-dev/apogee/internal/appproxy"
	"github.com/apogee-dev/apogee/internal/apps"
)

// cluster plays a ReplicaSet controller and kubelets: it keeps as many
// pods of each Deployment as its replicas, and makes new pods of a
// release ready, or leaves them booting and, for a release in stuck,
// fails the rollout as the Deployment controller does at its deadline.
type cluster struct {
	t     *testing.T
	c     kubernetes.Interface
	k     *kubelet
	mu    sync.Mutex
	stuck map[string]bool
	ip    int
}

func (cl *cluster) run(ctx context.Context) {
	for ctx.Err() == nil {
		ds, _ := cl.c.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		for _, d := range ds.Items {
			cl.converge(ctx, &d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (cl *cluster) converge(ctx context.Context, d *appsv1.Deployment) {
	release := d.Labels[LabelRelease]
	sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels).String()
	pods, err := cl.c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return
	}
	live := 0
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			live++
		}
	}
	cl.mu.Lock()
	stuck := cl.stuck[release]
	cl.mu.Unlock()
	for ; live < int(ptr.Deref(d.Spec.Replicas, 1)); live++ {
		p := cl.k.pod(release)
		cl.ip++
		ip := "10.1.0." + string(rune('0'+cl.ip%10))
		cl.k.set(p.Name, running(ip, !stuck, 0))
	}
	if stuck && len(d.Status.Conditions) == 0 {
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
			Reason: "ProgressDeadlineExceeded", Message: "ReplicaSet has timed out progressing."}}
		cl.c.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	}
}

// TestManagerOnKubernetes runs apps.Manager, which apphost drives, on the
// Kubernetes runtime: a release whose pods get ready goes live; one
// whose rollout fails is refused and production stays on the release
// that served; a switch retires the old release's objects.
func TestManagerOnKubernetes(t *testing.T) {
	c := fake.NewClientset()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cl := &cluster{t: t, c: c, k: &kubelet{t: t, c: c}, stuck: map[string]bool{"r2": true}}
	go cl.run(ctx)
	rt := newRuntime(t, c, nil, false)
	m := apps.NewManager(rt, appproxy.New(appproxy.Options{}), apps.ManagerOptions{KeepWarm: 0})
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		m.Close(cctx)
		rt.Close(cctx)
	}()
	wait, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()

	if err := m.Prepare(wait, apps.Release{Spec: testSpec("r1"), Instances: 2}); err != nil {
		dump(t, rt, c)
		t.Fatalf("prepare r1: %v", err)
	}
	if err := m.Switch(wait, "web", "r1"); err != nil {
		t.Fatal(err)
	}
	if n := len(m.Instances("r1")); n != 2 || *deployment(t, c, "r1").Spec.Replicas != 2 {
		t.Fatalf("r1 runs %d instances, its Deployment %d replicas", n, *deployment(t, c, "r1").Spec.Replicas)
	}
	for _, in := range m.Instances("r1") {
		if !in.Ready() {
			t.Errorf("instance %s of the live release is not ready: %+v", in.ID(), in.Status())
		}
	}

	// A release whose rollout does not progress is refused, and its
	// instances are stopped; production stays on r1.
	err := m.Prepare(wait, apps.Release{Spec: testSpec("r2"), Instances: 1})
	if err == nil {
		t.Fatal("a release that never got ready was prepared")
	}
	t.Logf("r2 refused: %v", err)
	if cur := m.Current("web"); cur != "r1" {
		t.Errorf("production serves %q, want r1", cur)
	}

	// A good release goes live and the old one leaves the cluster.
	if err := m.Prepare(wait, apps.Release{Spec: testSpec("r3"), Instances: 1}); err != nil {
		dump(t, rt, c)
		t.Fatalf("prepare r3: %v", err)
	}
	if err := m.Switch(wait, "web", "r3"); err != nil {
		t.Fatal(err)
	}
	for _, release := range []string{"r1", "r2"} {
		for {
			_, err := c.AppsV1().Deployments(ns).Get(wait, ReleaseName("web", release), metav1.GetOptions{})
			if err != nil {
				break
			}
			if wait.Err() != nil {
				t.Fatalf("the Deployment of %s is still there", release)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func dump(t *testing.T, rt *Runtime, c kubernetes.Interface) {
	for _, in := range rt.Instances() {
		t.Logf("instance %s pod %q: %+v", in.ID(), in.(*instance).podName(), in.Status())
	}
	pods, _ := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	for _, p := range pods.Items {
		t.Logf("pod %s labels %v phase %s", p.Name, p.Labels, p.Status.Phase)
	}
}
