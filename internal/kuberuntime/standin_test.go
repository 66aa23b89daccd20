package kuberuntime

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsfake "k8s.io/metrics/pkg/client/clientset/versioned/fake"
	"k8s.io/utils/ptr"

	"github.com/apogee-dev/apogee/internal/sandbox"
)

// standIn plays, on a real API server, the parts of a cluster envtest
// does not run, through the real API:
//
//   - kube-controller-manager's Deployment and ReplicaSet controllers
//     (a Deployment's pods follow its replicas; a scale-down removes the
//     pods of lowest controller.kubernetes.io/pod-deletion-cost first)
//     and garbage collector (a deleted Deployment's pods go);
//   - the scheduler (every pod to node-1) and node-1's kubelet, which
//     pulls the pod's image from the test's registry (go-containerregistry's
//     in-process one, where the runtime's ImageBuilder pushed it), runs
//     its entrypoint in a bwrap sandbox (internal/sandbox: a network of
//     its own, the image's tree read-only, a private /tmp, the memory and
//     CPU limits) with the environment the kubelet gives (the image's,
//     the Secret's, the container's), runs the startup, readiness and
//     liveness probes as the pod says (HTTP GETs, whole seconds), kills
//     and restarts the container with a crash-loop back-off, reports
//     status and Events (Unhealthy, Killing) as the kubelet words them,
//     honours graceful deletion (SIGTERM, the kill after the grace, then
//     the final status and the removal), and serves the container logs
//     (follow, previous, timestamps) on the kubelet's HTTPS port, where
//     the API server's pod log API proxies to it (the node's address and
//     port are in its status; the API server does not check a kubelet's
//     certificate when it has no kubelet CA);
//   - the cluster network: pod IPs (10.244.x.y) lead into the pods'
//     network namespaces (Dial);
//   - metrics-server: PodMetrics from the sandboxes' cgroups, through the
//     metrics clientset's fake (an aggregated API cannot be served here).
//
// Its crash-loop back-off is short (200 ms doubling to 2 s, as the
// kubelet's crashLoopBackOff.maxContainerRestartPeriod allows) so that
// the suite's faults show quickly.
type standIn struct {
	t     *testing.T
	c     kubernetes.Interface
	sb    sandbox.Sandbox
	reg   string // the registry's host
	ctx   context.Context
	kick  chan struct{}
	node  string
	logs  *httptest.Server
	mc    *metricsfake.Clientset
	mu    sync.Mutex
	pods  map[types.UID]*podRun
	byIP  map[string]*podRun
	ips   int
	trees map[string]*tree // pulled images by reference
}

type tree struct {
	once sync.Once
	dir  string
	cfg  *v1.ConfigFile
	err  error
}

// newStandIn starts the stand-in on the API server c (an administrator's
// client), until the test ends.
func newStandIn(t *testing.T, c kubernetes.Interface) *standIn {
	t.Helper()
	sb, err := sandbox.New("bwrap", sandbox.WithLogger(slog.New(slog.DiscardHandler)), sandbox.WithCgroupParent("apogee-test/kubelet"))
	if err != nil {
		t.Fatalf("the stand-in kubelet runs containers with bwrap (apt-get install bubblewrap): %v", err)
	}
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	ctx, cancel := context.WithCancel(context.Background())
	s := &standIn{t: t, c: c, sb: sb, reg: strings.TrimPrefix(reg.URL, "http://"), ctx: ctx, kick: make(chan struct{}, 1),
		node: "node-1", pods: map[types.UID]*podRun{}, byIP: map[string]*podRun{}, trees: map[string]*tree{}}
	// The base image: an empty one with a PATH (the host's /usr is
	// the sandbox's).
	base, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: "linux", Architecture: "amd64",
		Config: v1.Config{Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(s.baseRef(), base); err != nil {
		t.Fatal(err)
	}
	s.logs = httptest.NewUnstartedServer(http.HandlerFunc(s.serveLogs))
	s.logs.StartTLS()
	t.Cleanup(s.logs.Close)
	s.registerNode()
	s.metrics()

	f := informers.NewSharedInformerFactory(c, 0)
	kick := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.poke() },
		UpdateFunc: func(any, any) { s.poke() },
		DeleteFunc: func(any) { s.poke() },
	}
	f.Apps().V1().Deployments().Informer().AddEventHandler(kick)
	f.Batch().V1().Jobs().Informer().AddEventHandler(kick)
	f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.poke(); s.kubelet(obj.(*corev1.Pod), false) },
		UpdateFunc: func(_, obj any) { s.poke(); s.kubelet(obj.(*corev1.Pod), false) },
		DeleteFunc: func(obj any) {
			s.poke()
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				s.kubelet(p, true)
			}
		},
	})
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.kick:
				s.controllers()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		f.Shutdown()
		<-done
		s.mu.Lock()
		runs := make([]*podRun, 0, len(s.pods))
		for _, p := range s.pods {
			runs = append(runs, p)
		}
		s.mu.Unlock()
		for _, p := range runs {
			p.kill()
		}
		for _, tr := range s.trees {
			if tr.dir != "" {
				os.RemoveAll(tr.dir)
			}
		}
	})
	return s
}

func (s *standIn) baseRef() name.Reference {
	ref, err := name.ParseReference(s.reg + "/library/node:22-slim")
	if err != nil {
		s.t.Fatal(err)
	}
	return ref
}

func (s *standIn) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// registerNode makes node-1, its kubelet at the logs server.
func (s *standIn) registerNode() {
	ctx := context.Background()
	port := s.logs.Listener.Addr().(*net.TCPAddr).Port
	n, err := s.c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: s.node}}, metav1.CreateOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	if _, err := s.c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		s.t.Fatal(err)
	}
}

// metrics is metrics-server: PodMetrics of the running containers.
func (s *standIn) metrics() {
	s.mc = metricsfake.NewSimpleClientset()
	s.mc.Discovery().(*fakediscovery.FakeDiscovery).Resources = []*metav1.APIResourceList{{
		GroupVersion: "metrics.k8s.io/v1beta1", APIResources: []metav1.APIResource{{Name: "pods", Namespaced: true, Kind: "PodMetrics"}},
	}}
	s.mc.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		g := a.(k8stesting.GetAction)
		p := s.podByName(g.GetNamespace(), g.GetName())
		var st sandbox.Stats
		err := errors.New("no container")
		if p != nil {
			if cr := p.current(); cr != nil {
				st, err = cr.in.Stats()
			}
		}
		if err != nil {
			return true, nil, apierrors.NewNotFound(metricsv1beta1.Resource("pods"), g.GetName())
		}
		return true, &metricsv1beta1.PodMetrics{
			ObjectMeta: metav1.ObjectMeta{Name: g.GetName(), Namespace: g.GetNamespace()},
			Timestamp:  metav1.Now(), Window: metav1.Duration{Duration: 15 * time.Second},
			Containers: []metricsv1beta1.ContainerMetrics{{Name: containerName, Usage: corev1.ResourceList{
				corev1.ResourceMemory: *resource.NewQuantity(st.MemoryBytes, resource.BinarySI),
				corev1.ResourceCPU:    *resource.NewMilliQuantity(0, resource.DecimalSI),
			}}},
		}, nil
	})
}

func (s *standIn) podByName(ns, name string) *podRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pods {
		if p.ns == ns && p.name == name {
			return p
		}
	}
	return nil
}

// Dial is the cluster network: a pod's IP leads into its network.
func (s *standIn) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	p := s.byIP[host]
	s.mu.Unlock()
	if p == nil {
		return nil, fmt.Errorf("dial %s: no route to host", addr)
	}
	cr := p.current()
	if cr == nil {
		return nil, fmt.Errorf("dial %s: connection refused", addr)
	}
	return cr.in.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", port))
}

// controllers converges every Deployment's pods to its replicas and
// removes the pods of deleted Deployments (read live from the API, so
// that what was just made counts).
func (s *standIn) controllers() {
	ctx := s.ctx
	ds, err := s.c.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	pods, err := s.c.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	jobs, err := s.c.BatchV1().Jobs("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	owners := map[types.UID]*appsv1.Deployment{}
	for i := range ds.Items {
		owners[ds.Items[i].UID] = &ds.Items[i]
	}
	jobOwners := map[types.UID]bool{}
	for _, j := range jobs.Items {
		jobOwners[j.UID] = true
	}
	live := map[types.UID][]corev1.Pod{}
	jobPods := map[types.UID]bool{}
	for _, p := range pods.Items {
		ref := metav1.GetControllerOf(&p)
		if ref != nil && ref.Kind == "Job" {
			if !jobOwners[ref.UID] && p.DeletionTimestamp == nil {
				s.c.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
			}
			jobPods[ref.UID] = true
			continue
		}
		if ref == nil || ref.Kind != "Deployment" {
			continue
		}
		if owners[ref.UID] == nil {
			// The garbage collector: the owner is gone.
			if p.DeletionTimestamp == nil {
				s.c.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
			}
			continue
		}
		if p.DeletionTimestamp == nil {
			live[ref.UID] = append(live[ref.UID], p)
		}
	}
	// The Job controller: one pod per Job, run once (backoffLimit 0).
	for i := range jobs.Items {
		if j := &jobs.Items[i]; !jobPods[j.UID] && j.DeletionTimestamp == nil {
			s.createJobPod(j)
		}
	}
	for _, d := range owners {
		have, want := live[d.UID], int(ptr.Deref(d.Spec.Replicas, 1))
		for i := len(have); i < want; i++ {
			s.createPod(d)
		}
		if len(have) > want {
			slices.SortFunc(have, func(a, b corev1.Pod) int {
				ca, _ := strconv.Atoi(a.Annotations[annotationDeletionCost])
				cb, _ := strconv.Atoi(b.Annotations[annotationDeletionCost])
				if ca != cb {
					return ca - cb
				}
				return b.CreationTimestamp.Compare(a.CreationTimestamp.Time)
			})
			for _, p := range have[:len(have)-want] {
				s.c.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
			}
		}
	}
}

func (s *standIn) createPod(d *appsv1.Deployment) {
	tpl := d.Spec.Template.DeepCopy()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name + "-" + rand.String(5), Namespace: d.Namespace, Labels: tpl.Labels, Annotations: tpl.Annotations,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
		},
		Spec: tpl.Spec,
	}
	p.Spec.NodeName = s.node
	if _, err := s.c.CoreV1().Pods(d.Namespace).Create(s.ctx, p, metav1.CreateOptions{}); err != nil && s.ctx.Err() == nil {
		s.t.Logf("stand-in: create a pod of %s: %v", d.Name, err)
	}
}

func (s *standIn) createJobPod(j *batchv1.Job) {
	tpl := j.Spec.Template.DeepCopy()
	lbl := maps.Clone(tpl.Labels)
	lbl["batch.kubernetes.io/job-name"] = j.Name
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: j.Name + "-" + rand.String(5), Namespace: j.Namespace, Labels: lbl,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: j.Name, UID: j.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
		},
		Spec: tpl.Spec,
	}
	p.Spec.NodeName = s.node
	if _, err := s.c.CoreV1().Pods(j.Namespace).Create(s.ctx, p, metav1.CreateOptions{}); err != nil && s.ctx.Err() == nil {
		s.t.Logf("stand-in: create the pod of job %s: %v", j.Name, err)
	}
}

// kubelet starts, stops and forgets the pods of node-1.
func (s *standIn) kubelet(p *corev1.Pod, gone bool) {
	if p.Spec.NodeName != s.node {
		return
	}
	s.mu.Lock()
	run := s.pods[p.UID]
	if run == nil && !gone && p.DeletionTimestamp == nil {
		s.ips++
		run = &podRun{s: s, ns: p.Namespace, name: p.Name, uid: p.UID, pod: p.DeepCopy(),
			ip: fmt.Sprintf("10.244.%d.%d", s.ips/250, s.ips%250+1), deleting: make(chan struct{}), gone: make(chan struct{})}
		s.pods[p.UID] = run
		s.byIP[run.ip] = run
		go run.run()
	}
	s.mu.Unlock()
	if run == nil {
		return
	}
	switch {
	case gone:
		run.kill()
	case p.DeletionTimestamp != nil:
		run.delete(time.Duration(ptr.Deref(p.DeletionGracePeriodSeconds, 30)) * time.Second)
	}
}

// pull gives the image's tree and config, pulled once.
func (s *standIn) pull(ref string) (*tree, error) {
	s.mu.Lock()
	tr := s.trees[ref]
	if tr == nil {
		tr = &tree{}
		s.trees[ref] = tr
	}
	s.mu.Unlock()
	tr.once.Do(func() {
		r, err := name.ParseReference(ref)
		if err != nil {
			tr.err = err
			return
		}
		img, err := remote.Image(r)
		if err != nil {
			tr.err = err
			return
		}
		if tr.cfg, err = img.ConfigFile(); err != nil {
			tr.err = err
			return
		}
		tr.dir, err = os.MkdirTemp("", "standin-image-")
		if err != nil {
			tr.err = err
			return
		}
		os.Chmod(tr.dir, 0o755)
		tr.err = untar(mutate.Extract(img), tr.dir)
	})
	return tr, tr.err
}

// untar writes an image's flattened tree under dir.
func untar(rc io.ReadCloser, dir string) error {
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(p), 0o755)
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777|0o444)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			f.Close()
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
		}
	}
}

// podRun is the kubelet's life of one pod.
type podRun struct {
	s        *standIn
	ns, name string
	uid      types.UID
	ip       string
	pod      *corev1.Pod // as first seen

	repMu    sync.Mutex
	mu       sync.Mutex
	runs     []*containerRun
	status   corev1.ContainerStatus
	ready    bool
	deleting chan struct{}
	grace    time.Duration
	gone     chan struct{}
	goneOnce sync.Once
	delOnce  sync.Once
}

// containerRun is one start of the pod's container.
type containerRun struct {
	id      string
	in      sandbox.Instance
	started time.Time
	mu      sync.Mutex
	lines   []string // "<RFC3339Nano> text"
	base    int      // lines rotated away
	changed chan struct{}
	ended   bool
}

// maxLines is how much of a container's log the stand-in keeps, as the
// kubelet rotates its log files.
const maxLines = 100000

// output collects one stream's lines; done is closed when all are in.
func (cr *containerRun) output() (w io.WriteCloser, done <-chan struct{}) {
	pr, pw := io.Pipe()
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			cr.mu.Lock()
			cr.lines = append(cr.lines, time.Now().UTC().Format(time.RFC3339Nano)+" "+sc.Text())
			if len(cr.lines) > maxLines {
				cr.lines = slices.Clone(cr.lines[maxLines/2:])
				cr.base += maxLines / 2
			}
			close(cr.changed)
			cr.changed = make(chan struct{})
			cr.mu.Unlock()
		}
		io.Copy(io.Discard, pr)
	}()
	return pw, ch
}

func (cr *containerRun) end() {
	cr.mu.Lock()
	cr.ended = true
	close(cr.changed)
	cr.changed = make(chan struct{})
	cr.mu.Unlock()
}

func (p *podRun) current() *containerRun {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.runs) == 0 {
		return nil
	}
	cr := p.runs[len(p.runs)-1]
	select {
	case <-cr.in.Done():
		return nil
	default:
		return cr
	}
}

func (p *podRun) delete(grace time.Duration) {
	p.delOnce.Do(func() {
		p.mu.Lock()
		p.grace = grace
		p.mu.Unlock()
		close(p.deleting)
	})
}

func (p *podRun) kill() {
	p.goneOnce.Do(func() { close(p.gone) })
	if cr := p.current(); cr != nil {
		cr.in.Kill()
	}
}

func (p *podRun) isDeleting() bool {
	select {
	case <-p.deleting:
		return true
	default:
		return false
	}
}

// event posts an Event about the pod as the kubelet does.
func (p *podRun) event(typ, reason, msg string) {
	now := metav1.Now()
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: p.name + ".", Namespace: p.ns},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: p.ns, Name: p.name, UID: p.uid, APIVersion: "v1", FieldPath: "spec.containers{app}"},
		Reason:         reason, Message: msg, Type: typ, Source: corev1.EventSource{Component: "kubelet", Host: p.s.node},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}
	p.s.c.CoreV1().Events(p.ns).Create(context.Background(), ev, metav1.CreateOptions{})
}

// report writes the pod's status (one writer at a time, each with the
// latest status).
func (p *podRun) report(phase corev1.PodPhase) {
	p.repMu.Lock()
	defer p.repMu.Unlock()
	p.mu.Lock()
	cs := *p.status.DeepCopy()
	ready := p.ready
	p.mu.Unlock()
	cs.Name, cs.Ready = containerName, ready
	cond := corev1.ConditionFalse
	if ready {
		cond = corev1.ConditionTrue
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := p.s.c.CoreV1().Pods(p.ns).Get(context.Background(), p.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pod.UID != p.uid {
			return nil
		}
		pod.Status.Phase, pod.Status.PodIP, pod.Status.HostIP = phase, p.ip, "127.0.0.1"
		pod.Status.PodIPs = []corev1.PodIP{{IP: p.ip}}
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: cond}, {Type: corev1.ContainersReady, Status: cond}}
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
		_, err = p.s.c.CoreV1().Pods(p.ns).UpdateStatus(context.Background(), pod, metav1.UpdateOptions{})
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) && p.s.ctx.Err() == nil {
		p.s.t.Logf("stand-in kubelet: status of pod %s: %v", p.name, err)
	}
}

// run is the pod's life: start the container, probe it, restart it
// when it ends, until the pod is deleted.
func (p *podRun) run() {
	c := p.pod.Spec.Containers[0]
	p.status = corev1.ContainerStatus{Name: containerName, Image: c.Image,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
	p.report(corev1.PodPending)
	tr, err := p.s.pull(c.Image)
	if err != nil {
		p.mu.Lock()
		p.status.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: err.Error()}}
		p.mu.Unlock()
		p.report(corev1.PodPending)
		<-p.deleting
		p.finish()
		return
	}
	env, err := p.env(tr.cfg, c)
	if err != nil {
		p.mu.Lock()
		p.status.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: err.Error()}}
		p.mu.Unlock()
		p.report(corev1.PodPending)
		<-p.deleting
		p.finish()
		return
	}
	backoff := 200 * time.Millisecond
	for n := 0; ; n++ {
		if p.isDeleting() {
			break
		}
		res, killed := p.once(n, tr, env, c)
		if p.isDeleting() || killed == "deleted" || p.pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
			p.terminated(res, true)
			break
		}
		p.terminated(res, false)
		select {
		case <-time.After(backoff):
		case <-p.deleting:
		case <-p.gone:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
	if !p.isDeleting() {
		// Run once (a Job's pod): it stays, ended, until deleted.
		select {
		case <-p.deleting:
		case <-p.gone:
		}
	}
	p.finish()
}

// finish removes the deleted pod from the API (the kubelet's last word).
func (p *podRun) finish() {
	select {
	case <-p.gone:
	default:
		p.s.c.CoreV1().Pods(p.ns).Delete(context.Background(), p.name, metav1.DeleteOptions{GracePeriodSeconds: new(int64),
			Preconditions: &metav1.Preconditions{UID: &p.uid}})
	}
	p.s.mu.Lock()
	delete(p.s.pods, p.uid)
	delete(p.s.byIP, p.ip)
	p.s.mu.Unlock()
}

// terminated reports the container's end: the pod's last status when
// it is being deleted, else a crash-loop back-off.
func (p *podRun) terminated(res sandbox.Result, last bool) {
	p.mu.Lock()
	if len(p.runs) == 0 {
		p.mu.Unlock()
		return // never started (the stand-in is closing)
	}
	cr := p.runs[len(p.runs)-1]
	t := &corev1.ContainerStateTerminated{ExitCode: int32(res.ExitCode), ContainerID: cr.id,
		StartedAt: metav1.NewTime(cr.started), FinishedAt: metav1.Now(), Reason: "Completed"}
	switch {
	case strings.HasPrefix(res.Reason, "killed: memory limit"):
		t.Reason, t.ExitCode = "OOMKilled", 137
	case res.ExitCode != 0:
		t.Reason = "Error"
	}
	p.ready = false
	if last {
		p.status.State = corev1.ContainerState{Terminated: t}
	} else {
		p.status.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
			Message: "back-off restarting failed container app"}}
		p.status.LastTerminationState = corev1.ContainerState{Terminated: t}
	}
	p.mu.Unlock()
	phase := corev1.PodRunning
	if last {
		phase = corev1.PodSucceeded
		if t.ExitCode != 0 {
			phase = corev1.PodFailed
		}
	}
	p.report(phase)
}

// env is the container's environment as the kubelet makes it: the
// image's, then the Secrets' (envFrom), then the container's env.
func (p *podRun) env(cfg *v1.ConfigFile, c corev1.Container) ([]string, error) {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, kv := range cfg.Config.Env {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	for _, from := range c.EnvFrom {
		if from.SecretRef == nil {
			continue
		}
		sec, err := p.s.c.CoreV1().Secrets(p.ns).Get(context.Background(), from.SecretRef.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("secret %q not found", from.SecretRef.Name)
		}
		for k, v := range sec.Data {
			set(k, string(v))
		}
	}
	for _, e := range c.Env {
		set(e.Name, e.Value)
	}
	env := make([]string, 0, len(order))
	for _, k := range order {
		env = append(env, k+"="+vars[k])
	}
	return env, nil
}

// once runs the container once, with its probes, and says how it ended
// and what ended it ("" by itself, "deleted", "Startup", "Liveness").
func (p *podRun) once(n int, tr *tree, env []string, c corev1.Container) (sandbox.Result, string) {
	// The container's command and args replace the image's entrypoint
	// and cmd.
	entry, args := tr.cfg.Config.Entrypoint, tr.cfg.Config.Cmd
	if len(c.Command) > 0 {
		entry, args = c.Command, nil
	}
	if len(c.Args) > 0 {
		args = c.Args
	}
	argv := append(slices.Clone(entry), args...)
	cr := &containerRun{id: fmt.Sprintf("standin://%s-%d", p.uid, n), changed: make(chan struct{}), started: time.Now()}
	stdout, outDone := cr.output()
	stderr, errDone := cr.output()
	lim := sandbox.Limits{MemoryBytes: c.Resources.Limits.Memory().Value(), Pids: 1024}
	if cpu := c.Resources.Limits.Cpu().MilliValue(); cpu > 0 {
		lim.CPUs = float64(cpu) / 1000
	}
	in, err := p.s.sb.Start(p.s.ctx, sandbox.Spec{
		Argv: argv, Dir: filepath.Join(tr.dir, tr.cfg.Config.WorkingDir), ReadOnly: true, Env: env,
		Stdout: stdout, Stderr: stderr, Limits: lim,
	})
	if err != nil {
		stdout.Close()
		stderr.Close()
		if p.s.ctx.Err() != nil {
			return sandbox.Result{ExitCode: 128}, "deleted" // the test is over
		}
		p.s.t.Errorf("stand-in kubelet: start the container of %s: %v", p.name, err)
		select {
		case <-p.deleting:
		case <-p.gone:
		}
		return sandbox.Result{ExitCode: 128}, "deleted"
	}
	cr.in = in
	p.mu.Lock()
	p.runs = append(p.runs, cr)
	p.status.ContainerID = cr.id
	p.status.RestartCount = int32(n)
	p.status.Started = ptr.To(false)
	p.status.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(cr.started)}}
	p.ready = false
	p.mu.Unlock()
	p.report(corev1.PodRunning)

	why := make(chan string, 1)
	probeCtx, stopProbes := context.WithCancel(p.s.ctx)
	go p.probe(probeCtx, cr, c, why)
	var killed string
	select {
	case <-in.Done():
	case <-p.deleting:
		killed = "deleted"
	case killed = <-why:
	case <-p.gone:
		killed = "deleted"
		in.Kill()
	}
	stopProbes()
	if killed != "" {
		p.mu.Lock()
		grace := p.grace
		p.mu.Unlock()
		if killed != "deleted" {
			grace = time.Duration(ptr.Deref(p.pod.Spec.TerminationGracePeriodSeconds, 30)) * time.Second
		}
		p.event(corev1.EventTypeNormal, "Killing", killMessage(killed))
		in.Signal(syscall.SIGTERM)
		select {
		case <-in.Done():
		case <-time.After(grace):
			in.Kill()
		case <-p.gone:
			in.Kill()
		}
	}
	res := in.Wait()
	stdout.Close()
	stderr.Close()
	<-outDone
	<-errDone
	cr.end()
	return res, killed
}

func killMessage(why string) string {
	switch why {
	case "Startup":
		return "Container app failed startup probe, will be restarted"
	case "Liveness":
		return "Container app failed liveness probe, will be restarted"
	}
	return "Stopping container app"
}

// probe runs the container's probes: the startup probe until it passes,
// then readiness and liveness, each every periodSeconds; a probe that
// fails failureThreshold times in a row acts.
func (p *podRun) probe(ctx context.Context, cr *containerRun, c corev1.Container, why chan<- string) {
	if c.StartupProbe == nil || c.ReadinessProbe == nil || c.LivenessProbe == nil || len(c.Ports) == 0 {
		return // a Job's pod: no probes
	}
	check := func(pr *corev1.Probe) error {
		port := c.Ports[0].ContainerPort
		hc := &http.Client{Timeout: time.Duration(pr.TimeoutSeconds) * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return cr.in.DialContext(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(int(port)))
			},
			DisableKeepAlives: true,
		}}
		url := fmt.Sprintf("http://%s:%d%s", p.ip, port, pr.HTTPGet.Path)
		res, err := hc.Get(url)
		if err != nil {
			// The kubelet's wording: Go's client error, the pod's address.
			return errors.New(strings.ReplaceAll(err.Error(), "127.0.0.1:"+strconv.Itoa(int(port)), p.ip+":"+strconv.Itoa(int(port))))
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode < 200 || res.StatusCode >= 400 {
			return fmt.Errorf("HTTP probe failed with statuscode: %d", res.StatusCode)
		}
		return nil
	}
	wait := func(pr *corev1.Probe) bool {
		select {
		case <-time.After(time.Duration(pr.PeriodSeconds) * time.Second):
			return true
		case <-ctx.Done():
			return false
		}
	}
	fails := 0
	for started := false; !started; {
		if !wait(c.StartupProbe) {
			return
		}
		if err := check(c.StartupProbe); err != nil {
			p.event(corev1.EventTypeWarning, "Unhealthy", "Startup probe failed: "+err.Error())
			if fails++; fails >= int(c.StartupProbe.FailureThreshold) {
				why <- "Startup"
				return
			}
			continue
		}
		started = true
	}
	p.mu.Lock()
	p.status.Started = ptr.To(true)
	p.mu.Unlock()
	readyFails, liveFails := 0, 0
	first := true
	for {
		if !first && !wait(c.ReadinessProbe) {
			return
		}
		first = false
		err := check(c.ReadinessProbe)
		p.mu.Lock()
		if ctx.Err() != nil {
			p.mu.Unlock()
			return
		}
		was := p.ready
		switch {
		case err == nil:
			readyFails = 0
			p.ready = true
		default:
			readyFails++
			if readyFails >= int(c.ReadinessProbe.FailureThreshold) {
				p.ready = false
			}
		}
		now := p.ready
		p.mu.Unlock()
		if err != nil {
			p.event(corev1.EventTypeWarning, "Unhealthy", "Readiness probe failed: "+err.Error())
		}
		if now != was && ctx.Err() == nil {
			p.report(corev1.PodRunning)
		}
		if err := check(c.LivenessProbe); err != nil {
			p.event(corev1.EventTypeWarning, "Unhealthy", "Liveness probe failed: "+err.Error())
			if liveFails++; liveFails >= int(c.LivenessProbe.FailureThreshold) {
				why <- "Liveness"
				return
			}
		} else {
			liveFails = 0
		}
	}
}

// serveLogs is the kubelet's /containerLogs/{namespace}/{pod}/{container}.
func (s *standIn) serveLogs(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/containerLogs/"), "/")
	if len(parts) != 3 || parts[2] != containerName {
		http.NotFound(w, r)
		return
	}
	p := s.podByName(parts[0], parts[1])
	if p == nil {
		http.Error(w, "pod not found", http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	p.mu.Lock()
	runs := slices.Clone(p.runs)
	p.mu.Unlock()
	var cr *containerRun
	switch {
	case q.Get("previous") == "true" && len(runs) >= 2:
		cr = runs[len(runs)-2]
		if cur := runs[len(runs)-1]; cur.isEnded() {
			// In a back-off: the container that ended is the last.
			cr = cur
		}
	case q.Get("previous") == "true" && len(runs) == 1 && runs[0].isEnded():
		cr = runs[0]
	case q.Get("previous") != "true" && len(runs) > 0:
		cr = runs[len(runs)-1]
	}
	if cr == nil {
		http.Error(w, "container not found", http.StatusBadRequest)
		return
	}
	stamps := q.Get("timestamps") == "true"
	follow := q.Get("follow") == "true"
	w.Header().Set("Content-Type", "text/plain")
	fl, _ := w.(http.Flusher)
	sent := 0
	for {
		cr.mu.Lock()
		sent = max(sent, cr.base)
		lines := cr.lines[sent-cr.base:]
		sent = cr.base + len(cr.lines)
		ended, ch := cr.ended, cr.changed
		cr.mu.Unlock()
		for _, l := range lines {
			if !stamps {
				_, l, _ = strings.Cut(l, " ")
			}
			if _, err := io.WriteString(w, l+"\n"); err != nil {
				return
			}
		}
		if fl != nil {
			fl.Flush()
		}
		if !follow || ended {
			return
		}
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		}
	}
}

func (cr *containerRun) isEnded() bool {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return cr.ended
}
