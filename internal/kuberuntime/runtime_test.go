package kuberuntime

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsfake "k8s.io/metrics/pkg/client/clientset/versioned/fake"
	"k8s.io/utils/ptr"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/apps"
)

const ns = "apogee-apps"

// fixedImages is the Images of tests: the cluster is fake or has no
// kubelet, so no image is pulled; it counts the builds.
type fixedImages struct {
	mu     sync.Mutex
	builds map[string]int
}

func (f *fixedImages) Image(_ context.Context, s apps.Spec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.builds == nil {
		f.builds = map[string]int{}
	}
	f.builds[s.Release]++
	return "registry.test/apogee/" + s.Project + ":" + s.Release, nil
}

func newRuntime(t *testing.T, c kubernetes.Interface, obs apps.Observer, keep bool) *Runtime {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	started := podWatches(c)
	r, err := New(ctx, Options{Client: c, Namespace: ns, Images: &fixedImages{}, Observer: obs, KeepOnClose: keep})
	if err != nil {
		t.Fatal(err)
	}
	// The fake clientset's informers report synced before their watch
	// is registered, and the fake never relists: what changes in
	// between is lost. Wait for the runtime's pod watch.
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the runtime's pod watch never started")
	}
	return r
}

var (
	watchMu  sync.Mutex
	watchers = map[*fake.Clientset]chan struct{}{}
)

// podWatches returns a channel that receives when the next watch of
// pods starts on c, a fake clientset (closed at once for a real API
// server, whose informers watch from the list's resourceVersion).
func podWatches(c kubernetes.Interface) <-chan struct{} {
	fc, ok := c.(*fake.Clientset)
	if !ok {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	watchMu.Lock()
	defer watchMu.Unlock()
	ch, ok := watchers[fc]
	if !ok {
		ch = make(chan struct{}, 16)
		watchers[fc] = ch
		fc.PrependWatchReactor("pods", func(a k8stesting.Action) (bool, watch.Interface, error) {
			w, err := fc.Tracker().Watch(a.GetResource(), a.GetNamespace())
			select {
			case ch <- struct{}{}:
			default:
			}
			return true, w, err
		})
	}
	for len(ch) > 0 {
		<-ch
	}
	return ch
}

func testSpec(release string) apps.Spec {
	return apps.Spec{Project: "web", Release: release, Command: "node app.js", Env: []string{"GREETING=hi"},
		Restart: apps.Restart{StopGrace: 3 * time.Second}}
}

// recorder is an apps.Observer that keeps what it hears.
type recorder struct {
	mu     sync.Mutex
	states []apps.Status
}

func (r *recorder) InstanceChanged(s apps.Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, s)
}

func (r *recorder) InstanceOutput(apps.Line) {}

func (r *recorder) SawState(id string, state apps.State) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.states {
		if s.ID == id && s.State == state {
			return true
		}
	}
	return false
}

// kubelet plays the ReplicaSet controller's and the kubelet's parts on a
// cluster that has neither: it makes pods of a release and sets their
// status.
type kubelet struct {
	t *testing.T
	c kubernetes.Interface
	n int
}

// pod makes a pod of release as the ReplicaSet would (scheduled on a
// node, so that its deletion is graceful on a real API server).
func (k *kubelet) pod(release string) *corev1.Pod {
	k.t.Helper()
	k.n++
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("%s-%d", ReleaseName("web", release), k.n), Namespace: ns,
			Labels: map[string]string{LabelProject: "web", LabelRelease: release, LabelManagedBy: ManagedBy},
		},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: containerName, Image: "img"}}},
	}
	p, err := k.c.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		k.t.Fatal(err)
	}
	return p
}

// set changes pod name's status with f (retrying on conflicts: the
// runtime labels pods meanwhile).
func (k *kubelet) set(name string, f func(*corev1.PodStatus)) {
	k.t.Helper()
	for range 20 {
		p, err := k.c.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			k.t.Fatal(err)
		}
		f(&p.Status)
		_, err = k.c.CoreV1().Pods(ns).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			k.t.Fatal(err)
		}
		return
	}
	k.t.Fatalf("pod %s kept changing", name)
}

func running(ip string, ready bool, restarts int32) func(*corev1.PodStatus) {
	return func(s *corev1.PodStatus) {
		now := metav1.Now()
		s.Phase = corev1.PodRunning
		s.PodIP = ip
		cond := corev1.ConditionFalse
		if ready {
			cond = corev1.ConditionTrue
		}
		s.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: cond}}
		started := true
		s.ContainerStatuses = []corev1.ContainerStatus{{Name: containerName, Ready: ready, Started: &started, RestartCount: restarts,
			ContainerID: fmt.Sprintf("containerd://c%d", restarts), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}
	}
}

func waitState(t *testing.T, in apps.Instance, want apps.State) apps.Status {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		ch := in.Changed()
		if st := in.Status(); st.State == want {
			return st
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("instance %s never %s: %+v", in.ID(), want, in.Status())
		}
	}
}

// waitPod waits until instance in follows a pod and returns its name.
func waitPod(t *testing.T, in apps.Instance) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if p := in.(*instance).podName(); p != "" {
			return p
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("instance %s never claimed a pod", in.ID())
	return ""
}

func deployment(t *testing.T, c kubernetes.Interface, release string) *appsv1.Deployment {
	t.Helper()
	d, err := c.AppsV1().Deployments(ns).Get(context.Background(), ReleaseName("web", release), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// runtimeBehaviour runs the runtime's life on a cluster: the fake
// clientset's, or a real API server's (envtest_test.go). The runtime
// talks with rc; the test, as kubelet and to check, with c.
func runtimeBehaviour(t *testing.T, c, rc kubernetes.Interface) {
	t.Run("StartMakesObjects", func(t *testing.T) {
		r := newRuntime(t, rc, nil, false)
		defer r.Close(context.Background())
		a, err := r.Start(context.Background(), testSpec("r1"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := r.Start(context.Background(), testSpec("r1"))
		if err != nil {
			t.Fatal(err)
		}
		if a.ID() == b.ID() || a.Ready() || a.Status().State != apps.StateStarting {
			t.Errorf("instances %s %s, %+v", a.ID(), b.ID(), a.Status())
		}
		d := deployment(t, c, "r1")
		if *d.Spec.Replicas != 2 {
			t.Errorf("replicas %d, want 2 (one per instance)", *d.Spec.Replicas)
		}
		cm, err := c.CoreV1().ConfigMaps(ns).Get(context.Background(), ProjectName("web"), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.OwnerReferences[0].UID != cm.UID || d.OwnerReferences[0].Name != cm.Name {
			t.Errorf("deployment's owner %+v, project object %s %s", d.OwnerReferences, cm.Name, cm.UID)
		}
		if _, err := c.CoreV1().Services(ns).Get(context.Background(), d.Name, metav1.GetOptions{}); err != nil {
			t.Error(err)
		}
		if _, err := c.CoreV1().Secrets(ns).Get(context.Background(), d.Name+"-env", metav1.GetOptions{}); err != nil {
			t.Error(err)
		}
		if n := len(r.Instances()); n != 2 {
			t.Errorf("Instances lists %d", n)
		}
		// The last stop removes the release's objects.
		for _, in := range []apps.Instance{a, b} {
			if err := in.Stop(context.Background(), time.Second); err != nil {
				t.Fatal(err)
			}
			if in.Status().State != apps.StateStopped {
				t.Errorf("after Stop: %+v", in.Status())
			}
		}
		if _, err := c.AppsV1().Deployments(ns).Get(context.Background(), d.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the deployment is still there after the last stop: %v", err)
		}
		if n := len(r.Instances()); n != 0 {
			t.Errorf("Instances lists %d after the stops", n)
		}
	})

	t.Run("PodStatusDrivesInstance", func(t *testing.T) {
		obs := &recorder{}
		r := newRuntime(t, rc, obs, false)
		defer r.Close(context.Background())
		k := &kubelet{t: t, c: c}
		in, err := r.Start(context.Background(), testSpec("r2"))
		if err != nil {
			t.Fatal(err)
		}
		p := k.pod("r2")
		if got := waitPod(t, in); got != p.Name {
			t.Fatalf("claimed %s, want %s", got, p.Name)
		}
		k.set(p.Name, running("10.0.0.7", false, 0))
		waitState(t, in, apps.StateStarting)
		k.set(p.Name, running("10.0.0.7", true, 0))
		st := waitState(t, in, apps.StateReady)
		if !in.Ready() || st.ReadySince.IsZero() {
			t.Errorf("ready: %+v", st)
		}
		// The pod is labelled with its instance.
		got, err := c.CoreV1().Pods(ns).Get(context.Background(), p.Name, metav1.GetOptions{})
		if err != nil || got.Labels[LabelInstance] != in.ID() {
			t.Errorf("pod labels %v, %v", got.Labels, err)
		}
		// Failing readiness: out of rotation.
		k.set(p.Name, running("10.0.0.7", false, 0))
		waitState(t, in, apps.StateUnhealthy)
		if in.Ready() {
			t.Error("an unhealthy instance is Ready")
		}
		// Killed at its memory limit, restarted by the kubelet.
		k.set(p.Name, func(s *corev1.PodStatus) {
			running("10.0.0.7", false, 1)(s)
			s.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 10s"}}
			s.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}
		})
		st = waitState(t, in, apps.StateCrashed)
		if st.Restarts != 1 || st.LastExit == nil || !st.LastExit.OOM || st.Failures < 1 {
			t.Errorf("after the OOM kill: %+v (exit %+v)", st, st.LastExit)
		}
		k.set(p.Name, running("10.0.0.7", true, 1))
		waitState(t, in, apps.StateReady)
		if !obs.SawState(in.ID(), apps.StateCrashed) {
			t.Error("the observer did not hear of the crash")
		}
		// The pod deleted under the instance: a crash, then the
		// replacement is followed.
		if err := c.CoreV1().Pods(ns).Delete(context.Background(), p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
			t.Fatal(err)
		}
		waitState(t, in, apps.StateCrashed)
		q := k.pod("r2")
		if got := waitPod(t, in); got != q.Name {
			t.Fatalf("claimed %s after the loss, want %s", got, q.Name)
		}
		k.set(q.Name, running("10.0.0.8", true, 0))
		st = waitState(t, in, apps.StateReady)
		if st.Restarts != 2 {
			t.Errorf("restarts %d, want 2 (a container restart and a new pod)", st.Restarts)
		}
		stopAsKubelet(t, c, in, q.Name)
	})

	t.Run("RolloutDeadline", func(t *testing.T) {
		r := newRuntime(t, rc, nil, false)
		defer r.Close(context.Background())
		in, err := r.Start(context.Background(), testSpec("r3"))
		if err != nil {
			t.Fatal(err)
		}
		d := deployment(t, c, "r3")
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
			Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-r3-5d9" has timed out progressing.`}}
		if _, err := c.AppsV1().Deployments(ns).UpdateStatus(context.Background(), d, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		st := waitState(t, in, apps.StateCrashed)
		if in.Ready() || st.Reason == "" || st.LastExit == nil || !st.LastExit.Health {
			t.Errorf("after the deadline: %+v", st)
		}
		if err := in.Stop(context.Background(), time.Second); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("AdoptAfterRestart", func(t *testing.T) {
		k := &kubelet{t: t, c: c}
		r1 := newRuntime(t, rc, nil, true)
		in, err := r1.Start(context.Background(), testSpec("r4"))
		if err != nil {
			t.Fatal(err)
		}
		p := k.pod("r4")
		waitPod(t, in)
		k.set(p.Name, running("10.0.0.9", true, 0))
		waitState(t, in, apps.StateReady)
		if err := r1.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		// Apogee restarts: the pod ran on; the new runtime finds it.
		r2 := newRuntime(t, rc, nil, false)
		defer r2.Close(context.Background())
		list := r2.Instances()
		if len(list) != 1 || list[0].ID() != in.ID() || !list[0].Ready() {
			t.Fatalf("found %d instances after the restart (%v)", len(list), list)
		}
		again, err := r2.Start(context.Background(), testSpec("r4"))
		if err != nil {
			t.Fatal(err)
		}
		if again.ID() != in.ID() || !again.Ready() || *deployment(t, c, "r4").Spec.Replicas != 1 {
			t.Errorf("Start after the restart: %s ready %v, replicas %d", again.ID(), again.Ready(), *deployment(t, c, "r4").Spec.Replicas)
		}
		stopAsKubelet(t, c, again, p.Name)
	})

	t.Run("BadSpec", func(t *testing.T) {
		r := newRuntime(t, rc, nil, false)
		defer r.Close(context.Background())
		for name, mod := range map[string]func(*apps.Spec){
			"no command":        func(s *apps.Spec) { s.Command = " " },
			"no project":        func(s *apps.Spec) { s.Project = "" },
			"bad project":       func(s *apps.Spec) { s.Project = "Web" },
			"bad release":       func(s *apps.Spec) { s.Release = "r_1" },
			"missing tree":      func(s *apps.Spec) { s.Dir = "/nonexistent/tree" },
			"a sandbox":         func(s *apps.Spec) { s.Sandbox = "runsc" },
			"bad env":           func(s *apps.Spec) { s.Env = []string{"NOEQUALS"} },
			"bad port":          func(s *apps.Spec) { s.Port = 70000 },
			"bad health path":   func(s *apps.Spec) { s.Health.Path = "healthz" },
			"negative memory":   func(s *apps.Spec) { s.Limits.MemoryBytes = -1 },
			"replace < unready": func(s *apps.Spec) { s.Health.Unready, s.Health.Replace = time.Minute, time.Second },
		} {
			s := testSpec("r5")
			mod(&s)
			if _, err := r.Start(context.Background(), s); apogee.ErrorCode(err) != apogee.EINVALID {
				t.Errorf("%s: %v, want an EINVALID error", name, err)
			}
		}
		if _, err := c.AppsV1().Deployments(ns).Get(context.Background(), ReleaseName("web", "r5"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("a bad spec made a deployment: %v", err)
		}
	})
}

// stopAsKubelet stops in, whose pod is pod, while playing the kubelet:
// a real API server keeps a scheduled pod until its kubelet confirms
// the deletion.
func stopAsKubelet(t *testing.T, c kubernetes.Interface, in apps.Instance, pod string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- in.Stop(context.Background(), 2*time.Second) }()
	// Stopping, or stopped already (the fake clientset deletes at once).
	deadline := time.After(30 * time.Second)
	for {
		ch := in.Changed()
		if st := in.Status().State; st == apps.StateStopping || st == apps.StateStopped {
			break
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("instance %s never stopping: %+v", in.ID(), in.Status())
		}
	}
	if in.Ready() {
		t.Error("a stopping instance is Ready")
	}
	until := time.Now().Add(30 * time.Second)
	for time.Now().Before(until) {
		p, err := c.CoreV1().Pods(ns).Get(context.Background(), pod, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.DeletionTimestamp != nil {
			if p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != 2 {
				t.Errorf("deletion grace %v, want 2", p.DeletionGracePeriodSeconds)
			}
			if err := c.CoreV1().Pods(ns).Delete(context.Background(), pod, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil && !apierrors.IsNotFound(err) {
				t.Fatal(err)
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Stop did not return after the pod was gone")
	}
	if st := in.Status(); st.State != apps.StateStopped {
		t.Errorf("after Stop: %+v", st)
	}
}

// TestRuntimeFake runs the runtime's life on client-go's fake clientset.
func TestRuntimeFake(t *testing.T) {
	c := fake.NewClientset()
	runtimeBehaviour(t, c, c)
}

// TestSpareKeepsReplicasZero: Prestart makes the release's objects at
// replicas 0, the Start that wakes the app scales them up, its last stop
// keeps them at 0, and DropSpare deletes them.
func TestSpareKeepsReplicasZero(t *testing.T) {
	c := fake.NewClientset()
	r := newRuntime(t, c, nil, false)
	defer r.Close(context.Background())
	s := testSpec("r9")
	if err := r.Prestart(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if n := *deployment(t, c, "r9").Spec.Replicas; n != 0 {
		t.Fatalf("spare's replicas %d, want 0", n)
	}
	in, err := r.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if n := *deployment(t, c, "r9").Spec.Replicas; n != 1 {
		t.Errorf("replicas %d after the wake, want 1", n)
	}
	if err := in.Stop(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	if n := *deployment(t, c, "r9").Spec.Replicas; n != 0 {
		t.Errorf("replicas %d after the last stop, want 0 (kept)", n)
	}
	if _, err := c.CoreV1().Secrets(ns).Get(context.Background(), ReleaseName("web", "r9")+"-env", metav1.GetOptions{}); err != nil {
		t.Errorf("the spare's Secret: %v", err)
	}
	r.DropSpare("r9")
	if _, err := c.AppsV1().Deployments(ns).Get(context.Background(), ReleaseName("web", "r9"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Deployment after DropSpare: %v", err)
	}
	if err := r.Prestart(context.Background(), apps.Spec{Project: "web", Release: "r_9", Command: "x"}); apogee.ErrorCode(err) != apogee.EINVALID {
		t.Errorf("a bad spec's spare: %v", err)
	}
}

// TestUsageFromMetricsAPI: Usage reads the pod's PodMetrics (the
// metrics clientset's fake), and says to install metrics-server when
// the cluster has no metrics API.
func TestUsageFromMetricsAPI(t *testing.T) {
	c := fake.NewClientset()
	mc := metricsfake.NewSimpleClientset()
	ctx := context.Background()
	r, err := New(ctx, Options{Client: c, Namespace: ns, Images: &fixedImages{}, Metrics: mc})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	k := &kubelet{t: t, c: c}
	in, err := r.Start(ctx, testSpec("r8"))
	if err != nil {
		t.Fatal(err)
	}
	p := k.pod("r8")
	waitPod(t, in)
	// No metrics.k8s.io in discovery: the cluster has no metrics-server.
	if _, err := in.Usage(); err == nil || !strings.Contains(err.Error(), "install metrics-server") {
		t.Errorf("Usage without a metrics API: %v", err)
	}
	mc.Discovery().(*fakediscovery.FakeDiscovery).Resources = []*metav1.APIResourceList{{
		GroupVersion: "metrics.k8s.io/v1beta1", APIResources: []metav1.APIResource{{Name: "pods", Namespaced: true, Kind: "PodMetrics"}},
	}}
	if _, err := in.Usage(); err == nil || !strings.Contains(err.Error(), "no figures for pod") {
		t.Errorf("Usage before the first scrape: %v", err)
	}
	pm := &metricsv1beta1.PodMetrics{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: ns},
		Containers: []metricsv1beta1.ContainerMetrics{{Name: containerName, Usage: corev1.ResourceList{
			corev1.ResourceMemory: resource.MustParse("96Mi"), corev1.ResourceCPU: resource.MustParse("500m")}}}}
	if err := mc.Tracker().Create(metricsv1beta1.SchemeGroupVersion.WithResource("pods"), pm, ns); err != nil {
		t.Fatal(err)
	}
	u, err := in.Usage()
	if err != nil || u.MemoryBytes != 96<<20 {
		t.Fatalf("usage %+v, %v", u, err)
	}
	// CPU time grows at the rate the metrics API gives (half a core)
	// over the time between the calls (a fake Get takes microseconds).
	first := time.Now()
	u2, err := in.Usage()
	if err != nil || u2.CPU <= u.CPU || u2.CPU > time.Since(first) {
		t.Errorf("CPU %v then %v over %v at half a core", u.CPU, u2.CPU, time.Since(first))
	}
}

// TestConverges: a Deployment scaled or deleted by hand while instances
// of its release run is brought back to one replica per instance.
func TestConverges(t *testing.T) {
	c := fake.NewClientset()
	r := newRuntime(t, c, nil, false)
	defer r.Close(context.Background())
	ctx := context.Background()
	for range 2 {
		if _, err := r.Start(ctx, testSpec("r10")); err != nil {
			t.Fatal(err)
		}
	}
	name := ReleaseName("web", "r10")
	waitReplicas := func(what string) {
		t.Helper()
		w, err := c.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if d, err := c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{}); err == nil && *d.Spec.Replicas == 2 {
			return
		}
		deadline := time.After(30 * time.Second)
		for {
			select {
			case ev := <-w.ResultChan():
				if d, ok := ev.Object.(*appsv1.Deployment); ok && d.Name == name && ev.Type != watch.Deleted && *d.Spec.Replicas == 2 {
					return
				}
			case <-deadline:
				t.Fatalf("%s: the Deployment never came back to 2 replicas", what)
			}
		}
	}
	d := deployment(t, c, "r10")
	d.Spec.Replicas = ptr.To(int32(5))
	if _, err := c.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReplicas("scaled to 5 by hand")
	if err := c.AppsV1().Deployments(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReplicas("deleted by hand")
}
