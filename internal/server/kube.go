package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/apps"
	"github.com/apogee-dev/apogee/internal/kuberuntime"
	"github.com/apogee-dev/apogee/internal/ociimage"
)

// normalizeRuntime checks --runtime and, for kubernetes, the flags it
// needs.
func (c *Config) normalizeRuntime() error {
	switch c.Runtime {
	case "", "local":
		c.Runtime = "local"
		return nil
	case "kubernetes":
	default:
		return apogee.Errorf(apogee.EINVALID, "--runtime %q must be local or kubernetes", c.Runtime)
	}
	if c.Namespace == "" {
		c.Namespace = "apogee-apps"
	}
	if errs := validation.IsDNS1123Label(c.Namespace); len(errs) > 0 {
		return apogee.Errorf(apogee.EINVALID, "--namespace %q is not a namespace name: %s", c.Namespace, errs[0])
	}
	if c.Registry == "" {
		return apogee.Errorf(apogee.EINVALID, "--runtime kubernetes needs --registry, the repository the apps' images are pushed to (e.g. registry.example.com/apogee)")
	}
	if _, err := name.NewRepository(c.Registry + "/app"); err != nil {
		return apogee.Errorf(apogee.EINVALID, "--registry %q is not an image repository: %v", c.Registry, err)
	}
	if c.AppBaseImage == "" {
		return apogee.Errorf(apogee.EINVALID, "--runtime kubernetes needs --app-base-image, the apps' base image with its registry (e.g. registry.example.com/library/node:22-slim)")
	}
	if _, err := name.ParseReference(c.AppBaseImage, name.StrictValidation); err != nil {
		return apogee.Errorf(apogee.EINVALID, "--app-base-image %q is not a full image reference (registry/repository:tag or @digest): %v", c.AppBaseImage, err)
	}
	if c.RegistryPassword != "" && c.RegistryPasswordFile != "" {
		return apogee.Errorf(apogee.EINVALID, "give the registry's password once: --registry-password (APOGEE_REGISTRY_PASSWORD) or --registry-password-file, not both")
	}
	if c.RegistryPasswordFile != "" {
		b, err := os.ReadFile(c.RegistryPasswordFile)
		if err != nil {
			return apogee.Errorf(apogee.EINVALID, "--registry-password-file: %v", err)
		}
		c.RegistryPassword = strings.TrimRight(string(b), "\r\n")
		c.RegistryPasswordFile = ""
	}
	if (c.RegistryUsername == "") != (c.RegistryPassword == "") {
		return apogee.Errorf(apogee.EINVALID, "--registry-username needs a password (--registry-password-file or APOGEE_REGISTRY_PASSWORD), and a password needs --registry-username")
	}
	if c.KubeRuntimeClass != "" {
		if errs := validation.IsDNS1123Subdomain(c.KubeRuntimeClass); len(errs) > 0 {
			return apogee.Errorf(apogee.EINVALID, "--kube-runtime-class %q is not a RuntimeClass name: %s", c.KubeRuntimeClass, errs[0])
		}
	}
	return nil
}

// registryHost is the registry of repository (registry.example.com of
// registry.example.com/apogee).
func registryHost(repository string) string {
	r, err := name.NewRepository(repository + "/app")
	if err != nil {
		return ""
	}
	return r.RegistryStr()
}

// kubeConfig is the cluster's REST config: --kubeconfig, else the pod's
// service account, else $KUBECONFIG or ~/.kube/config.
func kubeConfig(path string) (*rest.Config, error) {
	if path != "" {
		return clientcmd.BuildConfigFromFlags("", path)
	}
	if cfg, err := rest.InClusterConfig(); err == nil {
		return cfg, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
}

// newKubeRuntime makes the Kubernetes runtime (--runtime kubernetes).
// Its pods outlive this process: a restart finds and adopts them.
func newKubeRuntime(ctx context.Context, c *Config, obs apps.Observer, log *slog.Logger) (apps.Runtime, error) {
	cfg, err := kubeConfig(c.Kubeconfig)
	if err != nil {
		return nil, apogee.Errorf(apogee.EINVALID, "--runtime kubernetes: no cluster to talk to (--kubeconfig, the pod's service account, $KUBECONFIG or ~/.kube/config): %v", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("apps: kubernetes client: %w", err)
	}
	base, err := name.ParseReference(c.AppBaseImage, name.StrictValidation)
	if err != nil {
		return nil, err // checked by Normalize
	}
	images := &kuberuntime.ImageBuilder{
		Builder: &ociimage.Builder{Base: base, Remote: []remote.Option{remote.WithAuthFromKeychain(
			ociimage.Keychain(registryHost(c.Registry), c.RegistryUsername, c.RegistryPassword))}},
		Repository: c.Registry,
	}
	mc, err := metricsclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("apps: kubernetes metrics client: %w", err)
	}
	rt, err := kuberuntime.New(ctx, kuberuntime.Options{
		Client: client, Metrics: mc, Namespace: c.Namespace, Images: images, RuntimeClassName: c.KubeRuntimeClass,
		Observer: obs, Log: log.With("runtime", "kubernetes"), KeepOnClose: true,
	})
	if err != nil {
		return nil, fmt.Errorf("apps: %w", err)
	}
	log.Info("apps run on Kubernetes", "namespace", c.Namespace, "registry", c.Registry, "base", c.AppBaseImage)
	return rt, nil
}
