package kuberuntime

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/apogee-dev/apogee/internal/apps"
)

// The labels and annotations on every object Apogee makes.
const (
	LabelProject   = "apogee.dev/project"
	LabelRelease   = "apogee.dev/release"
	LabelInstance  = "apogee.dev/instance" // on a pod: the instance that follows it
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "apogee"
	// AnnotationSpec holds the release's Spec without its Env (the Env is
	// in the release's Secret), so that a restarted Apogee knows what the
	// pods it finds run.
	AnnotationSpec = "apogee.dev/spec"
	// annotationDeletionCost is the ReplicaSet controller's hint of which
	// pod to remove first when a Deployment scales down.
	annotationDeletionCost = "controller.kubernetes.io/pod-deletion-cost"
	// containerName is the app's container in every pod.
	containerName = "app"
	// ownerKind is the kind of the project's object, which owns the rest.
	ownerKind = "ConfigMap"
)

// ProjectName is the name of a project's object, a ConfigMap that owns
// every other object of the project (deleting it deletes them all, by the
// cluster's garbage collector).
func ProjectName(project string) string { return "apogee-" + trim(project, 63-len("apogee-")) }

// ReleaseName is the name of a release's Deployment, Service and Secret:
// project-release, the project cut so that pod names (the ReplicaSet's
// name and two hashes after it) stay within 63 characters.
func ReleaseName(project, release string) string {
	return trim(project, 47-1-len(release)) + "-" + release
}

func trim(s string, n int) string {
	if n < 1 {
		n = 1
	}
	if len(s) > n {
		s = strings.TrimRight(s[:n], "-")
	}
	return s
}

// releaseLabels select a release's pods.
func releaseLabels(s apps.Spec) map[string]string {
	return map[string]string{LabelProject: s.Project, LabelRelease: s.Release}
}

func objectLabels(s apps.Spec) map[string]string {
	l := releaseLabels(s)
	l[LabelManagedBy] = ManagedBy
	return l
}

// ProjectObject is the project's ConfigMap: the owner of its releases'
// objects.
func ProjectObject(namespace, project string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name: ProjectName(project), Namespace: namespace,
			Labels: map[string]string{LabelProject: project, LabelManagedBy: ManagedBy},
		},
		Data: map[string]string{"project": project},
	}
}

// owner is the owner reference to the project's object.
func owner(cm *corev1.ConfigMap) []metav1.OwnerReference {
	return []metav1.OwnerReference{{
		APIVersion: "v1", Kind: ownerKind, Name: cm.Name, UID: cm.UID,
		BlockOwnerDeletion: ptr.To(true),
	}}
}

// Objects are what a release is made of in the cluster.
type Objects struct {
	Secret     *corev1.Secret
	Deployment *appsv1.Deployment
	Service    *corev1.Service
}

// ObjectOptions are the runtime's settings that shape the objects.
type ObjectOptions struct {
	Namespace string
	// Image is the release's image (repository@digest).
	Image string
	// RuntimeClassName, when set, runs the pods in that RuntimeClass
	// (gvisor, kata: kernel-level isolation where the cluster has it).
	RuntimeClassName string
	// Replicas is the Deployment's count.
	Replicas int32
}

// ReleaseObjects returns the objects of release s (with its defaults set),
// owned by the project's object pr.
func ReleaseObjects(s apps.Spec, pr *corev1.ConfigMap, o ObjectOptions) (Objects, error) {
	s = s.WithDefaults()
	name := ReleaseName(s.Project, s.Release)
	meta := func(n string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: n, Namespace: o.Namespace, Labels: objectLabels(s), OwnerReferences: owner(pr)}
	}
	// The Env, secrets among it, goes in a Secret, never in the
	// Deployment (which more people can read) nor in the image.
	env := map[string]string{}
	for _, kv := range s.Env {
		k, v, _ := strings.Cut(kv, "=")
		if k == "PORT" {
			continue
		}
		env[k] = v
	}
	if _, ok := env["NODE_ENV"]; !ok {
		env["NODE_ENV"] = "production"
	}
	secret := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: meta(name + "-env"),
		Type:       corev1.SecretTypeOpaque,
		StringData: env,
	}
	stored := s
	stored.Env, stored.Dir, stored.Node = nil, "", ""
	specJSON, err := json.Marshal(stored)
	if err != nil {
		return Objects{}, fmt.Errorf("kuberuntime: %w", err)
	}
	h := s.Health
	probe := func(period, window time.Duration) *corev1.Probe {
		p, n := probeTiming(period, window)
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: h.Path, Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP,
			}},
			PeriodSeconds:    p,
			TimeoutSeconds:   seconds(h.Timeout),
			FailureThreshold: n,
			SuccessThreshold: 1,
		}
	}
	readiness, liveness := probe(h.Interval, h.Unready), probe(h.Interval, h.Replace)
	if h.Replace > h.Unready && liveness.FailureThreshold <= readiness.FailureThreshold {
		// Whole seconds may round both windows to the same count; the
		// instance still leaves the rotation before it is replaced.
		liveness.FailureThreshold = readiness.FailureThreshold + 1
	}
	mem := resource.NewQuantity(s.Limits.MemoryBytes, resource.BinarySI)
	cpu := resource.NewMilliQuantity(int64(math.Round(s.Limits.CPUs*1000)), resource.DecimalSI)
	res := corev1.ResourceList{corev1.ResourceMemory: *mem, corev1.ResourceCPU: *cpu}
	grace := int64(math.Ceil(s.Restart.StopGrace.Seconds()))
	tpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: objectLabels(s)},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
			TerminationGracePeriodSeconds: &grace,
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To(int64(10001)),
				RunAsGroup:     ptr.To(int64(10001)),
				FSGroup:        ptr.To(int64(10001)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:  containerName,
				Image: o.Image,
				// HOME is the writable /tmp (the root filesystem is
				// read-only; the image's user has no home), unless the
				// project sets one.
				Env: append([]corev1.EnvVar{{Name: "PORT", Value: strconv.Itoa(s.Port)}}, homeEnv(env)...),
				EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: secret.Name},
				}}},
				Ports:     []corev1.ContainerPort{{Name: "http", ContainerPort: int32(s.Port), Protocol: corev1.ProtocolTCP}},
				Resources: corev1.ResourceRequirements{Requests: res, Limits: res},
				// The boot: BootTimeout, checked every BootInterval (at
				// least a second, the API's unit).
				StartupProbe: probe(h.BootInterval, h.BootTimeout),
				// Out of rotation after Unready of failures; restarted
				// after Replace.
				ReadinessProbe: readiness,
				LivenessProbe:  liveness,
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					RunAsNonRoot:             ptr.To(true),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
				VolumeMounts:             []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			}},
			Volumes: []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{
				EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: resource.NewQuantity(64<<20, resource.BinarySI)},
			}}},
		},
	}
	if o.RuntimeClassName != "" {
		tpl.Spec.RuntimeClassName = ptr.To(o.RuntimeClassName)
	}
	dm := meta(name)
	dm.Annotations = map[string]string{AnnotationSpec: string(specJSON)}
	deploy := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: dm,
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(o.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: releaseLabels(s)},
			Template: tpl,
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromInt32(1)),
				},
			},
			// A rollout that makes no progress for the boot timeout (and
			// a minute for the image's pull) fails.
			ProgressDeadlineSeconds: ptr.To(int32(h.BootTimeout.Seconds()) + 60),
			RevisionHistoryLimit:    ptr.To(int32(2)),
		},
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta(name),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: releaseLabels(s),
			Ports: []corev1.ServicePort{{
				Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
	return Objects{Secret: secret, Deployment: deploy, Service: svc}, nil
}

// specOf reads back the Spec a Deployment was made for (without its Env).
func specOf(d *appsv1.Deployment) (apps.Spec, bool) {
	var s apps.Spec
	raw, ok := d.Annotations[AnnotationSpec]
	if !ok || json.Unmarshal([]byte(raw), &s) != nil || s.Project == "" || s.Release == "" {
		return apps.Spec{}, false
	}
	return s, true
}

// homeEnv is HOME=/tmp unless env has a HOME.
func homeEnv(env map[string]string) []corev1.EnvVar {
	if _, ok := env["HOME"]; ok {
		return nil
	}
	return []corev1.EnvVar{{Name: "HOME", Value: "/tmp"}}
}

// probeTiming is a probe's period (whole seconds, the API's unit) and
// the failures in a row that fill window.
func probeTiming(period, window time.Duration) (p, n int32) {
	p = seconds(period)
	return p, max(1, int32(math.Ceil(window.Seconds()/float64(p))))
}

// seconds is d in whole seconds, at least 1.
func seconds(d time.Duration) int32 {
	return max(1, int32(math.Ceil(d.Seconds())))
}

// LabelReleaseCommand marks a release command's Job and its pod with the
// release (instead of LabelRelease, so that no instance takes the pod).
const LabelReleaseCommand = "apogee.dev/release-command"

// ReleaseJob is the Job that runs a release's release command (the
// Procfile's release: line) once before its instances start: the
// release's image, variables (its Secret), limits and security context,
// as its Deployment's pods have, without probes, run once (no retry: a
// failed migration fails the deploy), bounded by timeout.
func ReleaseJob(s apps.Spec, pr *corev1.ConfigMap, o ObjectOptions, command string, timeout time.Duration) (*batchv1.Job, error) {
	s = s.WithDefaults()
	objs, err := ReleaseObjects(s, pr, o)
	if err != nil {
		return nil, err
	}
	tpl := *objs.Deployment.Spec.Template.DeepCopy()
	lbl := map[string]string{LabelProject: s.Project, LabelReleaseCommand: s.Release, LabelManagedBy: ManagedBy}
	tpl.Labels = lbl
	tpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	c := &tpl.Spec.Containers[0]
	c.Command = []string{"/bin/sh", "-c", command}
	c.StartupProbe, c.ReadinessProbe, c.LivenessProbe, c.Ports = nil, nil, nil, nil
	meta := objs.Deployment.ObjectMeta
	meta.Name = ReleaseName(s.Project, s.Release) + "-release"
	meta.Labels, meta.Annotations = lbl, nil
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: meta,
		Spec: batchv1.JobSpec{
			Template:                tpl,
			BackoffLimit:            ptr.To(int32(0)),
			ActiveDeadlineSeconds:   ptr.To(int64(math.Ceil(timeout.Seconds()))),
			TTLSecondsAfterFinished: ptr.To(int32(600)),
		},
	}, nil
}
