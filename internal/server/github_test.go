package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/spf13/pflag"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/github/githubtest"
)

// githubServer runs a whole server with sign-in by GitHub against the
// fake GitHub gh and open sign-up, and returns its dashboard URL
// (http://localhost:PORT, the URL GitHub sends browsers back to).
func githubServer(t *testing.T, gh *githubtest.Server, configure ...func(*Config)) (*Server, string) {
	t.Helper()
	cfg := Config{Data: t.TempDir(), Listen: "127.0.0.1:0", Domain: "localhost", CacheMB: 16, MaxFileMB: 8,
		UploadTTL: time.Hour, LogLevel: "warn", LogFormat: "text", ShutdownTTL: time.Second, Signup: "open",
		GitHubClientID: gh.ClientID, GitHubClientSecret: gh.ClientSecret, GitHubURL: gh.WebURL(), GitHubAPIURL: gh.APIURL()}
	for _, c := range configure {
		c(&cfg)
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		s.Close()
	})
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	addr := "http://localhost:" + port
	for deadline := time.Now().Add(5 * time.Second); s.URL() != addr; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) { // Serve learns the port
			t.Fatalf("server URL %s, want %s", s.URL(), addr)
		}
	}
	gh.CallbackURL = addr + "/auth/github/callback"
	return s, addr
}

func fakeGitHub(t *testing.T) *githubtest.Server {
	gh := githubtest.New(t, "Iv1.server-test", "server-test-secret")
	gh.AddUser(githubtest.User{ID: 7, Login: "mona", Emails: []githubtest.Email{{Email: "mona@example.com", Primary: true, Verified: true}},
		Repos: []githubtest.Repo{{FullName: "mona/site", DefaultBranch: "main"}}})
	gh.SignIn("mona")
	return gh
}

// TestGitHubSignInThroughServer follows the real redirects of a whole
// server and the fake GitHub with an HTTP client and a cookie jar.
func TestGitHubSignInThroughServer(t *testing.T) {
	gh := fakeGitHub(t)
	s, addr := githubServer(t, gh)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	res, err := c.Get(addr + "/auth/github?next=/projects/new")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Request.URL.String() != addr+"/" || !strings.Contains(string(body), "Welcome to Apogee, @mona") {
		t.Fatalf("ended at %s with %d: %.500s", res.Request.URL, res.StatusCode, body)
	}
	u, err := s.Store().UserByEmail(t.Context(), "mona@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !u.Admin {
		t.Error("the first account of a server is its admin, also when made by GitHub")
	}
	id, err := s.Store().IdentityOfUser(t.Context(), u.ID, apogee.ProviderGitHub)
	if err != nil || id.Login != "mona" || !strings.HasPrefix(id.AccessToken, "v1:") || !strings.HasPrefix(id.RefreshToken, "v1:") {
		t.Fatalf("identity %+v, %v", id, err)
	}
	res, err = c.Get(addr + "/projects/new")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), "mona/site") {
		t.Fatalf("new-project page does not list the repository: %.2000s", body)
	}
}

// TestGitHubInBrowser clicks "Continue with GitHub" in chromium.
func TestGitHubInBrowser(t *testing.T) {
	gh := fakeGitHub(t)
	_, addr := githubServer(t, gh)
	b := newBrowser(t)
	run, text, shot := steps(t, b, artifacts(t))
	run("sign-in page", chromedp.Navigate(addr+"/login"), chromedp.WaitVisible(`//a[normalize-space()="Continue with GitHub"]`))
	shot("login-github")
	run("continue with GitHub",
		chromedp.Click(`//a[normalize-space()="Continue with GitHub"]`),
		chromedp.WaitVisible(`//div[contains(@class,"flash") and contains(., "Welcome to Apogee, @mona")]`),
	)
	run("account", chromedp.Navigate(addr+"/account"), chromedp.WaitVisible(`//section[@id="github"]`))
	if got := text(`#github`); !strings.Contains(got, "Connected to GitHub as @mona") {
		t.Fatalf("account page says %q", got)
	}
	shot("account-github")
}

func TestGitHubConfig(t *testing.T) {
	var c Config
	fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
	c.Flags(fs)
	t.Setenv("APOGEE_GITHUB_CLIENT_ID", "Iv1.env")
	t.Setenv("APOGEE_GITHUB_CLIENT_SECRET", "from-env")
	if err := fs.Parse([]string{"--data", t.TempDir(), "--github-api-url", "https://ghe.example.com/api/v3"}); err != nil {
		t.Fatal(err)
	}
	if err := FromEnv(fs); err != nil {
		t.Fatal(err)
	}
	if err := c.Normalize(); err != nil {
		t.Fatal(err)
	}
	if c.GitHubClientID != "Iv1.env" || c.GitHubClientSecret != "from-env" || c.GitHubURL != "https://github.com" || c.GitHubAPIURL != "https://ghe.example.com/api/v3" {
		t.Fatalf("config %+v", c)
	}

	base := Config{Data: "d", Listen: ":8080", Domain: "localhost", CacheMB: 1, MaxFileMB: 1, UploadTTL: time.Hour, LogLevel: "info", LogFormat: "text"}
	for _, tt := range []struct {
		name string
		mut  func(*Config)
		says string
	}{
		{"id without secret", func(c *Config) { c.GitHubClientID = "x" }, "--github-client-secret"},
		{"secret without id", func(c *Config) { c.GitHubClientSecret = "x" }, "--github-client-id"},
		{"bad web URL", func(c *Config) { c.GitHubClientID, c.GitHubClientSecret, c.GitHubURL = "x", "y", "github.com" }, "--github-url"},
		{"bad API URL", func(c *Config) { c.GitHubClientID, c.GitHubClientSecret, c.GitHubAPIURL = "x", "y", "ftp://api" }, "--github-api-url"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.mut(&c)
			err := c.Normalize()
			if apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(apogee.ErrorMessage(err), tt.says) {
				t.Fatalf("Normalize() = %v, want an invalid error naming %s", err, tt.says)
			}
		})
	}
}

// TestGitHubAppConfig: the GitHub App's flags come from APOGEE_*
// variables too; an id needs a readable key file holding an RSA key and
// the webhook secret; a key or secret without an id is refused.
func TestGitHubAppConfig(t *testing.T) {
	pemKey, _ := githubtest.AppKey(t)
	keyFile := filepath.Join(t.TempDir(), "app.pem")
	if err := os.WriteFile(keyFile, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	var c Config
	fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
	c.Flags(fs)
	t.Setenv("APOGEE_GITHUB_APP_ID", "4242")
	t.Setenv("APOGEE_GITHUB_APP_WEBHOOK_SECRET", "app-secret")
	if err := fs.Parse([]string{"--data", t.TempDir(), "--github-app-key", keyFile}); err != nil {
		t.Fatal(err)
	}
	if err := FromEnv(fs); err != nil {
		t.Fatal(err)
	}
	if err := c.Normalize(); err != nil {
		t.Fatal(err)
	}
	if c.GitHubAppID != 4242 || c.GitHubAppKey != keyFile || c.GitHubAppWebhookSecret != "app-secret" {
		t.Fatalf("config %+v", c)
	}

	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n"), 0o600)
	base := Config{Data: "d", Listen: ":8080", Domain: "localhost", CacheMB: 1, MaxFileMB: 1, UploadTTL: time.Hour, LogLevel: "info", LogFormat: "text"}
	for _, tt := range []struct {
		name string
		mut  func(*Config)
		says string
	}{
		{"id without key", func(c *Config) { c.GitHubAppID, c.GitHubAppWebhookSecret = 1, "s" }, "--github-app-key"},
		{"id without secret", func(c *Config) { c.GitHubAppID, c.GitHubAppKey = 1, keyFile }, "--github-app-webhook-secret"},
		{"key without id", func(c *Config) { c.GitHubAppKey = keyFile }, "--github-app-id"},
		{"missing key file", func(c *Config) { c.GitHubAppID, c.GitHubAppKey, c.GitHubAppWebhookSecret = 1, keyFile+".gone", "s" }, "cannot read"},
		{"not a key", func(c *Config) { c.GitHubAppID, c.GitHubAppKey, c.GitHubAppWebhookSecret = 1, bad, "s" }, "not an RSA private key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.mut(&c)
			err := c.Normalize()
			if apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(apogee.ErrorMessage(err), tt.says) {
				t.Fatalf("Normalize() = %v, want an invalid error naming %s", err, tt.says)
			}
		})
	}
}
