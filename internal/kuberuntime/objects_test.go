package kuberuntime

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/apogee-dev/apogee/internal/apps"
)

var update = flag.Bool("update", false, "rewrite testdata/*.yaml from the objects generated now")

// TestReleaseObjectsGolden compares the objects of a release with the
// files in testdata/: what a cluster admin sees with kubectl get -o yaml.
func TestReleaseObjectsGolden(t *testing.T) {
	project := ProjectObject("apogee-apps", "api")
	project.UID = types.UID("00000000-0000-0000-0000-000000000001")
	for _, tc := range []struct {
		name string
		spec apps.Spec
		opts ObjectOptions
	}{
		{"defaults", apps.Spec{Project: "api", Release: "r0000000001", Command: "npm start",
			Env: []string{"DATABASE_URL=postgres://u:p@db/api", "PORT=1"}},
			ObjectOptions{Image: "registry.example.com/apogee/api@sha256:" + strings.Repeat("ab", 32), Replicas: 1}},
		{"tuned", apps.Spec{Project: "api", Release: "r0000000002", Command: "node server.js", Port: 3000,
			Env:    []string{"NODE_ENV=staging"},
			Limits: apps.Limits{MemoryBytes: 1 << 30, CPUs: 0.5},
			Health: apps.Health{Path: "/healthz", BootTimeout: 90 * time.Second, Interval: 2 * time.Second, Timeout: time.Second,
				Unready: 6 * time.Second, Replace: 20 * time.Second},
			Restart: apps.Restart{StopGrace: 25 * time.Second}},
			ObjectOptions{Image: "registry.example.com/apogee/api@sha256:" + strings.Repeat("cd", 32), Replicas: 3, RuntimeClassName: "gvisor"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Namespace = "apogee-apps"
			objs, err := ReleaseObjects(tc.spec, project, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			for _, o := range []any{project, objs.Secret, objs.Deployment, objs.Service} {
				b, err := yaml.Marshal(o)
				if err != nil {
					t.Fatal(err)
				}
				buf.WriteString("---\n")
				buf.Write(b)
			}
			file := filepath.Join("testdata", tc.name+".yaml")
			if *update {
				if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (go test ./internal/kuberuntime -run TestReleaseObjectsGolden -update writes it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("objects differ from %s (run with -update and read the diff):\n%s", file, buf.String())
			}
		})
	}
}

// TestReleaseObjectsHold checks what the golden files show, so that an
// -update that breaks it fails.
func TestReleaseObjectsHold(t *testing.T) {
	project := ProjectObject("ns", "api")
	project.UID = "uid-1"
	s := apps.Spec{Project: "api", Release: "r1", Command: "npm start", Env: []string{"SECRET=s3cret", "PORT=9"},
		Health: apps.Health{Path: "/up", BootTimeout: 30 * time.Second, Interval: 5 * time.Second, Unready: 15 * time.Second, Replace: 30 * time.Second}}
	objs, err := ReleaseObjects(s, project, ObjectOptions{Namespace: "ns", Image: "img@sha256:00", Replicas: 2})
	if err != nil {
		t.Fatal(err)
	}
	d := objs.Deployment
	if *d.Spec.Replicas != 2 || d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		t.Errorf("replicas %d, maxUnavailable %v", *d.Spec.Replicas, d.Spec.Strategy.RollingUpdate.MaxUnavailable)
	}
	for _, o := range []struct {
		kind   string
		labels map[string]string
		owners int
	}{{"deployment", d.Labels, len(d.OwnerReferences)}, {"service", objs.Service.Labels, len(objs.Service.OwnerReferences)},
		{"secret", objs.Secret.Labels, len(objs.Secret.OwnerReferences)}} {
		if o.labels[LabelProject] != "api" || o.labels[LabelRelease] != "r1" || o.owners != 1 {
			t.Errorf("%s: labels %v, %d owners", o.kind, o.labels, o.owners)
		}
	}
	if d.OwnerReferences[0].UID != "uid-1" || d.OwnerReferences[0].Kind != "ConfigMap" {
		t.Errorf("owner %+v", d.OwnerReferences[0])
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.SecurityContext.Capabilities.Drop[0] != "ALL" || !*c.SecurityContext.ReadOnlyRootFilesystem || !*c.SecurityContext.RunAsNonRoot ||
		*c.SecurityContext.AllowPrivilegeEscalation {
		t.Errorf("security context %+v", c.SecurityContext)
	}
	if c.VolumeMounts[0].MountPath != "/tmp" || d.Spec.Template.Spec.Volumes[0].EmptyDir == nil {
		t.Error("no emptyDir at /tmp")
	}
	if c.ReadinessProbe.HTTPGet.Path != "/up" || c.ReadinessProbe.PeriodSeconds != 5 || c.ReadinessProbe.FailureThreshold != 3 ||
		c.LivenessProbe.FailureThreshold != 6 || c.StartupProbe.PeriodSeconds != 1 || c.StartupProbe.FailureThreshold != 30 {
		t.Errorf("probes: readiness %+v liveness %+v startup %+v", c.ReadinessProbe, c.LivenessProbe, c.StartupProbe)
	}
	if c.Resources.Limits.Memory().Value() != apps.DefaultMemory || c.Resources.Requests.Cpu().MilliValue() != 1000 {
		t.Errorf("resources %+v", c.Resources)
	}
	// Secrets are in the Secret only; PORT is the runtime's.
	if strings.Contains(d.String(), "s3cret") || objs.Secret.StringData["SECRET"] != "s3cret" || objs.Secret.StringData["PORT"] != "" {
		t.Errorf("env: secret %v", objs.Secret.StringData)
	}
	if c.Env[0] != (corev1.EnvVar{Name: "PORT", Value: "8080"}) {
		t.Errorf("env %+v", c.Env)
	}
	if d.Spec.Template.Spec.RuntimeClassName != nil {
		t.Error("a runtime class without one asked")
	}
}

func TestReleaseName(t *testing.T) {
	long := strings.Repeat("a", 63)
	for _, tc := range []struct{ project, release, want string }{
		{"api", "r1", "api-r1"},
		{long, "0123456789ab", strings.Repeat("a", 34) + "-0123456789ab"},
		{"ab-" + strings.Repeat("c", 60), "0123456789ab", "ab-" + strings.Repeat("c", 31) + "-0123456789ab"},
	} {
		if got := ReleaseName(tc.project, tc.release); got != tc.want || len(got) > 47 {
			t.Errorf("ReleaseName(%q, %q) = %q, want %q", tc.project, tc.release, got, tc.want)
		}
	}
	if got := ProjectName(long); len(got) > 63 {
		t.Errorf("ProjectName is %d long", len(got))
	}
}
