package source

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/egress"
)

// DefaultGitTimeout bounds a whole Fetch when Git.Timeout is zero.
const DefaultGitTimeout = 10 * time.Minute

// Git fetches commit-exact sources with the real git binary.
//
// Fetch makes a shallow clone: git init, git remote add origin URL, git
// ls-remote to learn what the ref is (branch, tag or commit; the default
// branch when the ref is ""), git fetch --depth 1 of exactly that ref, and
// git checkout --detach. A commit SHA is fetched at depth 1 when the server
// allows it (protocol v2 servers do; a v0 server needs
// uploadpack.allowReachableSHA1InWant) or when it is the tip of a branch or
// tag; otherwise, and for a short SHA that is no tip, Fetch falls back to
// fetching every branch and tag with their history and resolves the SHA
// there, so that checkout is not shallow.
//
// The checkout keeps its .git folder (depth 1, origin = the URL), so a
// build can read the commit. Submodules are not fetched, and Git LFS
// objects are not downloaded (the tree holds their pointer files); Fetch
// says so in the progress output when the tree uses either. Symbolic links
// are checked out as links, wherever they point.
//
// Security:
//   - Only https:// and http:// URLs, and file:// URLs and absolute local
//     paths when AllowFile is set. Everything else is refused before git
//     runs: ssh, git://, scp-like host:path, remote helpers such as ext::,
//     URLs with a user or password in them, anything starting with "-".
//     git is also given GIT_ALLOW_PROTOCOL=https:http (plus file when
//     allowed), so no other transport can be reached through a redirect
//     or a configuration.
//   - The token is sent as an HTTP "Authorization: Basic" header (user
//     x-access-token, as GitHub wants, or "user:secret" given as the
//     token) set by http.<scheme://host/>.extraHeader through
//     GIT_CONFIG_COUNT/GIT_CONFIG_KEY_n/GIT_CONFIG_VALUE_n in the
//     environment of the git commands that talk to the server, and of
//     nothing else. It is never in argv or .git/config, and it is redacted
//     (also in its base64 form) from the progress output, errors and logs.
//     It is refused over plain http except to a loopback host.
//   - git's environment is built from scratch: HOME is a fresh temporary
//     folder, no system or global configuration (GIT_CONFIG_NOSYSTEM,
//     GIT_CONFIG_GLOBAL=/dev/null), no prompts (GIT_TERMINAL_PROMPT=0, no
//     askpass, no credential helper), no hooks, no templates, no automatic
//     gc, LC_ALL=C; only PATH, TMPDIR, proxy and CA-bundle variables come
//     from the server's environment.
//   - http(s) fetches go through the egress policy (internal/egress), as
//     outgoing webhooks do: unless Policy.AllowPrivate
//     (--allow-private-git), git reaches the network only through an
//     egress.Proxy on loopback, started for the fetch, that dials every
//     connection (CONNECT tunnels for https, requests for http) after
//     checking the address it resolved to, so loopback, private and
//     link-local addresses are refused at connect time, after DNS, for
//     every redirect too (git follows them through the proxy). A URL
//     whose host is such an address, or localhost, is refused before git
//     runs. The server's own proxy variables (http_proxy, no_proxy, …) are
//     then not given to git: an upstream proxy would see the address
//     instead of the policy. With AllowPrivate git connects directly.
//   - git runs in a process group of its own that is killed when ctx ends
//     or Timeout passes.
//
// A Git is safe for concurrent use; its fields must not change once it is
// in use.
type Git struct {
	Bin     string        // the git binary; default "git" on PATH
	Log     *slog.Logger  // default: discard
	Timeout time.Duration // for a whole Fetch; default DefaultGitTimeout
	// AllowFile allows file:// URLs and absolute local paths (local
	// repositories: development, tests, a server's own repositories).
	AllowFile bool
	// Name is what progress lines and errors call the repository
	// (default its URL): a server's own repository is named rather than
	// shown by its path on the server.
	Name string
	// Policy bounds the addresses http(s) fetches may reach; the zero
	// Policy allows public addresses only. AllowPrivate
	// (--allow-private-git) allows all.
	Policy egress.Policy
}

// policy is g.Policy with its messages.
func (g *Git) policy() egress.Policy {
	p := g.Policy
	if p.Flag == "" {
		p.Flag = "--allow-private-git"
	}
	if p.What == "" {
		p.What = "the repository's host"
	}
	return p
}

// Checkout describes what Fetch checked out.
type Checkout struct {
	Commit  string // full SHA of the commit checked out
	Branch  string // the branch, when the ref was a branch or "" (default branch)
	Tag     string // the tag, when the ref was a tag
	Message string // the commit's subject line
	Author  string // "Name <email>"
	Shallow bool   // the clone holds only this commit (depth 1)
	// Changed are the paths that differ between the base commit given to
	// FetchChanges and Commit, when ChangedKnown (the base could be
	// fetched and compared).
	Changed      []string
	ChangedKnown bool
}

// Fetch clones repoURL shallowly into dir (which must be empty or absent) at
// ref: a branch name, a tag, a full or short commit SHA, or "" for the
// remote's default branch ("refs/heads/x" and "refs/tags/x" pick one
// kind). A branch or tag wins over a commit SHA of the same spelling.
// token, if set, authenticates over HTTP(S). git's progress goes to
// progress (nil: nowhere) with the token redacted.
//
// Errors: a repository that cannot be read, an unknown ref, an
// authentication failure or the Timeout is an *apogee.Error EINVALID whose
// message says what git said (token redacted) and what to do. If ctx ends,
// the error wraps ctx's error. A missing git binary is an internal error
// that says how to install it. On any error dir is left empty.
func (g *Git) Fetch(ctx context.Context, repoURL, ref, token, dir string, progress io.Writer) (co Checkout, err error) {
	return g.FetchChanges(ctx, repoURL, ref, "", token, dir, progress)
}

// FetchChanges is Fetch that also lists, in Checkout.Changed, the paths
// that differ between the commit base (a full SHA; "" for none) and the
// one checked out: it fetches base at depth 1 too and compares the two
// trees (renames as a removal and an addition). A base that cannot be
// fetched (a force push dropped it) or compared leaves ChangedKnown
// false, with a line in the progress output, and is no error.
func (g *Git) FetchChanges(ctx context.Context, repoURL, ref, base, token, dir string, progress io.Writer) (co Checkout, err error) {
	if base != "" && (!isHex(base) || len(base) != 40 && len(base) != 64) {
		return Checkout{}, invalid("base commit %q is not a full commit SHA", base)
	}
	rem, err := g.parseRemote(repoURL, token)
	if err != nil {
		return Checkout{}, err
	}
	want, err := parseRef(ref)
	if err != nil {
		return Checkout{}, err
	}
	secrets, header, err := tokenHeader(token)
	if err != nil {
		return Checkout{}, err
	}
	bin := g.Bin
	if bin == "" {
		bin = "git"
	}
	if bin, err = exec.LookPath(bin); err != nil {
		return Checkout{}, fmt.Errorf("source: git not found (%w); install it: apt-get install git", err)
	}
	label := ref
	if label == "" {
		label = "default branch"
	}
	abs, err := prepareDir(dir)
	if err != nil {
		return Checkout{}, err
	}
	log := g.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			if cerr := emptyDir(abs); cerr != nil {
				log.Error("source: cleaning up after a failed fetch", "dir", abs, "err", cerr)
			}
		}
	}()
	home, err := os.MkdirTemp("", "apogee-git-home-")
	if err != nil {
		return Checkout{}, fmt.Errorf("source: git home: %w", err)
	}
	defer os.RemoveAll(home)

	timeout := g.Timeout
	if timeout <= 0 {
		timeout = DefaultGitTimeout
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var proxyURL string
	var proxy *egress.Proxy
	if rem.origin != "" && !g.policy().AllowPrivate {
		if proxy, err = egress.StartProxy(g.policy(), log); err != nil {
			return Checkout{}, fmt.Errorf("source: %w", err)
		}
		defer proxy.Close()
		proxyURL = proxy.URL()
		if u, err := url.Parse(proxyURL); err == nil {
			pass, _ := u.User.Password()
			secrets = append(secrets, pass)
		}
	}

	f := &fetcher{
		proxy:    proxy,
		parent:   ctx,
		ctx:      tctx,
		timeout:  timeout,
		bin:      bin,
		dir:      abs,
		url:      rem.url,
		name:     cmp.Or(g.Name, rem.url),
		ref:      want,
		label:    label,
		secrets:  secrets,
		progress: progress,
		log:      log.With("component", "source", "url", rem.url),
	}
	f.env = gitEnv(home, g.AllowFile, "", "", proxyURL)
	f.netEnv = gitEnv(home, g.AllowFile, rem.origin, header, proxyURL)

	start := time.Now()
	f.say("Fetching %s (%s)", f.name, label)
	co, err = f.fetch()
	if err != nil {
		return Checkout{}, f.fail(err)
	}
	f.say("Checked out %s %q by %s", co.Commit, co.Message, co.Author)
	if base != "" {
		co.Changed, co.ChangedKnown = f.changes(strings.ToLower(base), co.Commit)
	}
	f.notes()
	f.log.Info("source fetched", "ref", label, "commit", co.Commit, "shallow", co.Shallow,
		"duration", time.Since(start).Round(time.Millisecond))
	return co, nil
}

// remote is a checked repository URL.
type remote struct {
	url    string // what git is given and messages show; no credentials
	origin string // "scheme://host/" for http(s), scoping the auth header
}

func invalid(format string, args ...any) error {
	return apogee.Errorf(apogee.EINVALID, format, args...)
}

const useHTTPS = "use an https:// URL such as https://github.com/owner/repo.git"

// parseRemote checks a repository URL against the transports Git allows.
// Messages about refused URLs do not repeat the URL, which may hold a
// secret.
func (g *Git) parseRemote(raw, token string) (remote, error) {
	switch {
	case raw == "":
		return remote{}, invalid("no repository URL; %s", useHTTPS)
	case strings.HasPrefix(raw, "-"):
		return remote{}, invalid("the repository URL may not start with '-'; %s", useHTTPS)
	case strings.Contains(raw, "::"):
		return remote{}, invalid("git remote helpers (such as ext::) are not allowed; %s", useHTTPS)
	case strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return remote{}, invalid("the repository URL holds spaces or control characters")
	case strings.HasPrefix(raw, "/"):
		if !g.AllowFile {
			return remote{}, invalid("local repositories are not allowed on this server; %s", useHTTPS)
		}
		return remote{url: filepath.Clean(raw)}, nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return remote{}, invalid("the repository URL is not an https:// URL (ssh and host:path forms are not supported); %s", useHTTPS)
	}
	switch scheme := strings.ToLower(u.Scheme); scheme {
	case "https", "http":
		if u.User != nil {
			return remote{}, invalid("the repository URL holds a user name or password: remove it and give the token separately")
		}
		if u.Host == "" {
			return remote{}, invalid("the repository URL has no host; %s", useHTTPS)
		}
		if err := g.policy().CheckHost(u.Hostname()); err != nil {
			return remote{}, invalid("%s", err.Error())
		}
		if token != "" && scheme == "http" && !isLoopback(u.Hostname()) {
			return remote{}, invalid("refusing to send the token over plain http to %s; use https", u.Host)
		}
		return remote{url: raw, origin: scheme + "://" + u.Host + "/"}, nil
	case "file":
		if !g.AllowFile {
			return remote{}, invalid("file:// repositories are not allowed on this server; %s", useHTTPS)
		}
		if u.Host != "" && u.Host != "localhost" {
			return remote{}, invalid("a file:// URL cannot name a host")
		}
		return remote{url: raw}, nil
	default:
		return remote{}, invalid("the %s:// transport is not allowed; %s", scheme, useHTTPS)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tokenHeader checks token and returns the strings to redact and the
// Authorization header that carries it ("" without a token).
func tokenHeader(token string) (secrets []string, header string, err error) {
	if token == "" {
		return nil, "", nil
	}
	if len(token) > 4096 || strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, "", invalid("the token holds spaces or control characters, or is too long; paste it again")
	}
	user, secret, ok := strings.Cut(token, ":")
	if !ok || user == "" || secret == "" {
		user, secret = "x-access-token", token
	}
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + secret))
	secrets = []string{token, basic}
	if secret != token {
		secrets = append(secrets, secret)
	}
	return secrets, "Authorization: Basic " + basic, nil
}

type refKind int

const (
	refDefault refKind = iota // "": the remote's HEAD
	refName                   // a branch, a tag or a commit SHA
	refBranch                 // refs/heads/x
	refTag                    // refs/tags/x
)

type wantRef struct {
	kind refKind
	name string // without refs/heads/ or refs/tags/
}

func (w wantRef) String() string {
	switch w.kind {
	case refDefault:
		return "default branch"
	case refBranch:
		return "branch " + w.name
	case refTag:
		return "tag " + w.name
	}
	return fmt.Sprintf("branch, tag or commit %q", w.name)
}

// parseRef checks ref against git's rules for ref names (roughly
// git check-ref-format), which also keeps it from being read as an option.
func parseRef(ref string) (wantRef, error) {
	if ref == "" {
		return wantRef{kind: refDefault}, nil
	}
	w := wantRef{kind: refName, name: ref}
	if n, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		w = wantRef{kind: refBranch, name: n}
	} else if n, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		w = wantRef{kind: refTag, name: n}
	}
	n := w.name
	bad := n == "" || len(n) > 255 || n == "@" || strings.HasPrefix(n, "-") ||
		strings.HasPrefix(n, "/") || strings.HasSuffix(n, "/") || strings.HasSuffix(n, ".") ||
		strings.HasSuffix(n, ".lock") || strings.Contains(n, "..") || strings.Contains(n, "//") ||
		strings.Contains(n, "@{") || strings.Contains(n, "/.") || strings.HasPrefix(n, ".") ||
		strings.ContainsAny(n, " ~^:?*[\\") ||
		strings.ContainsFunc(n, func(r rune) bool { return r < ' ' || r == 0x7f })
	if bad {
		return wantRef{}, invalid("%q is not a valid branch, tag or commit name", ref)
	}
	return w, nil
}

// ValidRef checks a branch, tag or commit name by the rules git applies
// (git check-ref-format), so a name the platform accepts is one a fetch
// can ask for. The error is an *apogee.Error with code EINVALID.
func ValidRef(ref string) error {
	if ref == "" {
		return invalid("the branch, tag or commit name is empty")
	}
	_, err := parseRef(ref)
	return err
}

// isHex reports whether s could be an abbreviated or full object name.
func isHex(s string) bool {
	if len(s) < 4 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// gitEnv is the whole environment of a git command. origin and header
// are set only for the commands that talk to the server; proxy, if set,
// is the egress proxy every http(s) connection goes through.
func gitEnv(home string, allowFile bool, origin, header, proxy string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	protocols := "https:http"
	if allowFile {
		protocols += ":file"
	}
	env := []string{
		"PATH=" + path,
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ALLOW_PROTOCOL=" + protocols,
		"LC_ALL=C",
		"LANG=C",
	}
	pass := []string{"TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR", "GIT_SSL_CAINFO"}
	if proxy == "" {
		pass = append(pass, "http_proxy", "https_proxy", "no_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")
	}
	for _, k := range pass {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	config := [][2]string{
		{"init.defaultBranch", "main"},
		{"advice.detachedHead", "false"},
		{"core.hooksPath", os.DevNull},
		{"core.fsmonitor", "false"},
		{"credential.helper", ""},
		{"submodule.recurse", "false"},
		{"fetch.recurseSubmodules", "false"},
		{"fetch.writeCommitGraph", "false"},
		{"gc.auto", "0"},
		{"maintenance.auto", "false"},
	}
	if allowFile {
		config = append(config, [2]string{"protocol.file.allow", "always"})
	}
	if header != "" {
		config = append(config, [2]string{"http." + origin + ".extraHeader", header})
	}
	if proxy != "" {
		config = append(config, [2]string{"http.proxy", proxy}, [2]string{"http.proxyAuthMethod", "basic"})
	}
	env = append(env, "GIT_CONFIG_COUNT="+strconv.Itoa(len(config)))
	for i, kv := range config {
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, kv[0]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, kv[1]))
	}
	return env
}

// fetcher is one Fetch in progress.
type fetcher struct {
	proxy       *egress.Proxy // nil: git connects directly
	parent, ctx context.Context
	timeout     time.Duration
	bin, dir    string
	env, netEnv []string
	url         string
	name        string // what messages call it (Git.Name)
	ref         wantRef
	label       string // the ref as given, or "default branch"
	secrets     []string
	progress    io.Writer
	log         *slog.Logger
}

// gitError is a git command that failed. Its stderr is already redacted.
type gitError struct {
	cmd    string
	stderr string
	err    error
}

func (e *gitError) Error() string {
	return fmt.Sprintf("git %s: %v: %s", e.cmd, e.err, summarize(e.stderr))
}

func (e *gitError) Unwrap() error { return e.err }

// run runs git in f.dir. auth gives it the environment with the token.
// show streams its stderr to the progress output; its tail goes into the
// error either way.
func (f *fetcher) run(auth, show bool, args ...string) ([]byte, error) {
	f.log.Debug("git", "args", args)
	cmd := exec.CommandContext(f.ctx, f.bin, args...)
	cmd.Dir = f.dir
	cmd.Env = f.env
	if auth {
		cmd.Env = f.netEnv
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	errTail := &tail{n: 16 << 10}
	toTail := f.aliases(newRedactor(errTail, f.secrets...))
	stderr := io.Writer(toTail)
	var toProgress *redactor
	if show && f.progress != nil {
		toProgress = f.aliases(newRedactor(f.progress, f.secrets...))
		stderr = io.MultiWriter(toProgress, toTail)
	}
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second
	killGroupOnCancel(cmd)
	err := cmd.Run()
	toTail.Flush()
	if toProgress != nil {
		toProgress.Flush()
	}
	if err != nil {
		return nil, &gitError{cmd: args[0], stderr: string(errTail.buf), err: err}
	}
	return stdout.Bytes(), nil
}

// aliases has r show a named repository by its name, not its URL or
// path (Git.Name).
func (f *fetcher) aliases(r *redactor) *redactor {
	if f.name == f.url {
		return r
	}
	// The whole forms first: git's "From" line drops a ".git" suffix.
	p, local := strings.CutPrefix(f.url, "file://")
	for _, u := range []string{f.url, strings.TrimSuffix(f.url, ".git")} {
		r.alias(u, f.name)
	}
	if local {
		for _, u := range []string{p, strings.TrimSuffix(p, ".git")} {
			r.alias(u, f.name)
		}
	}
	return r
}

// say writes a line of our own to the progress output.
func (f *fetcher) say(format string, args ...any) {
	if f.progress != nil {
		fmt.Fprintf(f.progress, format+"\n", args...)
	}
}

// fail turns an error of fetch into what Fetch returns.
func (f *fetcher) fail(err error) error {
	if perr := f.parent.Err(); perr != nil {
		return fmt.Errorf("source: fetching %s: %w", f.name, perr)
	}
	if f.ctx.Err() != nil {
		return &apogee.Error{
			Code: apogee.EINVALID,
			Message: fmt.Sprintf("fetching %s took longer than %v; check that the server answers, or use a smaller repository",
				f.name, f.timeout),
			Err: f.ctx.Err(),
		}
	}
	var ge *gitError
	if errors.As(err, &ge) && f.proxy != nil && f.proxy.Refused() != nil {
		return &apogee.Error{
			Code:    apogee.EINVALID,
			Message: fmt.Sprintf("cannot fetch %s: %s", f.name, f.proxy.Refused().Error()),
			Err:     err,
		}
	}
	if errors.As(err, &ge) {
		return &apogee.Error{
			Code: apogee.EINVALID,
			Message: fmt.Sprintf("cannot fetch %s (%s): %s (git: %s); check the URL and that the token can read the repository",
				f.name, f.label, explain(ge.stderr), summarize(ge.stderr)),
			Err: err,
		}
	}
	return err
}

// summarize picks git's own error lines out of its stderr.
func summarize(stderr string) string {
	lines := strings.FieldsFunc(stderr, func(r rune) bool { return r == '\n' || r == '\r' })
	var picked []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "fatal:") || strings.HasPrefix(l, "error:") {
			picked = append(picked, l)
		}
	}
	if len(picked) == 0 {
		for i := len(lines) - 1; i >= 0; i-- {
			if l := strings.TrimSpace(lines[i]); l != "" {
				picked = []string{l}
				break
			}
		}
	}
	if len(picked) > 3 {
		picked = picked[len(picked)-3:]
	}
	s := strings.Join(picked, "; ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	if s == "" {
		s = "no message"
	}
	return s
}

// explain says in a few words what went wrong, from git's stderr.
func explain(stderr string) string {
	s := strings.ToLower(stderr)
	has := func(subs ...string) bool {
		for _, sub := range subs {
			if strings.Contains(s, sub) {
				return true
			}
		}
		return false
	}
	switch {
	case has("could not read username", "could not read password", "authentication failed",
		"terminal prompts disabled", "http 401", "http 403", "invalid username or password"):
		return "authentication failed: the token is missing, wrong, or cannot read this repository"
	case has("repository not found", "does not appear to be a git repository", "http 404", "not found"):
		return "repository not found"
	case has("could not resolve host", "couldn't resolve host", "connection refused", "failed to connect",
		"timed out", "network is unreachable"):
		return "the server cannot be reached"
	case has("couldn't find remote ref", "unadvertised object", "not our ref"):
		return "the ref is not in the repository"
	}
	return "git failed"
}

// fetch runs the git commands. Its errors are turned into Fetch's by
// fail.
func (f *fetcher) fetch() (Checkout, error) {
	if _, err := f.run(false, false, "init", "-q", "--template=", "."); err != nil {
		return Checkout{}, err
	}
	if _, err := f.run(false, false, "remote", "add", "origin", f.url); err != nil {
		return Checkout{}, err
	}
	refs, err := f.lsRemote()
	if err != nil {
		return Checkout{}, err
	}

	var co Checkout
	var refspec string // what to fetch at depth 1; "" for a commit
	var commit string  // the commit or prefix wanted, for a SHA
	switch n := f.ref.name; {
	case f.ref.kind == refDefault:
		switch {
		case refs.head != "":
			co.Branch = refs.head
			refspec = "+refs/heads/" + refs.head + ":refs/remotes/origin/" + refs.head
		case refs.refs["HEAD"] != "":
			refspec = "HEAD"
		default:
			return Checkout{}, invalid("%s has no default branch (is it empty?); push a commit or name a branch, tag or commit", f.name)
		}
	case f.ref.kind != refTag && refs.refs["refs/heads/"+n] != "":
		co.Branch = n
		refspec = "+refs/heads/" + n + ":refs/remotes/origin/" + n
	case f.ref.kind != refBranch && refs.refs["refs/tags/"+n] != "":
		co.Tag = n
		refspec = "+refs/tags/" + n + ":refs/tags/" + n
	case f.ref.kind == refName && isHex(n):
		commit = strings.ToLower(n)
	default:
		return Checkout{}, invalid("%s has no %s; check the name, or give a full commit SHA", f.name, f.ref.String())
	}

	if commit != "" {
		return f.fetchCommit(commit, refs)
	}
	if err := f.fetchShallow(refspec); err != nil {
		return Checkout{}, err
	}
	sha, err := f.revParse("FETCH_HEAD^{commit}")
	if err != nil {
		return Checkout{}, invalid("%s: %s does not point to a commit", f.name, f.ref)
	}
	return f.checkout(co, sha, true)
}

// remoteRefs is what ls-remote listed.
type remoteRefs struct {
	head string            // the branch HEAD points to, if the server says
	refs map[string]string // ref name → object name ("^{}" names: peeled tags)
}

// lsRemote lists HEAD and the refs the wanted name could be or, for a
// name that could be a SHA, every branch and tag (to find it among their
// tips).
func (f *fetcher) lsRemote() (remoteRefs, error) {
	args := []string{"ls-remote", "--symref", "origin", "HEAD"}
	if n := f.ref.name; f.ref.kind == refName && isHex(n) {
		args = []string{"ls-remote", "--heads", "--tags", "origin"}
	} else if f.ref.kind != refDefault {
		args = append(args, "refs/heads/"+n, "refs/tags/"+n)
	}
	out, err := f.run(true, false, args...)
	if err != nil {
		return remoteRefs{}, err
	}
	r := remoteRefs{refs: map[string]string{}}
	for line := range strings.Lines(string(out)) {
		left, name, ok := strings.Cut(strings.TrimRight(line, "\n"), "\t")
		if !ok {
			continue
		}
		if target, ok := strings.CutPrefix(left, "ref: "); ok {
			if name == "HEAD" {
				r.head = strings.TrimPrefix(target, "refs/heads/")
			}
			continue
		}
		r.refs[name] = left
	}
	return r, nil
}

// fetchShallow fetches one refspec at depth 1.
func (f *fetcher) fetchShallow(refspec string) error {
	_, err := f.run(true, true, "fetch", "--depth", "1", "--no-tags", "--no-progress", "origin", refspec)
	return err
}

// fetchCommit fetches a commit given by its full or abbreviated SHA.
func (f *fetcher) fetchCommit(want string, refs remoteRefs) (Checkout, error) {
	// A branch or tag whose tip is the commit: fetch it by name, which
	// every server allows at depth 1.
	byCommit := map[string][]string{}
	for name, sha := range refs.refs {
		if strings.HasPrefix(sha, want) {
			byCommit[sha] = append(byCommit[sha], strings.TrimSuffix(name, "^{}"))
		}
	}
	fetched := false
	switch {
	case len(byCommit) == 1:
		for _, names := range byCommit {
			slices.Sort(names) // refs/heads/ before refs/tags/
			name := names[0]
			dst := name
			if b, ok := strings.CutPrefix(name, "refs/heads/"); ok {
				dst = "refs/remotes/origin/" + b
			}
			fetched = f.fetchShallow("+"+name+":"+dst) == nil
		}
	case len(want) == 40 || len(want) == 64:
		err := f.fetchShallow(want)
		fetched = err == nil
		if !fetched && f.ctx.Err() == nil {
			f.log.Info("source: fetching a commit by SHA failed; fetching all branches and tags", "commit", want, "err", err)
		}
	}
	if f.ctx.Err() != nil {
		return Checkout{}, f.ctx.Err()
	}
	if fetched {
		if sha, err := f.revParse("FETCH_HEAD^{commit}"); err == nil && strings.HasPrefix(sha, want) {
			return f.checkout(Checkout{}, sha, true)
		}
	}

	// Fall back to the history of every branch and tag.
	f.say("Commit %s is not the tip of a branch or tag, or the server will not send it alone: fetching the history of every branch and tag", want)
	args := []string{"fetch", "--no-tags", "--no-progress"}
	if _, err := os.Stat(filepath.Join(f.dir, ".git", "shallow")); err == nil {
		args = append(args, "--unshallow")
	}
	args = append(args, "origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*")
	if _, err := f.run(true, true, args...); err != nil {
		return Checkout{}, err
	}
	sha, err := f.revParse(want + "^{commit}")
	if err != nil || !strings.HasPrefix(sha, want) {
		if f.ctx.Err() != nil {
			return Checkout{}, f.ctx.Err()
		}
		return Checkout{}, invalid("%s has no commit %s on any branch or tag (or the short SHA is ambiguous); check it, or give the full SHA",
			f.name, want)
	}
	return f.checkout(Checkout{}, sha, false)
}

// revParse resolves rev to a full object name.
func (f *fetcher) revParse(rev string) (string, error) {
	out, err := f.run(false, false, "rev-parse", "--verify", "--quiet", "--end-of-options", rev)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// checkout checks sha out and fills in co.
func (f *fetcher) checkout(co Checkout, sha string, shallow bool) (Checkout, error) {
	if _, err := f.run(false, true, "checkout", "-q", "--detach", sha); err != nil {
		return Checkout{}, err
	}
	out, err := f.run(false, false, "log", "-1", "--format=%H%x00%an <%ae>%x00%s", "HEAD")
	if err != nil {
		return Checkout{}, err
	}
	parts := strings.SplitN(strings.TrimRight(string(out), "\n"), "\x00", 3)
	if len(parts) != 3 || parts[0] != sha {
		return Checkout{}, fmt.Errorf("source: git log after checking out %s: unexpected output %q", sha, out)
	}
	co.Commit, co.Author, co.Message = parts[0], parts[1], parts[2]
	co.Shallow = shallow
	return co, nil
}

// changes lists the paths that differ between base and commit, fetching
// base at depth 1 when the clone lacks it.
func (f *fetcher) changes(base, commit string) ([]string, bool) {
	if base == commit {
		return []string{}, true
	}
	if _, err := f.revParse(base + "^{commit}"); err != nil {
		if err := f.fetchShallow(base); err != nil {
			if f.ctx.Err() == nil {
				f.say("Cannot fetch the commit before the push (%s) to see what it changed; building", base)
				f.log.Info("source: fetch the diff base", "base", base, "err", err)
			}
			return nil, false
		}
	}
	out, err := f.run(false, false, "diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", base, commit, "--")
	if err != nil {
		f.say("Cannot compare %s with %s; building", base, commit)
		f.log.Info("source: diff", "base", base, "err", err)
		return nil, false
	}
	changed := []string{}
	for _, p := range strings.Split(string(out), "\x00") {
		if p != "" {
			changed = append(changed, p)
		}
	}
	f.say("The push changed %d files since %s", len(changed), base[:min(12, len(base))])
	return changed, true
}

// notes tells the build log what the checkout lacks.
func (f *fetcher) notes() {
	if _, err := os.Lstat(filepath.Join(f.dir, ".gitmodules")); err == nil {
		f.say("Note: this repository has submodules (.gitmodules); they are not fetched")
	}
	if b, err := readHead(filepath.Join(f.dir, ".gitattributes"), 64<<10); err == nil && bytes.Contains(b, []byte("filter=lfs")) {
		f.say("Note: Git LFS is not supported; files tracked by LFS are left as pointer files")
	}
}

// readHead reads at most n bytes of a regular file, never following a
// link.
func readHead(name string, n int64) ([]byte, error) {
	fi, err := os.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	fh, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return io.ReadAll(io.LimitReader(fh, n))
}
