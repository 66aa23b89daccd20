package kuberuntime

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/sandbox"
)

// RunRelease runs a release's release command as a Kubernetes Job
// (ReleaseJob) and waits for its pod to end, its output (stdout and
// stderr merged, as the pod log API gives them) copied to out. The
// result reads as a sandbox run's: the exit code, or "killed: memory
// limit …" / "killed: time limit …". The Job is deleted when done (its
// pod with it); a failed one stays for ten minutes (ttlSecondsAfterFinished)
// only if this delete fails. An error is the cluster's, not the
// command's.
func (r *Runtime) RunRelease(ctx context.Context, s apps.Spec, command string, timeout time.Duration, out io.Writer) (sandbox.Result, error) {
	s = s.WithDefaults()
	if err := validate(s); err != nil {
		return sandbox.Result{}, err
	}
	started := time.Now()
	image, err := r.opts.Images.Image(ctx, s)
	if err != nil {
		return sandbox.Result{}, fmt.Errorf("kuberuntime: the image of release %s: %w", s.Release, err)
	}
	pr, err := r.projectObject(ctx, s.Project)
	if err != nil {
		return sandbox.Result{}, err
	}
	o := ObjectOptions{Namespace: r.ns, Image: image, RuntimeClassName: r.opts.RuntimeClassName, Replicas: 0}
	objs, err := ReleaseObjects(s, pr, o)
	if err != nil {
		return sandbox.Result{}, err
	}
	if err := r.applySecret(ctx, objs.Secret); err != nil {
		return sandbox.Result{}, err
	}
	job, err := ReleaseJob(s, pr, o, command, timeout)
	if err != nil {
		return sandbox.Result{}, err
	}
	pods := make(chan *corev1.Pod, 1)
	r.mu.Lock()
	if r.jobs == nil {
		r.jobs = map[string]chan *corev1.Pod{}
	}
	key := s.Project + "/" + s.Release
	r.jobs[key] = pods
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.jobs, key)
		r.mu.Unlock()
	}()
	jobs := r.client.BatchV1().Jobs(r.ns)
	bg := metav1.DeletePropagationBackground
	// A Job left by an earlier try of this release goes first.
	if err := jobs.Delete(ctx, job.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
		return sandbox.Result{}, fmt.Errorf("kuberuntime: delete the old job %s: %w", job.Name, err)
	}
	created, err := jobs.Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		return sandbox.Result{}, fmt.Errorf("kuberuntime: create job %s: %w", job.Name, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := jobs.Delete(dctx, job.Name, metav1.DeleteOptions{PropagationPolicy: &bg,
			Preconditions: &metav1.Preconditions{UID: &created.UID}}); err != nil && !apierrors.IsNotFound(err) {
			r.log.Warn("deleting a release command's job failed", "job", job.Name, "err", err)
		}
	}()
	// Pods the informer already has (a fast kubelet).
	for _, p := range r.jobPods(s) {
		r.jobPodEvent(p)
	}
	var logs chan struct{}
	deadline := time.NewTimer(timeout + time.Minute) // the Job's own deadline, and its pod's grace
	defer deadline.Stop()
	for {
		var p *corev1.Pod
		select {
		case p = <-pods:
		case <-ctx.Done():
			return sandbox.Result{Reason: sandbox.ReasonCanceled, Duration: time.Since(started)}, nil
		case <-deadline.C:
			return sandbox.Result{ExitCode: 137, Reason: "killed: time limit " + timeout.String(), Duration: time.Since(started)}, nil
		}
		if !ownedBy(p, created.UID) {
			continue
		}
		var cs *corev1.ContainerStatus
		for i := range p.Status.ContainerStatuses {
			if p.Status.ContainerStatuses[i].Name == containerName {
				cs = &p.Status.ContainerStatuses[i]
			}
		}
		if cs == nil {
			continue
		}
		if w := cs.State.Waiting; w != nil && crashWait[w.Reason] {
			return sandbox.Result{}, fmt.Errorf("kuberuntime: the release command's pod %s cannot start: %s: %s", p.Name, w.Reason, w.Message)
		}
		if logs == nil && (cs.State.Running != nil || cs.State.Terminated != nil) {
			logs = make(chan struct{})
			go r.copyLogs(ctx, p.Name, out, logs)
		}
		t := cs.State.Terminated
		if t == nil {
			continue
		}
		select {
		case <-logs:
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
		}
		res := sandbox.Result{ExitCode: int(t.ExitCode), Reason: sandbox.ReasonExited, Duration: time.Since(started)}
		switch {
		case t.Reason == "OOMKilled":
			res.Reason = fmt.Sprintf("killed: memory limit %d MiB", s.Limits.MemoryBytes>>20)
		case p.Status.Reason == "DeadlineExceeded":
			res.Reason = "killed: time limit " + timeout.String()
		}
		return res, nil
	}
}

// ownedBy: p is a pod of the Job uid.
func ownedBy(p *corev1.Pod, uid types.UID) bool {
	for _, o := range p.OwnerReferences {
		if o.UID == uid {
			return true
		}
	}
	return false
}

func releaseCommandSelector(s apps.Spec) labels.Selector {
	return labels.SelectorFromSet(labels.Set{LabelProject: s.Project, LabelReleaseCommand: s.Release})
}

func (r *Runtime) jobPods(s apps.Spec) []*corev1.Pod {
	pods, _ := r.pods.Pods(r.ns).List(releaseCommandSelector(s))
	return pods
}

// jobPodEvent hands a release command's pod to RunRelease.
func (r *Runtime) jobPodEvent(p *corev1.Pod) {
	r.mu.Lock()
	ch := r.jobs[p.Labels[LabelProject]+"/"+p.Labels[LabelReleaseCommand]]
	r.mu.Unlock()
	if ch == nil {
		return
	}
	// The newest news wins: an older one not yet read goes.
	select {
	case ch <- p:
	default:
		select {
		case <-ch:
		default:
		}
		select {
		case ch <- p:
		default:
		}
	}
}

// copyLogs follows the pod's log into out.
func (r *Runtime) copyLogs(ctx context.Context, pod string, out io.Writer, done chan struct{}) {
	defer close(done)
	rc, err := r.client.CoreV1().Pods(r.ns).GetLogs(pod, &corev1.PodLogOptions{Container: containerName, Follow: true}).Stream(ctx)
	if err != nil {
		fmt.Fprintf(out, "(the release command's output is unavailable: %v)\n", err)
		return
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fmt.Fprintln(out, sc.Text())
	}
}

// applySecret creates or updates a release's Secret.
func (r *Runtime) applySecret(ctx context.Context, sec *corev1.Secret) error {
	secrets := r.client.CoreV1().Secrets(r.ns)
	if _, err := secrets.Create(ctx, sec, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("kuberuntime: update secret %s: %w", sec.Name, err)
		}
	} else if err != nil {
		return fmt.Errorf("kuberuntime: create secret %s: %w", sec.Name, err)
	}
	return nil
}
