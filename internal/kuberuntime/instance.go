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
	"github.com/apogee-dev/apogee/internal/logs"
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
	seenRV    uint64 // the newest resourceVersion of the pod seen
	pods      int    // pods followed so far
	wasReady  bool   // the current container was ready once
	stopping  bool
	stopGrace time.Duration
	killNoted bool
	gone      chan struct{} // closed when the followed pod is gone
	logStop   context.CancelFunc
	logs      sync.WaitGroup  // the log streams running
	capture   *logs.Capture   // the output's rate limit and the notes
	streamed  map[string]bool // containers whose logs were read
	ended     map[string]bool // containers whose end was counted
	// What the kubelet's events said of the followed pod's probes: the
	// last failure of each probe ("Startup", "Readiness", "Liveness"),
	// and the probe it last killed the container for.
	probes   map[string]string
	killedBy string
	endedAt  time.Time
	// The CPU time estimated from the metrics API's rates (see Usage).
	cpuTime time.Duration
	cpuAt   time.Time
}

var _ apps.Instance = (*instance)(nil)

func (r *Runtime) newInstance(id string, s apps.Spec) *instance {
	now := time.Now()
	in := &instance{r: r, id: id, spec: s, created: now, changed: make(chan struct{}),
		st:       apps.Status{ID: id, Project: s.Project, Release: s.Release, State: apps.StateStarting, Created: now},
		streamed: map[string]bool{}, ended: map[string]bool{}, probes: map[string]string{}}
	in.capture = logs.NewCapture(id, func(l apogee.LogLine) {
		if o := r.opts.Observer; o != nil {
			o.InstanceOutput(apps.Line{Project: s.Project, Release: s.Release, LogLine: l})
		}
	}, logs.CaptureOptions{})
	return in
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
	in.probes, in.killedBy, in.seenRV = map[string]string{}, "", 0
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
	// A pod read before an event already seen (a claim reads the cache,
	// then patches) is older news. resourceVersions are opaque, but the
	// API server's (etcd's revisions) are numbers that grow: compared
	// when both are.
	if rv, err := strconv.ParseUint(p.ResourceVersion, 10, 64); err == nil {
		if rv < in.seenRV {
			return
		}
		in.seenRV = rv
	}
	in.podIP = p.Status.PodIP
	var cs *corev1.ContainerStatus
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == containerName {
			cs = &p.Status.ContainerStatuses[i]
		}
	}
	if in.stopping {
		// The kubelet's last word before the pod goes: a container
		// killed after the grace did not leave on SIGTERM.
		if cs != nil && cs.State.Terminated != nil && !in.killNoted && exitOf(cs.State.Terminated, 0).Signal == 9 {
			in.killNoted = true
			in.note(fmt.Sprintf("did not exit within %s of SIGTERM: killed", in.stopGrace))
		}
		if cs != nil && cs.State.Terminated != nil {
			in.readLogs(p.Name, cs.State.Terminated.ContainerID, false)
		}
		return
	}
	if p.DeletionTimestamp != nil {
		in.st.Failures++
		in.setLocked(apps.StateCrashed, "pod "+p.Name+" is being deleted")
		return
	}
	if cs != nil {
		// Containers that ended: counted once each, their output read
		// (a container may end before it was seen running).
		if t := cs.LastTerminationState.Terminated; t != nil {
			in.containerEnded(p.Name, t, true)
		}
		if t := cs.State.Terminated; t != nil {
			in.containerEnded(p.Name, t, false)
		}
		if cs.RestartCount > in.restarts {
			in.st.Restarts += int(cs.RestartCount - in.restarts)
			in.restarts = cs.RestartCount
			in.wasReady = false
		}
		if run := cs.State.Running; run != nil {
			in.st.Started = run.StartedAt.Time
			if cs.ContainerID != "" && cs.ContainerID != in.container {
				in.container = cs.ContainerID
				in.streamed[cs.ContainerID] = true
				in.streamLogs(p.Name, cs.ContainerID, false, true)
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
	case cs != nil && cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff" && in.st.LastExit != nil:
		// Waiting to start again after a crash: the crash is the reason.
		in.setLocked(apps.StateCrashed, in.st.LastExit.Reason)
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
		in.setLocked(apps.StateCrashed, in.st.LastExit.Reason)
	case cs != nil && cs.State.Running != nil && podReady(p):
		in.wasReady = true
		in.setLocked(apps.StateReady, "")
	case cs != nil && cs.State.Running != nil && in.wasReady:
		in.setLocked(apps.StateUnhealthy, in.unreadyReason())
	case cs != nil && cs.State.Running != nil:
		in.setLocked(apps.StateStarting, "booting in pod "+p.Name)
	default:
		in.setLocked(apps.StateStarting, "pod "+p.Name+" is "+strings.ToLower(string(p.Status.Phase)))
	}
}

// containerEnded counts the end of a container once, as the instance's
// last exit (with the probe the kubelet killed it for, if it said so),
// and reads the output of a container not streamed; in.mu is held.
func (in *instance) containerEnded(pod string, t *corev1.ContainerStateTerminated, previous bool) {
	id := t.ContainerID
	if id == "" {
		id = t.StartedAt.String() + "/" + t.FinishedAt.String()
	}
	if in.ended[id] {
		return
	}
	in.ended[id] = true
	exit := exitOf(t, in.spec.Limits.MemoryBytes)
	if in.killedBy != "" {
		exit.Health, exit.Reason = true, in.killReason(in.killedBy)
		in.killedBy = ""
	}
	in.st.LastExit = exit
	in.st.Failures++
	in.endedAt = time.Now()
	in.note("crashed: " + exit.Reason + "; restarting")
	in.readLogs(pod, t.ContainerID, previous)
}

// readLogs reads the whole output of a container that ended, unless it
// was streamed; in.mu is held.
func (in *instance) readLogs(pod, container string, previous bool) {
	if container == "" || in.streamed[container] {
		return
	}
	in.streamed[container] = true
	in.streamLogs(pod, container, previous, false)
}

// probeEvent takes the kubelet's word on the followed pod's probes (an
// Event "Unhealthy": "Readiness probe failed: …", or "Killing":
// "Container app failed liveness probe, will be restarted").
func (in *instance) probeEvent(reason, message string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	switch reason {
	case "Unhealthy":
		kind, msg, ok := strings.Cut(message, " probe failed: ")
		if !ok {
			return
		}
		in.probes[kind] = msg
		if kind == "Readiness" && in.st.State == apps.StateUnhealthy {
			in.setLocked(apps.StateUnhealthy, in.unreadyReason())
		}
	case "Killing":
		kind := ""
		switch {
		case strings.Contains(message, "failed liveness probe"):
			kind = "Liveness"
		case strings.Contains(message, "failed startup probe"):
			kind = "Startup"
		default:
			return
		}
		// The event may come after the container's end (two watches):
		// then the end just counted is the one it speaks of.
		if e := in.st.LastExit; e != nil && !e.Health && time.Since(in.endedAt) < 10*time.Second && !in.stopping {
			e2 := *e
			e2.Health, e2.Reason = true, in.killReason(kind)
			in.st.LastExit = &e2
			if in.st.State == apps.StateCrashed {
				in.st.Reason = "" // set again, with the news
				in.setLocked(apps.StateCrashed, e2.Reason)
			}
			return
		}
		in.killedBy = kind
	}
}

// probeText says what a probe's failure means for the app, from the
// kubelet's message ("HTTP probe failed with statuscode: 500",
// "Get …: dial tcp …: connect: connection refused", "… Client.Timeout
// exceeded …"), and whether nothing listened.
func (in *instance) probeText(msg string) (string, bool) {
	h := in.spec.Health
	switch {
	case msg == "":
		return fmt.Sprintf("GET %s failed", h.Path), false
	case strings.Contains(msg, "statuscode: "):
		_, code, _ := strings.Cut(msg, "statuscode: ")
		return fmt.Sprintf("GET %s answered %s", h.Path, strings.TrimSpace(code)), false
	case strings.Contains(msg, "connection refused"):
		return fmt.Sprintf("nothing listens on PORT %d", in.spec.Port), true
	case strings.Contains(msg, "Client.Timeout") || strings.Contains(msg, "deadline exceeded") || strings.Contains(msg, "timeout"):
		return fmt.Sprintf("GET %s did not answer within %s", h.Path, time.Duration(seconds(h.Timeout))*time.Second), false
	}
	return msg, false
}

// killReason says why the kubelet killed the container for probe kind.
func (in *instance) killReason(kind string) string {
	h := in.spec.Health
	text, refused := in.probeText(in.probes[kind])
	if kind == "Startup" {
		p, n := probeTiming(h.BootInterval, h.BootTimeout)
		window := time.Duration(p*n) * time.Second
		if refused {
			return fmt.Sprintf("boot timeout: the app did not listen on PORT %d within %s", in.spec.Port, window)
		}
		return fmt.Sprintf("boot timeout: the app was not ready within %s: %s", window, text)
	}
	p, n := probeTiming(h.Interval, h.Replace)
	return fmt.Sprintf("failed its health check for %s (%s): replacing it", time.Duration(p*n)*time.Second, text)
}

// unreadyReason says why a ready instance left the rotation.
func (in *instance) unreadyReason() string {
	if msg, ok := in.probes["Readiness"]; ok {
		text, _ := in.probeText(msg)
		return "failing its readiness check: " + text
	}
	return "failing its readiness check (" + in.spec.Health.Path + ")"
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
	case t.ExitCode > 128 && t.ExitCode <= 128+64:
		// The runtimes report a kill as 128+signal (the shell's way).
		e.Signal = int(t.ExitCode - 128)
		e.Reason = fmt.Sprintf("killed by signal %d", e.Signal)
	case t.ExitCode == 127:
		e.Reason = "exited with code 127: the start command was not found"
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
	// The log streams end with their containers: they are left to
	// deliver the last lines.
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
	in.capture.Systemf("%s", text)
}

// streamLogs reads a container's output from the pods' log API (the
// running one's, following it until it ends, or, with previous, the one
// before it) into the instance's capture, which keeps it within the
// instance's rate; in.mu is held. The log API merges stdout and stderr
// (the stream split, PodLogsQuerySplitStreams, is alpha): every line is
// stdout.
func (in *instance) streamLogs(pod, container string, previous, follow bool) {
	if in.r.opts.NoLogs || in.r.opts.Observer == nil {
		return
	}
	ctx, cancel := context.WithCancel(in.r.ctx)
	if follow {
		if in.logStop != nil {
			in.logStop()
		}
		in.logStop = cancel
	}
	in.logs.Add(1)
	go func() {
		defer in.logs.Done()
		defer cancel()
		opts := &corev1.PodLogOptions{Container: containerName, Follow: follow, Previous: previous, Timestamps: true}
		rc, err := in.r.client.CoreV1().Pods(in.r.ns).GetLogs(pod, opts).Stream(ctx)
		if err != nil {
			if ctx.Err() == nil {
				in.r.log.Warn("runtime logs unavailable", "pod", pod, "container", container, "err", err)
			}
			return
		}
		defer rc.Close()
		w := in.capture.Stream(apogee.StreamStdout)
		defer w.Close()
		sc := bufio.NewScanner(rc)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if ts, rest, ok := strings.Cut(line, " "); ok {
				if _, err := time.Parse(time.RFC3339Nano, ts); err == nil {
					line = rest
				}
			}
			w.Write([]byte(line + "\n"))
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

// Usage is what the pod's app container uses, from the cluster's metrics
// API (metrics.k8s.io/v1beta1 PodMetrics, served by metrics-server).
// The metrics API gives a rate (CPU cores over its last window), not
// the CPU time the process used: CPU is that rate summed over the time
// between calls (a running estimate of the CPU time, which is what the
// autoscaler takes differences of). Pids are not in the metrics API: 0.
func (in *instance) Usage() (apps.Usage, error) {
	mc := in.r.opts.Metrics
	if mc == nil {
		return apps.Usage{}, errors.New("kuberuntime: no metrics API client (the server was started without one)")
	}
	in.mu.Lock()
	pod := in.pod
	in.mu.Unlock()
	if pod == "" {
		return apps.Usage{}, fmt.Errorf("kuberuntime: instance %s has no pod yet", in.id)
	}
	ctx, cancel := context.WithTimeout(in.r.ctx, 10*time.Second)
	defer cancel()
	if err := in.r.hasMetricsAPI(); err != nil {
		return apps.Usage{}, err
	}
	pm, err := mc.MetricsV1beta1().PodMetricses(in.r.ns).Get(ctx, pod, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return apps.Usage{}, fmt.Errorf("kuberuntime: the metrics API has no figures for pod %s yet (metrics-server reports a pod after its first scrape): %w", pod, err)
	}
	if err != nil {
		return apps.Usage{}, fmt.Errorf("kuberuntime: the metrics of pod %s: %w", pod, err)
	}
	var u apps.Usage
	var cores float64
	for _, c := range pm.Containers {
		if c.Name != containerName {
			continue
		}
		u.MemoryBytes = c.Usage.Memory().Value()
		cores = float64(c.Usage.Cpu().MilliValue()) / 1000
	}
	in.mu.Lock()
	now := time.Now()
	if !in.cpuAt.IsZero() {
		in.cpuTime += time.Duration(cores * float64(now.Sub(in.cpuAt)))
	}
	in.cpuAt = now
	u.CPU = in.cpuTime
	in.mu.Unlock()
	return u, nil
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
	if first {
		in.stopGrace = grace
	}
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
	// The last lines (the app's goodbye) come while the log stream
	// ends with the container; a stream still open after a few seconds
	// is cut.
	logsDone := make(chan struct{})
	go func() { in.logs.Wait(); close(logsDone) }()
	select {
	case <-logsDone:
	case <-time.After(3 * time.Second):
	case <-ctx.Done():
	}
	in.mu.Lock()
	if in.logStop != nil {
		in.logStop()
		in.logStop = nil
	}
	in.capture.Flush()
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
	if left == 0 && !r.hasSpare(s.Release) {
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
