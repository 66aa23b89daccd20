package kuberuntime

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/apogee-dev/apogee/internal/apps"
)

// kubeVersion is the kube-apiserver scripts/kube-apiserver.sh builds by
// default.
const kubeVersion = "v1.37.2"

// assets is the folder with kube-apiserver and etcd: KUBEBUILDER_ASSETS,
// else where scripts/kube-apiserver.sh caches them.
func assets(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache")
		}
		dir = filepath.Join(cache, "apogee", "kube-"+kubeVersion)
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			t.Fatalf("no %s in %s: run scripts/kube-apiserver.sh (it builds kube-apiserver and links Debian's etcd; apt-get install etcd-server) or set KUBEBUILDER_ASSETS", bin, dir)
		}
	}
	return dir
}

// apiServer starts a real kube-apiserver and etcd (envtest) for the test,
// and returns an administrator's client and the client of a user
// "apogee" that has only what deploy/kubernetes/rbac.yaml grants.
// There is no kubelet, scheduler or controller manager: tests play them.
func apiServer(t *testing.T) (admin, apogee kubernetes.Interface) {
	t.Helper()
	env := &envtest.Environment{BinaryAssetsDirectory: assets(t), ControlPlaneStartTimeout: 2 * time.Minute, ControlPlaneStopTimeout: time.Minute}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop kube-apiserver and etcd: %v", err)
		}
	})
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	applyRBAC(t, c, ns)
	user, err := env.AddUser(envtest.User{Name: "apogee"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	uc, err := kubernetes.NewForConfig(user.Config())
	if err != nil {
		t.Fatal(err)
	}
	return c, uc
}

// rbacFile is the least-privilege RBAC the docs ship.
const rbacFile = "../../deploy/kubernetes/rbac.yaml"

// applyRBAC creates the Role and RoleBinding of rbacFile in namespace
// (the file's is ns), the binding also naming the test's user "apogee".
func applyRBAC(t *testing.T, c kubernetes.Interface, namespace string) {
	t.Helper()
	b, err := os.ReadFile(rbacFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.Kind {
		case "Role":
			var role rbacv1.Role
			if err := yaml.UnmarshalStrict([]byte(doc), &role); err != nil {
				t.Fatal(err)
			}
			role.Namespace = namespace
			if _, err := c.RbacV1().Roles(namespace).Create(ctx, &role, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		case "RoleBinding":
			var rb rbacv1.RoleBinding
			if err := yaml.UnmarshalStrict([]byte(doc), &rb); err != nil {
				t.Fatal(err)
			}
			rb.Namespace = namespace
			rb.Subjects = append(rb.Subjects, rbacv1.Subject{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "apogee"})
			if _, err := c.RbacV1().RoleBindings(namespace).Create(ctx, &rb, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		case "ServiceAccount":
			var sa corev1.ServiceAccount
			if err := yaml.UnmarshalStrict([]byte(doc), &sa); err != nil {
				t.Fatal(err)
			}
			sa.Namespace = namespace
			if _, err := c.CoreV1().ServiceAccounts(namespace).Create(ctx, &sa, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		case "Namespace":
			var n corev1.Namespace
			if err := yaml.UnmarshalStrict([]byte(doc), &n); err != nil || n.Name != ns {
				t.Fatalf("the namespace of %s is %q (%v), the tests' is %s", rbacFile, n.Name, err, ns)
			}
		default:
			t.Fatalf("%s has a %q", rbacFile, meta.Kind)
		}
	}
}

// TestRBACIsInTheDocs: the docs page shows the RBAC file as it is.
func TestRBACIsInTheDocs(t *testing.T) {
	b, err := os.ReadFile(rbacFile)
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile("../docs/content/kubernetes.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "```yaml\n"+string(b)+"```") {
		t.Errorf("internal/docs/content/kubernetes.md does not quote %s as it is now", rbacFile)
	}
}

// TestRuntimeAPIServer runs the runtime against a real API server: the
// objects it makes pass the server's validation, the informers follow
// the status the test (as kubelet) sets, and a ready pod is dialled.
func TestRuntimeAPIServer(t *testing.T) {
	c, rc := apiServer(t)
	// The runtime has only the rights of deploy/kubernetes/rbac.yaml.
	runtimeBehaviour(t, c, rc)

	t.Run("DialReadyPod", func(t *testing.T) {
		// The "pod" is a server on this machine's loopback, at the IP
		// the kubelet reports and the app's PORT.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello from the pod\n") })}
		go srv.Serve(l)
		defer srv.Close()
		port := l.Addr().(*net.TCPAddr).Port

		r := newRuntime(t, rc, nil, false)
		defer r.Close(context.Background())
		k := &kubelet{t: t, c: c, n: 100}
		s := testSpec("r6")
		s.Port = port
		in, err := r.Start(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := in.Dial(context.Background()); err == nil {
			t.Error("Dial worked before the instance had a pod")
		}
		p := k.pod("r6")
		waitPod(t, in)
		k.set(p.Name, running("127.0.0.1", true, 0))
		waitState(t, in, apps.StateReady)
		hc := &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return in.Dial(ctx) },
		}, Timeout: 10 * time.Second}
		res, err := hc.Get("http://instance/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != "hello from the pod\n" {
			t.Errorf("GET /: %q", b)
		}
		d := deployment(t, c, "r6")
		if got := d.Spec.Template.Spec.Containers[0].Env[0].Value; got != strconv.Itoa(port) {
			t.Errorf("PORT %s, want %d", got, port)
		}
		stopAsKubelet(t, c, in, p.Name)
		if _, err := in.Dial(context.Background()); err != apps.ErrStopped {
			t.Errorf("Dial after Stop: %v", err)
		}
	})

	t.Run("ValidObjects", func(t *testing.T) {
		// Every object of the golden files is accepted by the server
		// (server-side dry run: its validation and defaults).
		project := ProjectObject(ns, "golden")
		cm, err := c.CoreV1().ConfigMaps(ns).Create(context.Background(), project, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		objs, err := ReleaseObjects(apps.Spec{Project: "golden", Release: "r7", Command: "npm start",
			Limits: apps.Limits{MemoryBytes: 256 << 20, CPUs: 0.25}}, cm, ObjectOptions{Namespace: ns, Image: "img@sha256:" + fmt.Sprintf("%064d", 0), Replicas: 1, RuntimeClassName: "gvisor"})
		if err != nil {
			t.Fatal(err)
		}
		dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
		if _, err := c.CoreV1().Secrets(ns).Create(context.Background(), objs.Secret, dry); err != nil {
			t.Error(err)
		}
		if _, err := c.AppsV1().Deployments(ns).Create(context.Background(), objs.Deployment, dry); err != nil {
			t.Error(err)
		}
		if _, err := c.CoreV1().Services(ns).Create(context.Background(), objs.Service, dry); err != nil {
			t.Error(err)
		}
	})
}
