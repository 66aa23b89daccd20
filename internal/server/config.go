package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/edge"
	"github.com/apogee-dev/apogee/internal/github"
	"github.com/apogee-dev/apogee/internal/sandbox"
	"github.com/apogee-dev/apogee/internal/secretbox"
)

// Config is the server's configuration. Every field is a flag of
// `apogee server` and an APOGEE_* variable (flag --max-file-mb is
// APOGEE_MAX_FILE_MB); flags win over variables, variables over defaults.
type Config struct {
	Data        string        // data folder: SQLite database, blobs, keys
	SecretKey   string        // key sealing secrets at rest (base64/hex, 32 bytes); default <Data>/secret.key
	Listen      string        // address of the one HTTP listener
	Domain      string        // apex of the dashboard/API; sites are <project>.<SitesDomain>
	SitesDomain string        // domain the sites live under (default: Domain)
	Database    string        // sqlite:///path or postgres://…; default in Data
	Blobs       string        // file:///path, s3://…, azblob://…; default in Data
	Events      string        // event bus: "" or local (in process), nats://host:4222 or kafka://host:9092 (servers sharing a database)
	CacheMB     int64         // edge file cache bound
	MaxFileMB   int64         // largest file of a deployment
	MaxZipMB    int64         // largest ZIP upload of a source tree (0: 500)
	UploadTTL   time.Duration // an upload not finalized by then expires
	LogLevel    string        // debug, info, warn, error
	LogFormat   string        // text or json
	ShutdownTTL time.Duration // grace period for open requests on stop
	RouteCheck  time.Duration // how often the edge catches up with route changes it did not hear of
	BodyTimeout time.Duration // a request body must send 64 KiB within this, and again after each 64 KiB
	MaxUploads  int           // uploads (files, ZIPs, git pushes) received at once
	// MetricsListen is the address of the Prometheus metrics listener
	// (/metrics); "" serves no metrics. Never on the public listener.
	MetricsListen string
	Signup        string // dashboard sign-up: open or invite (accounts by an admin's invitation; "closed" is a synonym)

	// Sign in with GitHub (see github.go): on when GitHubClientID is set.
	GitHubClientID     string // OAuth App or GitHub App client id
	GitHubClientSecret string
	GitHubURL          string // GitHub's web base (GitHub Enterprise: https://ghe.example.com)
	GitHubAPIURL       string // GitHub's API base (GitHub Enterprise: https://ghe.example.com/api/v3)
	// The platform's GitHub App (see github.go): on when GitHubAppID is set.
	GitHubAppID            int64
	GitHubAppKey           string // file of the app's private key (PEM)
	GitHubAppWebhookSecret string

	// HTTPS (see tls.go): on when TLSListen is set.
	TLSListen   string // address of the HTTPS listener, e.g. :443
	ACMECA      string // ACME directory URL; default Let's Encrypt
	ACMECARoot  string // PEM file of roots to trust for the ACME CA's own HTTPS
	ACMEEmail   string // ACME account contact
	DNSResolver string // DNS server for domain verification, host:port; default the system's

	// Authoritative DNS for delegated zones (see dns.go): on when
	// DNSListen is set.
	DNSListen      string   // address of the DNS server (UDP and TCP), e.g. :53
	DNSNameservers []string // the platform's nameservers' names; default ns1.<domain>, ns2.<domain>
	DNSEdge        []string // the edge's public IP addresses: A/AAAA of a project zone's apex and www
	DNSSecondaries []string // IP addresses of secondary DNS servers allowed to transfer zones (AXFR)

	// Roles are what this process does (RoleAPI, RoleEdge, RoleBuilder,
	// RoleRuntime; roles.go). Normalize fills them in when empty (api,
	// edge, and builder and runtime unless BuildWorkers is 0 or AppSandbox
	// "off"); without builder BuildWorkers becomes 0, without runtime
	// AppSandbox "off".
	Roles []string

	// Builds (see builds.go).
	Sandbox       string        // bwrap (default), runsc or none
	BuildWorkers  int           // builds at once in this process; 0 turns the builder role off
	BuildMemoryMB int64         // memory limit of one install or build step
	BuildCPUs     float64       // CPU limit of one step
	BuildTimeout  time.Duration // wall-clock limit of one step
	BuildDiskMB   int64         // disk a build may write to its workspace; 0: no bound
	AllowFileGit  bool          // projects may use file:// repositories (development, tests)
	BuildNode     string        // registry (default, also ""): each build's Node.js from the npm registry; system: the server's own
	NodeDir       string        // where fetched Node.js versions are kept (default: node in the data folder)
	// Apps (see apps.go).
	AppSandbox string // bwrap (default), runsc, none, or off (this process runs no apps)
	// AppSandboxes are the sandboxes a project may choose for its app
	// (settings.app.sandbox) besides AppSandbox, which is always one.
	AppSandboxes []string
	AppKeepWarm  int // previous releases of each app kept running for instant rollbacks
	// Runtime is where app instances run: local (default: the supervisor
	// on this machine, in AppSandbox) or kubernetes (pods of a cluster,
	// see kube.go; release commands still run here in AppSandbox).
	Runtime string
	// Kubernetes runtime: the kubeconfig ("": in-cluster, else
	// $KUBECONFIG and ~/.kube/config), the namespace of the apps, the
	// repository images are pushed to, the apps' base image (with its
	// registry) and an optional RuntimeClass of the pods.
	Kubeconfig       string
	Namespace        string
	Registry         string
	AppBaseImage     string
	KubeRuntimeClass string
	// Credentials of --registry's host (else the Docker config file's):
	// a username and the password, or a file that holds it.
	RegistryUsername     string
	RegistryPassword     string
	RegistryPasswordFile string
	// Nodes (see nodes.go and internal/cluster): with NodeListen set this
	// server is a node of a platform that places apps' instances across
	// nodes: it records itself in the store, runs what the scheduler
	// places on it, and takes tunnels to its instances from the other
	// nodes' edges on NodeListen (checked against NodeSecret).
	NodeListen    string // private address of the node listener, e.g. 10.0.0.5:7946
	NodeAdvertise string // host:port the other nodes reach NodeListen at (default: NodeListen's address)
	NodeSecret    string // shared by every node, at least 16 characters
	NodeTLS       bool   // mutual TLS between nodes, certificates issued from the secret key
	// AppsMemory is the memory for apps' instances in MiB (each counts its
	// plan's memory per instance, paused ones too); 0: no bound.
	AppsMemory int64
	// appNow and appTick, for tests, replace the autoscaler's clock and
	// tick (appTick < 0: the test steps it with apphost.Host.Autoscale).
	appNow  func() time.Time
	appTick time.Duration

	// SandboxAllowNet are ranges sandboxed programs may reach although
	// private or otherwise blocked (CIDRs; see sandbox.WithAllowNet).
	SandboxAllowNet []string

	// WebhooksAllowPrivate lets outgoing webhooks reach loopback, private
	// and link-local addresses (self-hosted receivers, tests).
	WebhooksAllowPrivate bool

	// Egress and stored bytes (issue 10: egress's block).
	// AllowPrivateGit lets Git fetches reach loopback, private and
	// link-local addresses (a self-hosted Git server on the same
	// network, tests).
	AllowPrivateGit bool

	// Routing rules (issue 14).
	// NoAccessLog turns the edge's request records off (--access-log=false):
	// no analytics and no request log, for a server whose edge must do the
	// least (the records cost little, see bench/edge.sh ACCESS=both).
	NoAccessLog bool
	// GeoIPDB is a MaxMind country database (.mmdb) for the Country
	// conditions of routing rules; "": rules with one are skipped.
	GeoIPDB string
	// ProxyAllowPrivate lets proxy rules and external rewrites reach
	// loopback, private and link-local addresses.
	ProxyAllowPrivate bool

	// onCertEvent receives certmagic's events (tests count ACME orders).
	onCertEvent func(ctx context.Context, event string, data map[string]any) error
	// onlyHTTP01 turns TLS-ALPN-01 off (tests of the HTTP challenge path).
	onlyHTTP01 bool
}

// DefaultDataDir is a folder under the user's data directory:
// $XDG_DATA_HOME/apogee or ~/.local/share/apogee.
func DefaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "apogee")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "apogee")
	}
	return "apogee-data"
}

// Flags registers the configuration's flags on fs with their defaults.
func (c *Config) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Data, "data", DefaultDataDir(), "data folder (SQLite database, blobs)")
	fs.StringVar(&c.SecretKey, "secret-key", "", "key that encrypts secrets at rest: 32 bytes in base64 or hex; prefer APOGEE_SECRET_KEY, which ps does not show (default: secret.key in the data folder, made on first start)")
	fs.StringVar(&c.Listen, "listen", ":8080", "address to listen on for the dashboard, API and sites")
	fs.StringVar(&c.Domain, "domain", "localhost", "apex domain: dashboard at <domain>, sites at <project>.<domain> unless --sites-domain says otherwise")
	fs.StringVar(&c.SitesDomain, "sites-domain", "", "registrable domain the sites live under, apart from the dashboard's (as vercel.app beside vercel.com), so that no site shares a cookie domain with the dashboard (default: --domain)")
	fs.StringVar(&c.Database, "database", "", "database URL: sqlite:///path/apogee.db or postgres://… (default: SQLite in the data folder)")
	fs.StringVar(&c.Blobs, "blobs", "", "blob store URL: file:///path, s3://bucket?endpoint=…, azblob://container (default: the data folder)")
	fs.StringVar(&c.Events, "events", "local", "event bus: local (in this process; one server) or nats://[user:password@]host:4222[?subject=prefix&creds=FILE&nkey=FILE] or kafka[+tls]://[user:password@]host:9092[?topic=prefix&sasl=plain|scram-sha-256|scram-sha-512] (every server sharing the database and blobs must use the same NATS or Kafka)")
	fs.Int64Var(&c.CacheMB, "cache-mb", 256, "edge memory cache for file bytes, in MiB")
	fs.Int64Var(&c.MaxFileMB, "max-file-mb", 100, "largest file a deployment may hold, in MiB")
	fs.Int64Var(&c.MaxZipMB, "max-zip-mb", 500, "largest ZIP of a source tree (apogee deploy --zip), in MiB")
	fs.DurationVar(&c.UploadTTL, "upload-ttl", 24*time.Hour, "an upload not finalized within this time expires and is cleaned up")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.DurationVar(&c.ShutdownTTL, "shutdown-timeout", 10*time.Second, "time open requests get to finish on stop")
	fs.DurationVar(&c.BodyTimeout, "body-timeout", DefaultBodyTimeout, "a request body must send its first 64 KiB within this time and each next 64 KiB within this time of the last; slower bodies are cut (uploads may take as long as they keep this pace)")
	fs.IntVar(&c.MaxUploads, "max-uploads", DefaultMaxUploads, "uploads (deployment files, ZIPs, git pushes) received at once; the next waits up to --body-timeout for a free one, then gets 429")
	fs.StringVar(&c.MetricsListen, "metrics-listen", "", "address to serve Prometheus metrics on at /metrics, e.g. 127.0.0.1:9090 (default: none; the public listener never serves them)")
	fs.DurationVar(&c.RouteCheck, "route-check", edge.DefaultCheckEvery, "how often the edge asks the database whether routes changed without an event telling it (a lost event), and reloads what did")
	fs.StringVar(&c.Signup, "signup", "invite", "dashboard sign-up: open (anyone may make an account; the first is admin) or invite (only with an admin's invitation link, apogee admin users invite, or apogee admin create-user; closed is another name for it)")
	fs.StringVar(&c.GitHubClientID, "github-client-id", "", "client id of the GitHub OAuth App or GitHub App that signs people in (off when empty; callback URL <dashboard URL>/auth/github/callback)")
	fs.StringVar(&c.GitHubClientSecret, "github-client-secret", "", "client secret of that app; prefer APOGEE_GITHUB_CLIENT_SECRET, which ps does not show")
	fs.StringVar(&c.GitHubURL, "github-url", github.DefaultWebURL, "GitHub's web URL (GitHub Enterprise: https://ghe.example.com)")
	fs.Int64Var(&c.GitHubAppID, "github-app-id", 0, "id of the GitHub App that builds the repositories organisations grant it, without a personal token (off when 0; webhook URL <dashboard URL>/api/v1/webhooks/github-app)")
	fs.StringVar(&c.GitHubAppKey, "github-app-key", "", "file of the GitHub App's private key (the .pem GitHub's \"Generate a private key\" downloads)")
	fs.StringVar(&c.GitHubAppWebhookSecret, "github-app-webhook-secret", "", "the GitHub App's webhook secret, which signs its deliveries; prefer APOGEE_GITHUB_APP_WEBHOOK_SECRET, which ps does not show")
	fs.StringVar(&c.GitHubAPIURL, "github-api-url", github.DefaultAPIURL, "GitHub's API URL (GitHub Enterprise: https://ghe.example.com/api/v3)")
	fs.StringVar(&c.TLSListen, "tls-listen", "", "address to serve HTTPS on (e.g. :443), with certificates from ACME obtained on demand")
	fs.StringVar(&c.ACMECA, "acme-ca", "", "ACME directory URL (default: Let's Encrypt)")
	fs.StringVar(&c.ACMECARoot, "acme-ca-root", "", "PEM file of CA certificates to trust for the ACME directory (a private CA)")
	fs.StringVar(&c.ACMEEmail, "acme-email", "", "contact email of the ACME account")
	fs.StringVar(&c.Sandbox, "sandbox", "bwrap", "sandbox of builds: bwrap, runsc (gVisor) or none (development only: no isolation)")
	fs.StringVar(&c.NodeDir, "node-dir", "", "folder that keeps the Node.js versions builds fetch, one folder per version; servers of one machine may share it (default: node in the data folder)")
	fs.StringVar(&c.BuildNode, "build-node", "registry", "Node.js of builds: registry (the version each project asks for, else the current LTS, fetched from the npm registry once and kept in the data folder) or system (the server's own node for every build)")
	fs.IntVar(&c.BuildWorkers, "build-workers", 1, "builds this process runs at once (0: this process does not build)")
	fs.StringSliceVar(&c.Roles, "roles", nil, "what this server does, comma-separated: api (the API, dashboard and git push), edge (sites and apps' hosts), builder (builds), runtime (app instances) (default: all four, but builder with --build-workers 0 and runtime with --app-sandbox off; /readyz reports each)")
	fs.Int64Var(&c.BuildMemoryMB, "build-memory-mb", 2048, "memory limit of a build's install and build steps, in MiB")
	fs.Float64Var(&c.BuildCPUs, "build-cpus", 1, "CPU limit of a build's steps, in cores")
	fs.Int64Var(&c.BuildDiskMB, "build-disk-mb", 4096, "disk a build may write to its workspace, in MiB (a file system of its own; needs root; 0: no bound)")
	fs.DurationVar(&c.BuildTimeout, "build-timeout", 15*time.Minute, "wall-clock limit of a build's install and build steps")
	fs.StringVar(&c.NodeListen, "node-listen", "", "private address of this node's listener for the other nodes (host:port): turns on apps across nodes (a node registry, placement of instances on runtime nodes, failover); needs --node-secret, a shared --database, --blobs and --events (default: off, one node)")
	fs.StringVar(&c.NodeAdvertise, "node-advertise", "", "host:port the other nodes reach --node-listen at (default: --node-listen's address; required when it listens on every interface)")
	fs.StringVar(&c.NodeSecret, "node-secret", "", "secret every node shares, at least 16 characters, which the node listener checks on each connection; prefer APOGEE_NODE_SECRET, which ps does not show")
	fs.BoolVar(&c.NodeTLS, "node-tls", false, "mutual TLS between nodes: each node's listener and tunnels use a certificate the platform's node CA issues it at start (the CA comes from --secret-key, so every node sharing it trusts the others); needs --node-listen")
	fs.StringVar(&c.AppSandbox, "app-sandbox", "bwrap", "sandbox of app instances and release commands: bwrap, runsc (gVisor), none (development only: no isolation) or off (this server runs no apps)")
	fs.StringVar(&c.Runtime, "runtime", "local", "where app instances run: local (this machine, in --app-sandbox) or kubernetes (Deployments in --namespace of the cluster --kubeconfig names, from images pushed to --registry; see /docs/kubernetes)")
	fs.StringVar(&c.Kubeconfig, "kubeconfig", "", "kubeconfig file of the cluster apps run on with --runtime kubernetes (default: the pod's service account when Apogee runs in the cluster, else $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&c.Namespace, "namespace", "apogee-apps", "Kubernetes namespace of the apps' Deployments, Services and Secrets (--runtime kubernetes)")
	fs.StringVar(&c.Registry, "registry", "", "image repository releases are pushed to with --runtime kubernetes, e.g. registry.example.com/apogee (credentials: --registry-username, else the Docker config file, ~/.docker/config.json or $DOCKER_CONFIG)")
	fs.StringVar(&c.RegistryUsername, "registry-username", "", "username for --registry's host with --runtime kubernetes (with --registry-password-file or APOGEE_REGISTRY_PASSWORD; default: the Docker config file's credentials)")
	fs.StringVar(&c.RegistryPasswordFile, "registry-password-file", "", "file holding the password (or token) of --registry-username")
	fs.StringVar(&c.RegistryPassword, "registry-password", "", "password (or token) of --registry-username; prefer APOGEE_REGISTRY_PASSWORD or --registry-password-file, which ps does not show")
	fs.StringVar(&c.AppBaseImage, "app-base-image", "", "base image of the apps' images with --runtime kubernetes, registry included, e.g. registry.example.com/library/node:22-slim (its PATH must find node)")
	fs.StringVar(&c.KubeRuntimeClass, "kube-runtime-class", "", "RuntimeClass of the apps' pods with --runtime kubernetes (gvisor, kata: kernel-level isolation where the cluster has it; default: the cluster's)")
	fs.Int64Var(&c.AppsMemory, "apps-memory", 0, "memory for apps' instances on this server, in MiB (each instance counts its plan's memory, paused ones too); when full, the least recently used paused apps are stopped first, then no more instances start; 0: no bound")
	fs.IntVar(&c.AppKeepWarm, "app-keep-warm", 1, "previous releases of each app kept running after a deploy, so that a rollback to one switches at once (each costs its instances' memory)")
	fs.StringSliceVar(&c.AppSandboxes, "app-sandboxes", nil, "sandboxes a project may choose for its app (settings.app.sandbox; comma-separated: bwrap, runsc), besides --app-sandbox, the default (e.g. --app-sandboxes runsc lets projects run in gVisor)")
	fs.StringSliceVar(&c.SandboxAllowNet, "sandbox-allow-net", nil, "a network (CIDR) that builds and apps may reach although it is private, link-local or this machine's (repeatable, or comma-separated; e.g. a package mirror at 10.1.2.0/24); never needed for the internet")
	fs.BoolVar(&c.AllowFileGit, "allow-file-git", false, "let projects build from file:// repositories on this machine (development and tests)")
	fs.BoolVar(&c.WebhooksAllowPrivate, "webhooks-allow-private", false, "let projects' outgoing webhooks reach loopback, private and link-local addresses (self-hosted receivers; any user can then reach this server's network)")
	// Egress and stored bytes (issue 10: egress's block).
	fs.BoolVar(&c.AllowPrivateGit, "allow-private-git", false, "let projects' Git repositories be fetched from loopback, private and link-local addresses (a Git server on this network; any user can then make this server fetch from its network)")
	fs.Var(invertedBool{&c.NoAccessLog}, "access-log", "record every request to a site for analytics and the request log (false: record none)")
	fs.Lookup("access-log").NoOptDefVal = "true"
	fs.StringVar(&c.GeoIPDB, "geoip-db", "", "MaxMind country database (.mmdb, e.g. GeoLite2-Country) for routing rules with a Country condition (default: none; such rules are skipped with a deploy warning)")
	fs.BoolVar(&c.ProxyAllowPrivate, "proxy-allow-private", false, "let routing rules that proxy (a _redirects 200 to a URL, a vercel.json rewrite to one) reach loopback, private and link-local addresses (self-hosted upstreams; any user can then reach this server's network)")
	fs.StringVar(&c.DNSListen, "dns-listen", "", "address to answer DNS on (UDP and TCP), e.g. :53, as the authoritative server of the zones users delegate to Apogee (default: off)")
	fs.StringSliceVar(&c.DNSNameservers, "dns-nameservers", nil, "host names of the platform's nameservers, the NS records of every delegated zone and what users set at their registrar (default: ns1.<domain>,ns2.<domain>)")
	fs.StringSliceVar(&c.DNSEdge, "dns-edge", nil, "the edge's public IP addresses (IPv4 and IPv6, comma-separated): the A and AAAA records of a delegated zone's apex and www")
	fs.StringSliceVar(&c.DNSSecondaries, "dns-secondaries", nil, "IP addresses of secondary DNS servers, which may transfer zones (AXFR over TCP; everyone else is refused) and get a NOTIFY when a zone changes (to port 53, or IP:port; default: none)")
	fs.StringVar(&c.DNSResolver, "dns-resolver", "", "DNS server (host:port) that custom-domain verification asks (default: the system's resolver)")
}

// FromEnv sets every flag of fs that was not given on the command line
// from its APOGEE_* variable, if set. skip names flags that have none.
func FromEnv(fs *pflag.FlagSet, skip ...string) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		for _, s := range skip {
			if f.Name == s {
				return
			}
		}
		name := EnvName(f.Name)
		if v, ok := os.LookupEnv(name); ok {
			if e := f.Value.Set(v); e != nil {
				err = apogee.Errorf(apogee.EINVALID, "%s=%q: %v", name, v, e)
			}
		}
	})
	return err
}

// EnvName is the variable of a flag: --max-file-mb is APOGEE_MAX_FILE_MB.
func EnvName(flag string) string {
	return "APOGEE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Normalize fills derived defaults and checks every value once.
func (c *Config) Normalize() error {
	if c.Data == "" {
		return apogee.Errorf(apogee.EINVALID, "--data is empty; name a folder for Apogee's data")
	}
	switch c.Signup {
	case "", "invite", "closed": // closed: the name before invitations, same mode
		c.Signup = "invite"
	case "open":
	default:
		return apogee.Errorf(apogee.EINVALID, "--signup %q must be open or invite (closed is another name for invite)", c.Signup)
	}
	switch c.Sandbox {
	case "":
		c.Sandbox = "bwrap"
	case "bwrap", "runsc", "none":
	default:
		return apogee.Errorf(apogee.EINVALID, "--sandbox %q must be bwrap, runsc or none", c.Sandbox)
	}
	switch c.AppSandbox {
	case "":
		c.AppSandbox = "bwrap"
	case "bwrap", "runsc", "none", "off":
	default:
		return apogee.Errorf(apogee.EINVALID, "--app-sandbox %q must be bwrap, runsc, none or off", c.AppSandbox)
	}
	if err := c.normalizeAppSandboxes(); err != nil {
		return err
	}
	if err := c.normalizeRuntime(); err != nil {
		return err
	}
	if c.AppsMemory < 0 {
		return apogee.Errorf(apogee.EINVALID, "--apps-memory must not be negative (0: no bound)")
	}
	if c.AppKeepWarm < 0 {
		return apogee.Errorf(apogee.EINVALID, "--app-keep-warm must not be negative")
	}
	if _, err := sandbox.ParseAllowNet(c.SandboxAllowNet); err != nil {
		return apogee.Errorf(apogee.EINVALID, "--sandbox-allow-net: %s", strings.TrimPrefix(err.Error(), "sandbox: "))
	}
	if c.BuildNode != "" && c.BuildNode != "registry" && c.BuildNode != "system" {
		return apogee.Errorf(apogee.EINVALID, "--build-node %q must be registry or system", c.BuildNode)
	}
	if err := c.normalizeNodes(); err != nil {
		return err
	}
	if err := c.normalizeRoles(); err != nil {
		return err
	}
	if c.BuildWorkers < 0 || c.BuildMemoryMB < 0 || c.BuildCPUs < 0 || c.BuildTimeout < 0 || c.BuildDiskMB < 0 {
		return apogee.Errorf(apogee.EINVALID, "build limits must not be negative")
	}
	abs, err := filepath.Abs(c.Data)
	if err != nil {
		return fmt.Errorf("server: data folder: %w", err)
	}
	c.Data = abs
	if c.SecretKey != "" {
		if _, err := secretbox.ParseKey(c.SecretKey); err != nil {
			return apogee.Errorf(apogee.EINVALID, "--secret-key (APOGEE_SECRET_KEY): %s", apogee.ErrorMessage(err))
		}
	}
	if c.Database == "" {
		c.Database = "sqlite://" + filepath.Join(c.Data, "apogee.db")
	}
	if c.Blobs == "" {
		c.Blobs = "file://" + filepath.Join(c.Data, "blobs")
	}
	c.Domain = strings.ToLower(strings.TrimSuffix(c.Domain, "."))
	if c.Domain == "" {
		return apogee.Errorf(apogee.EINVALID, "--domain is empty; use localhost or a domain whose subdomains point here")
	}
	c.SitesDomain = strings.ToLower(strings.TrimSuffix(c.SitesDomain, "."))
	switch {
	case c.SitesDomain == "":
		c.SitesDomain = c.Domain
	case c.SitesDomain != c.Domain && (strings.HasSuffix(c.Domain, "."+c.SitesDomain) || strings.HasSuffix(c.SitesDomain, "."+c.Domain)):
		return apogee.Errorf(apogee.EINVALID, "--sites-domain %q and --domain %q nest: a site could then set cookies for the dashboard; use the same domain or two apart (e.g. example.com and example-sites.com)", c.SitesDomain, c.Domain)
	}
	if local := c.SitesDomain == "localhost" || strings.HasSuffix(c.SitesDomain, ".localhost"); c.SitesDomain != c.Domain && !local {
		if _, err := apogee.ValidateDomainName(c.SitesDomain, ""); err != nil {
			return apogee.Errorf(apogee.EINVALID, "--sites-domain %q: %s", c.SitesDomain, apogee.ErrorMessage(err))
		}
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return apogee.Errorf(apogee.EINVALID, "--listen %q is not host:port (e.g. :8080 or 127.0.0.1:8080)", c.Listen)
	}
	if c.CacheMB < 1 {
		return apogee.Errorf(apogee.EINVALID, "--cache-mb must be at least 1")
	}
	if c.MaxFileMB < 1 {
		return apogee.Errorf(apogee.EINVALID, "--max-file-mb must be at least 1")
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = DefaultBodyTimeout
	}
	if c.MaxUploads < 0 {
		return apogee.Errorf(apogee.EINVALID, "--max-uploads must be at least 1")
	}
	if c.MaxUploads == 0 {
		c.MaxUploads = DefaultMaxUploads
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			return apogee.Errorf(apogee.EINVALID, "--metrics-listen %q is not host:port (e.g. 127.0.0.1:9090)", c.MetricsListen)
		}
	}
	if c.RouteCheck < 0 {
		return apogee.Errorf(apogee.EINVALID, "--route-check must not be negative")
	}
	if c.UploadTTL < time.Minute {
		return apogee.Errorf(apogee.EINVALID, "--upload-ttl must be at least 1m")
	}
	if err := c.normalizeDNS(); err != nil {
		return err
	}
	if err := c.normalizeTLS(); err != nil {
		return err
	}
	if err := c.normalizeGitHub(); err != nil {
		return err
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return apogee.Errorf(apogee.EINVALID, "--log-format %q must be text or json", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return apogee.Errorf(apogee.EINVALID, "--log-level %q must be debug, info, warn or error", c.LogLevel)
	}
	return nil
}

// Redacted returns the database and blob URLs without passwords, for logs.
func Redacted(u string) string {
	// scheme://user:pass@host → scheme://user:xxxxx@host
	i := strings.Index(u, "://")
	if i < 0 {
		return u
	}
	rest := u[i+3:]
	at := strings.Index(rest, "@")
	if at < 0 {
		return u
	}
	cred := rest[:at]
	if c := strings.Index(cred, ":"); c >= 0 {
		cred = cred[:c] + ":xxxxx"
	}
	return u[:i+3] + cred + rest[at:]
}

// normalizeAppSandboxes makes AppSandboxes the kinds a project may choose:
// the ones given, each once, and AppSandbox's (unless it is none or off).
// none cannot be chosen per project: an app owner must not be able to
// leave the sandbox.
func (c *Config) normalizeAppSandboxes() error {
	var kinds []string
	for _, k := range c.AppSandboxes {
		k = strings.TrimSpace(k)
		switch {
		case k == "":
			continue
		case k == "none" || k == "off":
			return apogee.Errorf(apogee.EINVALID, "--app-sandboxes %q: projects may choose bwrap or runsc, never to run without a sandbox (that is --app-sandbox none, for a development server)", k)
		case !slices.Contains(apogee.AppSandboxes, k):
			return apogee.Errorf(apogee.EINVALID, "--app-sandboxes %q must be bwrap or runsc", k)
		}
		if c.AppSandbox == "off" {
			return apogee.Errorf(apogee.EINVALID, "--app-sandboxes needs a server that runs apps; it has --app-sandbox off")
		}
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	if slices.Contains(apogee.AppSandboxes, c.AppSandbox) && !slices.Contains(kinds, c.AppSandbox) {
		kinds = append([]string{c.AppSandbox}, kinds...)
	}
	c.AppSandboxes = kinds
	return nil
}

// invertedBool is a boolean flag that sets the negation of its value: a
// flag that is on by default over a field whose zero value means on.
type invertedBool struct{ p *bool }

func (b invertedBool) String() string {
	if b.p == nil {
		return "true"
	}
	return strconv.FormatBool(!*b.p)
}

func (b invertedBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q is not true or false", s)
	}
	*b.p = !v
	return nil
}

func (invertedBool) Type() string { return "bool" }
