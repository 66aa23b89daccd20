package kuberuntime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/apps"
)

// instance follows one pod of its release (see the package's doc).
type instance struct {
	r       *Runtime
	id      string
	spec    apps.Spec // guarded by r.mu for found's adoption
	created time.Time
	found   bool // found at start, not yet adopted by Start (r.mu)

	ready atomic.Bool

	mu        sync.Mutex
	st        apps.Status
	changed   chan struct{}
	pod       string // the pod it follows; "" while it waits for one
	podIP     string
	container string // the container's ID whose logs stream
	restarts  int32  // the pod's container restarts seen so far
	pods      int    // pods followed so far
	wasReady  bool   // the current container was ready once
	stopping  bool
	gone      chan struct{} // closed when the followed pod is gone
	logStop   context.CancelFunc
}

var _ apps.Instance = (*instance)(nil)

func (r *Runtime) newInstance(id string, s apps.Spec) *instance {
	now := time.Now()
	return &instance{r: r, id: id, spec: s, created: now, changed: make(chan struct{}),
		st: apps.Status{ID: id, Project: s.Project, Release: s.Release, State: apps.StateStarting, Created: now}}
}

func (in *instance) ID() string { return in.id }

func (in *instance) Spec() apps.Spec {
	in.r.mu.Lock()
	defer in.r.mu.Unlock()
	return in.spec
}

func (in *instance) Ready() bool { return in.ready.Load() }

func (in *instance) Status() apps.Status {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.st
}

func (in *instance) Changed() <-chan struct{} {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.changed
}

func (in *instance) podName() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.pod
}

func (in *instance) isStopping() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stopping
}

func (in *instance) setPod(name string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.pod, in.podIP, in.container, in.restarts, in.wasReady = name, "", "", 0, false
	if name != "" {
		in.gone = make(chan struct{})
	}
}

// claimed counts the pod the instance follows now: a pod after the
// first is a restart.
func (in *instance) claimed() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.pods++
	if in.pods > 1 {
		in.st.Restarts++
	}
}

// setState changes the state, telling the observer.
func (in *instance) setState(s apps.State, reason string) {
	in.mu.Lock()
	in.setLocked(s, reason)
	in.mu.Unlock()
}

// setLocked changes the state; in.mu is held. The observer hears of a
// change of state or reason.
func (in *instance) setLocked(s apps.State, reason string) {
	if in.st.State == apps.StateStopped {
		return
	}
	if in.st.State == s && in.st.Reason == reason {
		return
	}
	now := time.Now()
	if s == apps.StateReady && in.st.State != apps.StateReady {
		in.st.ReadySince = now
	}
	in.st.State, in.st.Reason = s, reason
	in.ready.Store(s == apps.StateReady)
	close(in.changed)
	in.changed = make(chan struct{})
	if o := in.r.opts.Observer; o != nil {
		o.InstanceChanged(in.st)
	}
}

// fail marks the release's rollout as failed for this instance: like
// a boot timeout of the local runtime, a health failure that the
// Manager does not wait out.
func (in *instance) fail(reason string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.stopping || in.st.State == apps.StateCrashed && in.st.Reason == reason {
		return
	}
	in.st.Failures++
	in.st.LastExit = &apps.Exit{Health: true, Reason: reason}
	in.setLocked(apps.StateCrashed, reason)
}

// update reads the instance's state off its pod.
func (in *instance) update(p *corev1.Pod) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.pod != p.Name || in.st.State == apps.StateStopped {
		return
	}
	in.podIP = p.Status.PodIP
	if in.stopping {
		return
	}
	if p.DeletionTimestamp != nil {
		in.st.Failures++
		in.setLocked(apps.StateCrashed, "pod "+p.Name+" is being deleted")
		return
	}
	var cs *corev1.ContainerStatus
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == containerName {
			cs = &p.Status.ContainerStatuses[i]
		}
	}
	if cs != nil {
		if cs.RestartCount > in.restarts {
			n := int(cs.RestartCount - in.restarts)
			in.st.Restarts += n
			in.st.Failures += n
			in.restarts = cs.RestartCount
			in.wasReady = false
			if t := cs.LastTerminationState.Terminated; t != nil {
				in.st.LastExit = exitOf(t, in.spec.Limits.MemoryBytes)
				in.note("exited: " + in.st.LastExit.Reason)
			}
		}
		if run := cs.State.Running; run != nil {
			in.st.Started = run.StartedAt.Time
			if cs.ContainerID != "" && cs.ContainerID != in.container {
				in.container = cs.ContainerID
				in.streamLogs(p.Name, run.StartedAt.Time)
			}
		}
	}
	switch {
	case p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded:
		reason := "pod " + p.Name + " " + strings.ToLower(string(p.Status.Phase))
		if p.Status.Reason != "" {
			reason += ": " + p.Status.Reason
		}
		if p.Status.Message != "" {
			reason += ": " + p.Status.Message
		}
		if in.st.State != apps.StateCrashed {
			in.st.Failures++
		}
		in.setLocked(apps.StateCrashed, reason)
	case cs != nil && cs.State.Waiting != nil && crashWait[cs.State.Waiting.Reason]:
		reason := cs.State.Waiting.Reason
		if m := cs.State.Waiting.Message; m != "" {
			reason += ": " + m
		}
		if in.st.State != apps.StateCrashed && cs.State.Waiting.Reason != "CrashLoopBackOff" {
			in.st.Failures++
		}
		in.setLocked(apps.StateCrashed, reason)
	case cs != nil && cs.State.Terminated != nil:
		if in.st.State != apps.StateCrashed {
			in.st.Failures++
			in.st.LastExit = exitOf(cs.State.Terminated, in.spec.Limits.MemoryBytes)
		}
		in.setLocked(apps.StateCrashed, exitOf(cs.State.Terminated, in.spec.Limits.MemoryBytes).Reason)
	case cs != nil && cs.State.Running != nil && podReady(p):
		in.wasReady = true
		in.setLocked(apps.StateReady, "")
	case cs != nil && cs.State.Running != nil && in.wasReady:
		in.setLocked(apps.StateUnhealthy, "failing its readiness check ("+in.spec.Health.Path+")")
	case cs != nil && cs.State.Running != nil:
		in.setLocked(apps.StateStarting, "booting in pod "+p.Name)
	default:
		in.setLocked(apps.StateStarting, "pod "+p.Name+" is "+strings.ToLower(string(p.Status.Phase)))
	}
}

// crashWait are the container waits that are failures, not a boot.
var crashWait = map[string]bool{
	"CrashLoopBackOff": true, "ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// exitOf says how a container ended, in the runtime's words.
func exitOf(t *corev1.ContainerStateTerminated, limit int64) *apps.Exit {
	e := &apps.Exit{Code: int(t.ExitCode), Signal: int(t.Signal)}
	switch {
	case t.Reason == "OOMKilled":
		e.OOM = true
		e.Reason = fmt.Sprintf("killed: out of memory (limit %d MiB)", limit>>20)
	case t.Signal != 0:
		e.Reason = "killed by signal " + strconv.Itoa(int(t.Signal))
	case t.ExitCode > 128:
		e.Reason = fmt.Sprintf("killed by signal %d", t.ExitCode-128)
	default:
		e.Reason = "exited with code " + strconv.Itoa(int(t.ExitCode))
	}
	if t.Reason == "StartError" || t.Reason == "ContainerCannotRun" {
		e.Reason = "could not start: " + t.Message
	}
	return e
}

// podGone is the informer's word that the followed pod is deleted.
func (in *instance) podGone(p *corev1.Pod) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.pod != p.Name {
		return
	}
	if in.gone != nil {
		close(in.gone)
		in.gone = nil
	}
	if in.logStop != nil {
		in.logStop()
		in.logStop = nil
	}
	if in.stopping {
		return
	}
	// Deleted under it (evicted, a node lost, kubectl delete): a crash;
	// the ReplicaSet's replacement is claimed next.
	in.pod, in.podIP, in.container = "", "", ""
	in.st.Failures++
	in.setLocked(apps.StateCrashed, "pod "+p.Name+" was deleted; waiting for its replacement")
}

// note tells the observer something about the instance; in.mu is held.
func (in *instance) note(text string) {
	if o := in.r.opts.Observer; o != nil {
		o.InstanceOutput(apps.Line{Project: in.spec.Project, Release: in.spec.Release,
			LogLine: apogee.LogLine{Time: time.Now(), Stream: apogee.StreamSystem, Text: text, Instance: in.id}})
	}
}

// streamLogs follows the container's log from the pods' log API until
// the container or the runtime ends; in.mu is held.
func (in *instance) streamLogs(pod string, since time.Time) {
	if in.r.opts.NoLogs || in.r.opts.Observer == nil {
		return
	}
	if in.logStop != nil {
		in.logStop()
	}
	ctx, cancel := context.WithCancel(in.r.ctx)
	in.logStop = cancel
	obs := in.r.opts.Observer
	project, release, id := in.spec.Project, in.spec.Release, in.id
	go func() {
		defer cancel()
		opts := &corev1.PodLogOptions{Container: containerName, Follow: true, Timestamps: true}
		if !since.IsZero() {
			opts.SinceTime = &metav1.Time{Time: since.Add(-time.Second)}
		}
		rc, err := in.r.client.CoreV1().Pods(in.r.ns).GetLogs(pod, opts).Stream(ctx)
		if err != nil {
			if ctx.Err() == nil {
				in.r.log.Warn("runtime logs unavailable", "pod", pod, "err", err)
			}
			return
		}
		defer rc.Close()
		sc := bufio.NewScanner(rc)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			t := time.Now()
			if ts, rest, ok := strings.Cut(line, " "); ok {
				if pt, err := time.Parse(time.RFC3339Nano, ts); err == nil {
					t, line = pt, rest
				}
			}
			obs.InstanceOutput(apps.Line{Project: project, Release: release,
				LogLine: apogee.LogLine{Time: t, Stream: apogee.StreamStdout, Text: line, Instance: id}})
		}
	}()
}

// Dial connects to the pod's IP and the app's port.
func (in *instance) Dial(ctx context.Context) (net.Conn, error) {
	in.mu.Lock()
	ip, state, port := in.podIP, in.st.State, in.spec.Port
	in.mu.Unlock()
	if state == apps.StateStopped {
		return nil, apps.ErrStopped
	}
	if ip == "" {
		return nil, fmt.Errorf("kuberuntime: instance %s has no running pod", in.id)
	}
	return in.r.opts.Dial(ctx, "tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
}

// Usage is not read from the cluster yet: that needs the metrics API
// (metrics-server).
func (in *instance) Usage() (apps.Usage, error) {
	return apps.Usage{}, errors.New("kuberuntime: usage comes from the cluster's metrics API, which this runtime does not read")
}

// Stop takes the instance out of rotation, lowers its release's replicas,
// deletes its pod with grace and waits for the pod to be gone.
func (in *instance) Stop(ctx context.Context, grace time.Duration) error {
	if grace <= 0 {
		grace = in.spec.Restart.StopGrace
	}
	in.mu.Lock()
	first := !in.stopping
	in.stopping = true
	pod, gone := in.pod, in.gone
	if gone == nil {
		pod = "" // gone already
	}
	if in.st.State != apps.StateStopped {
		in.setLocked(apps.StateStopping, "")
	}
	in.mu.Unlock()
	if first {
		if err := in.release(ctx, pod, grace); err != nil {
			return err
		}
	}
	if pod != "" && gone != nil {
		select {
		case <-gone:
		case <-ctx.Done():
			return fmt.Errorf("kuberuntime: stop instance %s (pod %s): %w", in.id, pod, ctx.Err())
		}
	}
	in.mu.Lock()
	if in.logStop != nil {
		in.logStop()
		in.logStop = nil
	}
	in.setLocked(apps.StateStopped, "")
	in.mu.Unlock()
	in.r.mu.Lock()
	delete(in.r.instances, in.id)
	in.r.mu.Unlock()
	return nil
}

// release gives the instance's replica and pod back.
func (in *instance) release(ctx context.Context, pod string, grace time.Duration) error {
	r := in.r
	s := in.spec
	rel := r.releaseLock(s.Release)
	rel.Lock()
	defer rel.Unlock()
	r.mu.Lock()
	left := r.countLocked(s.Release)
	r.mu.Unlock()
	pods := r.client.CoreV1().Pods(r.ns)
	if pod != "" {
		// The ReplicaSet removes this pod first should it act before our
		// delete.
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"-2147483647"}}}`, annotationDeletionCost)
		if _, err := pods.Patch(ctx, pod, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("kuberuntime: mark pod %s: %w", pod, err)
		}
	}
	if left == 0 {
		// The release's last instance: its objects go, pods with them.
		if pod != "" {
			sec := int64(grace.Seconds())
			if err := pods.Delete(ctx, pod, metav1.DeleteOptions{GracePeriodSeconds: &sec}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("kuberuntime: delete pod %s: %w", pod, err)
			}
		}
		return r.deleteRelease(ctx, s)
	}
	err := r.scale(ctx, ReleaseName(s.Project, s.Release), func(n int32) int32 { return int32(left) })
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("kuberuntime: scale %s down: %w", ReleaseName(s.Project, s.Release), err)
	}
	if pod != "" {
		sec := int64(grace.Seconds())
		if err := pods.Delete(ctx, pod, metav1.DeleteOptions{GracePeriodSeconds: &sec}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("kuberuntime: delete pod %s: %w", pod, err)
		}
	}
	return nil
}

func (r *Runtime) releaseLock(release string) *sync.Mutex {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.releases[release]
	if m == nil {
		m = &sync.Mutex{}
		r.releases[release] = m
	}
	return m
}
