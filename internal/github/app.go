package github

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"

	"github.com/apogee-dev/apogee"
)

// AppConfig configures the platform's GitHub App (besides the OAuth
// sign-in): its id, its private key (PEM, as GitHub hands it out) and
// the secret its webhooks are signed with.
type AppConfig struct {
	AppID         int64
	PrivateKey    []byte
	WebhookSecret string
	WebURL        string // default DefaultWebURL
	APIURL        string // default DefaultAPIURL
	HTTPClient    *http.Client
	Log           *slog.Logger
}

// App calls GitHub as the platform's GitHub App. It signs a JWT (RS256,
// issuer the app id, 2 minutes) with the app's key for the app's own
// endpoints and mints installation tokens (POST
// {api}/app/installations/{id}/access_tokens) with it, through
// github.com/bradleyfalzon/ghinstallation/v2, which keeps each token
// until a minute before it expires (GitHub's last an hour). An
// installation token reaches the repositories the installation was
// granted, with the app's permissions: Apogee clones them, sets their
// commit statuses and lists them with it. Safe for concurrent use.
type App struct {
	id     int64
	secret []byte
	apps   *ghinstallation.AppsTransport
	c      *Client // the API calls (no OAuth)
	log    *slog.Logger

	mu            sync.Mutex
	installations map[int64]*ghinstallation.Transport
}

// NewApp returns the App of cfg; the key must be an RSA private key in
// PEM (PKCS#1 as GitHub makes them, or PKCS#8).
func NewApp(cfg AppConfig) (*App, error) {
	if cfg.AppID <= 0 {
		return nil, apogee.Errorf(apogee.EINVALID, "--github-app-id must be the GitHub App's numeric id (the app's settings page, \"App ID\")")
	}
	if cfg.WebhookSecret == "" {
		return nil, apogee.Errorf(apogee.EINVALID, "the GitHub App needs its webhook secret (--github-app-webhook-secret): Apogee verifies every delivery with it")
	}
	web, err := baseURL("--github-url", cfg.WebURL, DefaultWebURL)
	if err != nil {
		return nil, err
	}
	api, err := baseURL("--github-api-url", cfg.APIURL, DefaultAPIURL)
	if err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	apps, err := ghinstallation.NewAppsTransport(base, cfg.AppID, cfg.PrivateKey)
	if err != nil {
		return nil, apogee.Errorf(apogee.EINVALID, "the GitHub App's private key (--github-app-key) is not an RSA private key in PEM: %v; download a new one from the app's settings page", err)
	}
	apps.BaseURL = api
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &App{id: cfg.AppID, secret: []byte(cfg.WebhookSecret), apps: apps,
		c:   &Client{web: web, api: api, http: hc, now: time.Now, log: log},
		log: log, installations: map[int64]*ghinstallation.Transport{}}, nil
}

// ID is the app's id.
func (a *App) ID() int64 { return a.id }

// RepoOf is Client.RepoOf for the app's GitHub.
func (a *App) RepoOf(repoURL string) (string, bool) { return a.c.RepoOf(repoURL) }

// Verify checks a delivery's X-Hub-Signature-256 against the app's
// webhook secret, in constant time (EUNAUTHORIZED when it does not match).
func (a *App) Verify(signature string, body []byte) error {
	hexSig, ok := strings.CutPrefix(signature, "sha256=")
	sig, err := hex.DecodeString(hexSig)
	mac := hmac.New(sha256.New, a.secret)
	mac.Write(body)
	if !ok || err != nil || !hmac.Equal(mac.Sum(nil), sig) {
		return apogee.Errorf(apogee.EUNAUTHORIZED, "the signature (X-Hub-Signature-256) does not match the GitHub App's webhook secret; set the same secret in the app's settings and in --github-app-webhook-secret")
	}
	return nil
}

// installation returns the transport of an installation's token.
func (a *App) installation(id int64) *ghinstallation.Transport {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.installations[id]
	if t == nil {
		t = ghinstallation.NewFromAppsTransport(a.apps, id)
		a.installations[id] = t
	}
	return t
}

// InstallationToken returns a token of installation id, minted or kept.
func (a *App) InstallationToken(ctx context.Context, id int64) (string, error) {
	tok, err := a.installation(id).Token(ctx)
	if err != nil {
		var he *ghinstallation.HTTPError
		if errors.As(err, &he) && he.Response != nil && he.Response.StatusCode == http.StatusNotFound {
			return "", apogee.Errorf(apogee.ENOTFOUND, "the GitHub App is no longer installed (installation %d); install it again on the repository's account", id)
		}
		return "", fmt.Errorf("github app: installation %d token: %w", id, err)
	}
	return tok, nil
}

// Forget drops an installation's token (the app was uninstalled).
func (a *App) Forget(id int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.installations, id)
}

// RepoInstallation returns the id of the installation that grants the
// app repository fullName (GET {api}/repos/{owner}/{repo}/installation,
// as the app): ENOTFOUND when none does.
func (a *App) RepoInstallation(ctx context.Context, fullName string) (int64, error) {
	p, err := repoPath(fullName)
	if err != nil {
		return 0, err
	}
	var out struct {
		ID int64 `json:"id"`
	}
	err = a.c.get(ctx, &http.Client{Transport: a.apps, Timeout: a.c.http.Timeout}, p+"/installation", &out)
	var ae *errAPI
	if errors.As(err, &ae) && ae.status == http.StatusNotFound {
		return 0, apogee.Errorf(apogee.ENOTFOUND, "the GitHub App is not installed on %s; install it and grant it the repository", fullName)
	}
	if err != nil {
		return 0, err
	}
	return out.ID, nil
}

// InstallationRepos lists the repositories installation id was granted
// (GET {api}/installation/repositories with its token, 100 a page).
func (a *App) InstallationRepos(ctx context.Context, id int64) ([]Repo, error) {
	hc := &http.Client{Transport: a.installation(id), Timeout: a.c.http.Timeout}
	var all []Repo
	for page := 1; page <= 10; page++ {
		var out struct {
			TotalCount   int    `json:"total_count"`
			Repositories []Repo `json:"repositories"`
		}
		if err := a.c.get(ctx, hc, fmt.Sprintf("/installation/repositories?per_page=100&page=%d", page), &out); err != nil {
			return nil, err
		}
		all = append(all, out.Repositories...)
		if len(out.Repositories) < 100 || len(all) >= out.TotalCount {
			break
		}
	}
	return all, nil
}

// Installation is an installation of the app: its id and the account
// (user or organization) it is installed on.
type Installation struct {
	ID      int64
	Account string
}

// Installations lists the app's installations (GET
// {api}/app/installations as the app, 100 a page).
func (a *App) Installations(ctx context.Context) ([]Installation, error) {
	hc := &http.Client{Transport: a.apps, Timeout: a.c.http.Timeout}
	var all []Installation
	for page := 1; page <= 10; page++ {
		var out []struct {
			ID      int64 `json:"id"`
			Account struct {
				Login string `json:"login"`
			} `json:"account"`
		}
		if err := a.c.get(ctx, hc, fmt.Sprintf("/app/installations?per_page=100&page=%d", page), &out); err != nil {
			return nil, err
		}
		for _, in := range out {
			all = append(all, Installation{ID: in.ID, Account: in.Account.Login})
		}
		if len(out) < 100 {
			break
		}
	}
	return all, nil
}

// AppRepo is a repository granted to an installation of the app.
type AppRepo struct {
	Repo
	Installation Installation
}

// Repos lists the repositories granted to every installation of the
// app, by installation.
func (a *App) Repos(ctx context.Context) ([]AppRepo, error) {
	ins, err := a.Installations(ctx)
	if err != nil {
		return nil, err
	}
	var out []AppRepo
	for _, in := range ins {
		repos, err := a.InstallationRepos(ctx, in.ID)
		if err != nil {
			return nil, fmt.Errorf("github app: repositories of installation %d: %w", in.ID, err)
		}
		for _, r := range repos {
			out = append(out, AppRepo{Repo: r, Installation: in})
		}
	}
	return out, nil
}

// SetStatus sets a commit status as installation id.
func (a *App) SetStatus(ctx context.Context, id int64, fullName, sha string, st Status) error {
	t, err := a.target(id, fullName)
	if err != nil {
		return err
	}
	return t.setStatus(ctx, sha, st)
}

// CloneToken returns the token function of builds (builder.Sources.Token):
// first's token when it gives one (the project's GIT_TOKEN), else, for a
// project linked to an installation (links) whose Git URL is on the app's
// GitHub and still names the linked repository, the installation's
// token; else "" (a public repository).
func (a *App) CloneToken(links apogee.GitHubAppStore, first func(context.Context, *apogee.Project) (string, error)) func(context.Context, *apogee.Project) (string, error) {
	return func(ctx context.Context, p *apogee.Project) (string, error) {
		if first != nil {
			if tok, err := first(ctx, p); err != nil || tok != "" {
				return tok, err
			}
		}
		if p.Git == nil {
			return "", nil
		}
		l, err := links.AppProject(ctx, p.ID)
		if errors.Is(err, apogee.ErrNotFound) {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("github app: link of %s: %w", p.Name, err)
		}
		if repo, ok := a.RepoOf(p.Git.URL); !ok || !strings.EqualFold(repo, l.Repo) {
			return "", nil // the project builds from another repository now
		}
		return a.InstallationToken(ctx, l.InstallationID)
	}
}
