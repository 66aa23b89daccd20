// Package kuberuntime runs app instances on a Kubernetes cluster: the
// second apps.Runtime, beside the local supervisor, chosen by
// `apogee server --runtime kubernetes`.
//
// What a release is in the cluster (ReleaseObjects; see testdata/ for
// every object as generated):
//
//   - a ConfigMap apogee-<project> per project, the owner of everything
//     else of the project: deleting it deletes them all (the cluster's
//     garbage collector follows the owner references);
//   - per release a Secret <project>-<release>-env with its variables, a
//     Deployment <project>-<release> and a ClusterIP Service of the same
//     name, all labelled apogee.dev/project and apogee.dev/release, so
//     `kubectl get all -l apogee.dev/project=api` shows a project.
//
// How instances map onto pods. The apps.Runtime interface starts one
// instance at a time; a Deployment counts replicas. Start raises the
// release's Deployment by one replica and returns an instance that
// follows one pod of the release: the first pod that no instance follows
// yet, which it claims by labelling it apogee.dev/instance=<id> (a
// merge patch with the pod's resourceVersion, so two claims never both win).
// When its pod dies for good (deleted, evicted) the instance counts a
// crash and claims the ReplicaSet's replacement; a container restart
// (liveness, exit) is a restart of the same instance, with the
// container's last state as its LastExit. Stop marks the pod cheapest to
// remove (controller.kubernetes.io/pod-deletion-cost), lowers the
// replicas by one and deletes the pod with the grace asked for, then waits
// for the pod to be gone; the last instance of a release to stop deletes
// the release's objects, unless the release has a spare (Prestart: scale
// to zero keeps them at replicas 0). The Deployment's replicas are
// always the number of instances that run.
//
// The runtime watches pods, Deployments and the kubelet's Events about
// pods with informers (no polling): the pod's phase, container state and
// Ready condition give the instance's State; the Events say why a probe
// failed and which probe a container was killed for, which words the
// crash as the local runtime does; a Deployment whose rollout passed its
// progress deadline fails the instances still waiting for a pod. Runtime
// logs come from the pods' log API, streamed (follow) through
// logs.Capture's rate limit to the Observer; stdout and stderr arrive
// merged. Usage reads the metrics API (metrics-server). Release commands
// run as a Job (RunRelease).
//
// Dial connects to the pod's IP and the app's port, as Knative's
// activator does: the edge balances per instance (its in-flight counts
// feed the autoscaler), so neither the Service nor its EndpointSlices
// (the same ready pod IPs) are in the path.
//
// Images: the runtime asks Images for the release's image; ImageBuilder
// makes and pushes it with internal/ociimage (no Docker).
package kuberuntime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersappsv1 "k8s.io/client-go/listers/apps/v1"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	"k8s.io/utils/ptr"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/apps"
)

// Images gives the image of a release: built and pushed where the
// cluster pulls from, named by digest. Called once per Start; an
// implementation caches by release.
type Images interface {
	Image(ctx context.Context, s apps.Spec) (string, error)
}

// Options configure a Runtime.
type Options struct {
	// Client talks to the cluster; Namespace is where the apps run.
	Client    kubernetes.Interface
	Namespace string
	// Images makes releases into images.
	Images Images
	// RuntimeClassName, when set, is every pod's RuntimeClass (gvisor,
	// kata-fc: kernel-level isolation where the cluster offers one).
	RuntimeClassName string
	// Observer hears the instances' changes and output (nil: nobody).
	Observer apps.Observer
	Log      *slog.Logger
	// KeepOnClose leaves the pods running when the runtime closes: the
	// instances outlive Apogee, and the next runtime (an Apogee restart)
	// finds them (Instances lists them) and Start adopts them without
	// touching them. Without it Close stops every instance, as the
	// apps.Runtime contract says of a runtime whose instances live with
	// the server.
	KeepOnClose bool
	// Dial connects to a pod (default: a net.Dialer).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// NoLogs turns off the streaming of runtime logs.
	NoLogs bool
	// Metrics reads the metrics API (metrics.k8s.io, served by
	// metrics-server) for Instance.Usage; nil: Usage says there is none.
	Metrics metricsclient.Interface
}

// Runtime is the Kubernetes apps.Runtime.
type Runtime struct {
	started time.Time
	opts    Options
	client  kubernetes.Interface
	ns      string
	log     *slog.Logger
	factory informers.SharedInformerFactory
	events  informers.SharedInformerFactory // the kubelet's events about pods
	pods    listerscorev1.PodLister
	deploys listersappsv1.DeploymentLister
	ctx     context.Context // ends at Close: the informers, the log streams
	cancel  context.CancelFunc

	mu            sync.Mutex
	metricsOK     bool                        // the cluster answered for the metrics API
	jobs          map[string]chan *corev1.Pod // RunRelease's waits, by project/release
	metricsWarned bool
	instances     map[string]*instance // by ID: running, and found at start
	releases      map[string]*sync.Mutex
	spares        map[string]apps.Spec // by release: kept at replicas 0 (Prestart)
	closed        bool
}

var (
	_ apps.Runtime    = (*Runtime)(nil)
	_ apps.Prestarter = (*Runtime)(nil)
)

// Prestart is scale to zero's spare on Kubernetes: the release's objects
// (Secret, Service, Deployment) are made, or kept when its last instance
// stops, with replicas 0, so that the Start that wakes the app only
// scales the Deployment up (its image built and pushed, nothing else to
// create). Again does nothing.
func (r *Runtime) Prestart(ctx context.Context, s apps.Spec) error {
	s = s.WithDefaults()
	if err := validate(s); err != nil {
		return err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return apogee.Errorf(apogee.ECONFLICT, "the Kubernetes runtime is closed")
	}
	if _, ok := r.spares[s.Release]; ok {
		r.mu.Unlock()
		return nil
	}
	r.mu.Unlock()
	rel := r.releaseLock(s.Release)
	rel.Lock()
	defer rel.Unlock()
	image, err := r.opts.Images.Image(ctx, s)
	if err != nil {
		return fmt.Errorf("kuberuntime: the image of release %s: %w", s.Release, err)
	}
	r.mu.Lock()
	n := r.countLocked(s.Release)
	r.mu.Unlock()
	if err := r.apply(ctx, s, image, int32(n)); err != nil {
		return err
	}
	r.mu.Lock()
	r.spares[s.Release] = s
	r.mu.Unlock()
	return nil
}

// DropSpare forgets release's spare and, when no instance of it runs,
// deletes its objects.
func (r *Runtime) DropSpare(release string) {
	rel := r.releaseLock(release)
	rel.Lock()
	defer rel.Unlock()
	r.mu.Lock()
	s, ok := r.spares[release]
	delete(r.spares, release)
	n := r.countLocked(release)
	r.mu.Unlock()
	if !ok || n > 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.deleteRelease(ctx, s); err != nil {
		r.log.Warn("deleting a spare release's objects failed", "release", release, "err", err)
	}
}

// hasSpare: release's objects stay at replicas 0 when its last instance
// stops.
func (r *Runtime) hasSpare(release string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.spares[release]
	return ok
}

// New starts the runtime's informers on the namespace and waits for
// their caches; the pods found there become instances (Instances lists
// them; Start adopts them).
func New(ctx context.Context, o Options) (*Runtime, error) {
	if o.Client == nil || o.Namespace == "" || o.Images == nil {
		return nil, errors.New("kuberuntime: Client, Namespace and Images are required")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Dial == nil {
		d := &net.Dialer{}
		o.Dial = d.DialContext
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &Runtime{started: time.Now().Add(-time.Second), opts: o, client: o.Client, ns: o.Namespace, log: o.Log, ctx: rctx, cancel: cancel,
		instances: map[string]*instance{}, releases: map[string]*sync.Mutex{}, spares: map[string]apps.Spec{}}
	r.factory = informers.NewSharedInformerFactoryWithOptions(o.Client, 0, informers.WithNamespace(o.Namespace),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = LabelManagedBy + "=" + ManagedBy }))
	podInf := r.factory.Core().V1().Pods()
	depInf := r.factory.Apps().V1().Deployments()
	r.pods, r.deploys = podInf.Lister(), depInf.Lister()
	handler := func(f func(obj any)) cache.ResourceEventHandlerFuncs {
		return cache.ResourceEventHandlerFuncs{
			AddFunc:    f,
			UpdateFunc: func(_, obj any) { f(obj) },
			DeleteFunc: func(obj any) {
				if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = t.Obj
				}
				f(deleted{obj})
			},
		}
	}
	if _, err := podInf.Informer().AddEventHandler(handler(r.podEvent)); err != nil {
		cancel()
		return nil, fmt.Errorf("kuberuntime: %w", err)
	}
	if _, err := depInf.Informer().AddEventHandler(handler(r.deploymentEvent)); err != nil {
		cancel()
		return nil, fmt.Errorf("kuberuntime: %w", err)
	}
	// Events carry no labels: they are chosen by the kind of object
	// they are about.
	r.events = informers.NewSharedInformerFactoryWithOptions(o.Client, 0, informers.WithNamespace(o.Namespace),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
			lo.FieldSelector = fields.OneTermEqualSelector("involvedObject.kind", "Pod").String()
		}))
	if _, err := r.events.Core().V1().Events().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    r.kubeletEvent,
		UpdateFunc: func(_, obj any) { r.kubeletEvent(obj) },
	}); err != nil {
		cancel()
		return nil, fmt.Errorf("kuberuntime: %w", err)
	}
	r.factory.Start(rctx.Done())
	r.events.Start(rctx.Done())
	for _, f := range []informers.SharedInformerFactory{r.factory, r.events} {
		for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				cancel()
				r.factory.Shutdown()
				r.events.Shutdown()
				return nil, fmt.Errorf("kuberuntime: the %v informer of namespace %s did not sync: %w", typ, o.Namespace, context.Cause(ctx))
			}
		}
	}
	r.adoptFound()
	return r, nil
}

// deleted wraps an object the informer saw deleted.
type deleted struct{ obj any }

// adoptFound makes the pods an earlier runtime left into instances, which
// Start hands out before it scales up.
func (r *Runtime) adoptFound() {
	pods, _ := r.pods.List(labels.Everything())
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		d, err := r.deploys.Deployments(r.ns).Get(ReleaseName(p.Labels[LabelProject], p.Labels[LabelRelease]))
		if err != nil {
			continue
		}
		s, ok := specOf(d)
		if !ok {
			continue
		}
		id := p.Labels[LabelInstance]
		if id == "" {
			id = "k" + apogee.NewID()
		}
		in := r.newInstance(id, s)
		in.found = true
		in.setPod(p.Name)
		in.claimed()
		r.mu.Lock()
		r.instances[id] = in
		r.mu.Unlock()
		in.update(p)
		r.log.Info("found a running instance", "project", s.Project, "release", s.Release, "instance", id, "pod", p.Name)
	}
}

// Start makes sure the release's objects exist and raises its replicas
// by one (or adopts an instance found at start), and returns at once.
func (r *Runtime) Start(ctx context.Context, s apps.Spec) (apps.Instance, error) {
	s = s.WithDefaults()
	if err := validate(s); err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, apogee.Errorf(apogee.ECONFLICT, "the Kubernetes runtime is closed")
	}
	for _, in := range r.instances {
		if in.found && in.spec.Release == s.Release && in.spec.Project == s.Project {
			in.found = false // adopted: it keeps its pod and Apogee's count
			in.spec.Env = s.Env
			r.mu.Unlock()
			return in, nil
		}
	}
	r.mu.Unlock()
	rel := r.releaseLock(s.Release)
	rel.Lock()
	defer rel.Unlock()
	image, err := r.opts.Images.Image(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("kuberuntime: the image of release %s: %w", s.Release, err)
	}
	in := r.newInstance("k"+apogee.NewID(), s)
	r.mu.Lock()
	r.instances[in.id] = in
	n := r.countLocked(s.Release)
	r.mu.Unlock()
	if err := r.apply(ctx, s, image, int32(n)); err != nil {
		r.mu.Lock()
		delete(r.instances, in.id)
		r.mu.Unlock()
		return nil, err
	}
	in.setState(apps.StateStarting, "waiting for a pod of "+ReleaseName(s.Project, s.Release))
	r.claimFor(s.Project, s.Release)
	return in, nil
}

// countLocked is how many instances of release run here, not counting
// the ones stopping.
func (r *Runtime) countLocked(release string) int {
	n := 0
	for _, in := range r.instances {
		if in.spec.Release == release && !in.isStopping() {
			n++
		}
	}
	return n
}

// apply creates or updates the release's objects with replicas.
func (r *Runtime) apply(ctx context.Context, s apps.Spec, image string, replicas int32) error {
	pr, err := r.projectObject(ctx, s.Project)
	if err != nil {
		return err
	}
	objs, err := ReleaseObjects(s, pr, ObjectOptions{Namespace: r.ns, Image: image, RuntimeClassName: r.opts.RuntimeClassName, Replicas: replicas})
	if err != nil {
		return err
	}
	if err := r.applySecret(ctx, objs.Secret); err != nil {
		return err
	}
	if _, err := r.client.CoreV1().Services(r.ns).Create(ctx, objs.Service, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("kuberuntime: create service %s: %w", objs.Service.Name, err)
	}
	deploys := r.client.AppsV1().Deployments(r.ns)
	_, err = deploys.Create(ctx, objs.Deployment, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		err = r.scale(ctx, objs.Deployment.Name, func(int32) int32 { return replicas })
	}
	if err != nil {
		return fmt.Errorf("kuberuntime: deployment %s: %w", objs.Deployment.Name, err)
	}
	return nil
}

// scale sets a Deployment's replicas to f(now), retrying on conflicts.
func (r *Runtime) scale(ctx context.Context, name string, f func(int32) int32) error {
	deploys := r.client.AppsV1().Deployments(r.ns)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := deploys.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		want := f(ptr.Deref(d.Spec.Replicas, 1))
		if ptr.Deref(d.Spec.Replicas, 1) == want {
			return nil
		}
		d.Spec.Replicas = ptr.To(want)
		_, err = deploys.Update(ctx, d, metav1.UpdateOptions{})
		return err
	})
}

// projectObject gets or makes the project's ConfigMap.
func (r *Runtime) projectObject(ctx context.Context, project string) (*corev1.ConfigMap, error) {
	cms := r.client.CoreV1().ConfigMaps(r.ns)
	cm, err := cms.Get(ctx, ProjectName(project), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cm, err = cms.Create(ctx, ProjectObject(r.ns, project), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			cm, err = cms.Get(ctx, ProjectName(project), metav1.GetOptions{})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("kuberuntime: the object of project %s: %w", project, err)
	}
	return cm, nil
}

// deleteRelease removes a release's objects when its last instance
// stopped (its pods go with the Deployment).
func (r *Runtime) deleteRelease(ctx context.Context, s apps.Spec) error {
	name := ReleaseName(s.Project, s.Release)
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &bg}
	var errs []error
	for what, del := range map[string]func(context.Context, string, metav1.DeleteOptions) error{
		"deployment": r.client.AppsV1().Deployments(r.ns).Delete,
		"service":    r.client.CoreV1().Services(r.ns).Delete,
		"secret":     r.client.CoreV1().Secrets(r.ns).Delete,
	} {
		n := name
		if what == "secret" {
			n += "-env"
		}
		if err := del(ctx, n, opts); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("kuberuntime: delete %s %s: %w", what, n, err))
		}
	}
	return errors.Join(errs...)
}

// Instances lists the instances that run, those found at start among
// them.
func (r *Runtime) Instances() []apps.Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := make([]apps.Instance, 0, len(r.instances))
	for _, in := range r.instances {
		list = append(list, in)
	}
	return list
}

// Close stops every instance (unless KeepOnClose) and the informers.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	list := make([]*instance, 0, len(r.instances))
	for _, in := range r.instances {
		list = append(list, in)
	}
	r.mu.Unlock()
	var errs []error
	if !r.opts.KeepOnClose {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, in := range list {
			wg.Go(func() {
				if err := in.Stop(ctx, 0); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		r.mu.Lock()
		var spares []string
		for rel := range r.spares {
			spares = append(spares, rel)
		}
		r.mu.Unlock()
		for _, rel := range spares {
			r.DropSpare(rel)
		}
	}
	r.cancel()
	r.factory.Shutdown()
	r.events.Shutdown()
	return errors.Join(errs...)
}

// hasMetricsAPI checks that the cluster serves the metrics API (asked
// until it once did: metrics-server may be installed later).
func (r *Runtime) hasMetricsAPI() error {
	r.mu.Lock()
	ok := r.metricsOK
	r.mu.Unlock()
	if ok {
		return nil
	}
	if _, err := r.opts.Metrics.Discovery().ServerResourcesForGroupVersion("metrics.k8s.io/v1beta1"); err != nil {
		r.mu.Lock()
		warned := r.metricsWarned
		r.metricsWarned = true
		r.mu.Unlock()
		if !warned {
			r.log.Warn("the cluster has no metrics API (metrics.k8s.io): instances show no usage until metrics-server is installed", "err", err)
		}
		return apogee.Errorf(apogee.EUNAVAILABLE, "the cluster has no metrics API (metrics.k8s.io/v1beta1): install metrics-server for the apps' usage figures and the autoscaler (%v)", err)
	}
	r.mu.Lock()
	r.metricsOK = true
	r.mu.Unlock()
	return nil
}

// kubeletEvent hands the kubelet's word about a pod's probes to the
// instance that follows the pod. Events older than the runtime (found
// by the informer's first list) are history, and skipped.
func (r *Runtime) kubeletEvent(obj any) {
	ev, ok := obj.(*corev1.Event)
	if !ok || ev.InvolvedObject.Kind != "Pod" || (ev.Reason != "Unhealthy" && ev.Reason != "Killing") {
		return
	}
	if t := eventTime(ev); !t.IsZero() && t.Before(r.started) {
		return
	}
	r.mu.Lock()
	var in *instance
	for _, x := range r.instances {
		if x.podName() == ev.InvolvedObject.Name {
			in = x
			break
		}
	}
	r.mu.Unlock()
	if in != nil {
		in.probeEvent(ev.Reason, ev.Message)
	}
}

func eventTime(ev *corev1.Event) time.Time {
	switch {
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	}
	return ev.FirstTimestamp.Time
}

// podEvent hands a pod's news to the instance that follows it, or lets
// an instance waiting for a pod claim it.
func (r *Runtime) podEvent(obj any) {
	d, gone := obj.(deleted)
	if gone {
		obj = d.obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if p.Labels[LabelReleaseCommand] != "" {
		if !gone {
			r.jobPodEvent(p)
		}
		return
	}
	r.mu.Lock()
	var in *instance
	if id := p.Labels[LabelInstance]; id != "" {
		in = r.instances[id]
	}
	if in == nil {
		// A pod not yet labelled that an instance claimed (the informer
		// has not seen the label yet), or nobody's.
		for _, x := range r.instances {
			if x.podName() == p.Name {
				in = x
				break
			}
		}
	}
	r.mu.Unlock()
	if in != nil {
		if gone {
			in.podGone(p)
			r.claimFor(p.Labels[LabelProject], p.Labels[LabelRelease])
		} else {
			in.update(p)
		}
		return
	}
	if !gone {
		r.claimFor(p.Labels[LabelProject], p.Labels[LabelRelease])
	}
}

// claimFor gives the release's unclaimed pods to its instances waiting
// for one, oldest instance first.
func (r *Runtime) claimFor(project, release string) {
	if project == "" || release == "" {
		return
	}
	sel := labels.SelectorFromSet(labels.Set{LabelProject: project, LabelRelease: release})
	pods, err := r.pods.Pods(r.ns).List(sel)
	if err != nil {
		return
	}
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		r.mu.Lock()
		if id := p.Labels[LabelInstance]; id != "" && r.instances[id] != nil {
			r.mu.Unlock()
			continue // followed
		}
		var waiting *instance
		taken := false
		for _, x := range r.instances {
			if x.podName() == p.Name {
				taken = true
			}
			if x.spec.Release == release && x.podName() == "" && !x.isStopping() &&
				(waiting == nil || x.created.Before(waiting.created)) {
				waiting = x
			}
		}
		if taken || waiting == nil {
			r.mu.Unlock()
			continue
		}
		waiting.setPod(p.Name)
		r.mu.Unlock()
		if err := r.label(p, waiting.id); err != nil {
			r.log.Warn("claiming a pod failed", "pod", p.Name, "instance", waiting.id, "err", err)
			waiting.setPod("")
			continue
		}
		waiting.claimed()
		waiting.update(p)
	}
}

// label claims pod p for instance id, unless it changed meanwhile: a
// merge patch of the label with the pod's resourceVersion, which the API
// server takes as a precondition (a stale one is a conflict), and which
// touches nothing else of the pod.
func (r *Runtime) label(p *corev1.Pod, id string) error {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": p.ResourceVersion,
		"labels":          map[string]string{LabelInstance: id},
	}})
	if err != nil {
		return err
	}
	_, err = r.client.CoreV1().Pods(r.ns).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

// deploymentEvent fails the waiting instances of a release whose rollout
// passed its deadline.
func (r *Runtime) deploymentEvent(obj any) {
	if g, gone := obj.(deleted); gone {
		if d, ok := g.obj.(*appsv1.Deployment); ok {
			r.drifted(d.Labels[LabelProject], d.Labels[LabelRelease], -1)
		}
		return
	}
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return
	}
	r.drifted(d.Labels[LabelProject], d.Labels[LabelRelease], ptr.Deref(d.Spec.Replicas, 1))
	for _, c := range d.Status.Conditions {
		if c.Type != appsv1.DeploymentProgressing || c.Status != corev1.ConditionFalse || c.Reason != "ProgressDeadlineExceeded" {
			continue
		}
		reason := "the rollout did not progress within its deadline"
		if c.Message != "" {
			reason += ": " + c.Message
		}
		r.mu.Lock()
		var stuck []*instance
		for _, in := range r.instances {
			if in.spec.Release == d.Labels[LabelRelease] && in.spec.Project == d.Labels[LabelProject] && !in.Ready() && !in.isStopping() {
				stuck = append(stuck, in)
			}
		}
		r.mu.Unlock()
		for _, in := range stuck {
			in.fail(reason)
		}
	}
}

// drifted converges a release's objects back to what runs here when the
// cluster says otherwise (replicas -1: its Deployment was deleted): a
// Deployment deleted or scaled by hand while instances of the release
// run is made again, or scaled back, to one replica per instance.
func (r *Runtime) drifted(project, release string, replicas int32) {
	r.mu.Lock()
	if r.closed || release == "" {
		r.mu.Unlock()
		return
	}
	n := r.countLocked(release)
	r.mu.Unlock()
	if n == 0 || int32(n) == replicas {
		return
	}
	go r.reconcile(project, release)
}

func (r *Runtime) reconcile(project, release string) {
	rel := r.releaseLock(release)
	rel.Lock()
	defer rel.Unlock()
	r.mu.Lock()
	var s apps.Spec
	n := 0
	for _, in := range r.instances {
		if in.spec.Release == release && in.spec.Project == project && !in.isStopping() {
			s, n = in.spec, n+1
		}
	}
	closed := r.closed
	r.mu.Unlock()
	if closed || n == 0 {
		return
	}
	if d, err := r.deploys.Deployments(r.ns).Get(ReleaseName(project, release)); err == nil && ptr.Deref(d.Spec.Replicas, 1) == int32(n) {
		return // converged meanwhile
	}
	ctx, cancel := context.WithTimeout(r.ctx, time.Minute)
	defer cancel()
	image, err := r.opts.Images.Image(ctx, s)
	if err == nil {
		err = r.apply(ctx, s, image, int32(n))
	}
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("converging a release's objects failed", "project", project, "release", release, "err", err)
		}
		return
	}
	r.log.Info("converged a release's objects", "project", project, "release", release, "replicas", n)
}

// validate checks a Spec (with its defaults) as the contract says.
func validate(s apps.Spec) error {
	switch {
	case s.Project == "" || s.Release == "":
		return apogee.Errorf(apogee.EINVALID, "an instance needs its project and release")
	case apogee.ValidateProjectName(s.Project) != nil:
		return apogee.ValidateProjectName(s.Project)
	case !dnsLabel(s.Release):
		return apogee.Errorf(apogee.EINVALID, "release %q is not a DNS label", s.Release)
	case s.Sandbox != "":
		return apogee.Errorf(apogee.EINVALID, "this server runs apps on Kubernetes, which has no %q sandbox (the cluster's RuntimeClass isolates pods: --kube-runtime-class)", s.Sandbox)
	case strings.TrimSpace(s.Command) == "":
		return apogee.Errorf(apogee.EINVALID, "the release has no start command")
	case strings.ContainsRune(s.Command, 0):
		return apogee.Errorf(apogee.EINVALID, "the start command contains a NUL byte")
	case s.Port < 1 || s.Port > 65535:
		return apogee.Errorf(apogee.EINVALID, "port %d is out of range", s.Port)
	case !strings.HasPrefix(s.Health.Path, "/"):
		return apogee.Errorf(apogee.EINVALID, "the health check path %q must start with /", s.Health.Path)
	case s.Limits.MemoryBytes < 0 || s.Limits.CPUs < 0 || s.Limits.Pids < 0:
		return apogee.Errorf(apogee.EINVALID, "negative limit")
	case s.Health.BootTimeout < 0 || s.Health.BootInterval < 0 || s.Health.Interval < 0 || s.Health.Timeout < 0 ||
		s.Health.Unready < 0 || s.Health.Replace < 0 || s.Restart.StopGrace < 0:
		return apogee.Errorf(apogee.EINVALID, "negative duration in the health or restart settings")
	case s.Health.Replace < s.Health.Unready:
		return apogee.Errorf(apogee.EINVALID, "the health check replaces an instance (after %s) before it takes it out of rotation (after %s)", s.Health.Replace, s.Health.Unready)
	}
	if s.Dir != "" && !filepath.IsAbs(s.Dir) {
		return apogee.Errorf(apogee.EINVALID, "the release tree %s is not an absolute path", s.Dir)
	}
	if s.Dir != "" {
		if fi, err := os.Stat(s.Dir); err != nil || !fi.IsDir() {
			return apogee.Errorf(apogee.EINVALID, "the release tree %s is not a folder", s.Dir)
		}
	}
	for _, kv := range s.Env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return apogee.Errorf(apogee.EINVALID, "environment entry %q is not KEY=VALUE", k)
		}
	}
	return nil
}

func dnsLabel(s string) bool {
	if s == "" || len(s) > 40 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
