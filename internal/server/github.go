package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/github"
)

// normalizeGitHub checks the GitHub sign-in flags: a client id needs its
// secret, and the URLs must be http(s).
func (c *Config) normalizeGitHub() error {
	if c.GitHubClientID == "" {
		if c.GitHubClientSecret != "" {
			return apogee.Errorf(apogee.EINVALID, "--github-client-secret is set without --github-client-id; set both to turn on sign-in with GitHub")
		}
		if c.GitHubAppID != 0 {
			if err := github.CheckURLs(c.GitHubURL, c.GitHubAPIURL); err != nil {
				return err
			}
		}
		return c.normalizeGitHubApp()
	}
	if c.GitHubClientSecret == "" {
		return apogee.Errorf(apogee.EINVALID, "--github-client-id needs --github-client-secret (APOGEE_GITHUB_CLIENT_SECRET) too")
	}
	if err := github.CheckURLs(c.GitHubURL, c.GitHubAPIURL); err != nil {
		return err
	}
	return c.normalizeGitHubApp()
}

// normalizeGitHubApp checks the GitHub App's flags: an id needs its key
// file and webhook secret, and the key must be the app's RSA key.
func (c *Config) normalizeGitHubApp() error {
	if c.GitHubAppID == 0 {
		if c.GitHubAppKey != "" || c.GitHubAppWebhookSecret != "" {
			return apogee.Errorf(apogee.EINVALID, "--github-app-key and --github-app-webhook-secret need --github-app-id (APOGEE_GITHUB_APP_ID) too")
		}
		return nil
	}
	if c.GitHubAppKey == "" {
		return apogee.Errorf(apogee.EINVALID, "--github-app-id needs --github-app-key FILE, the app's private key (APOGEE_GITHUB_APP_KEY)")
	}
	_, err := c.newGitHubApp(nil)
	return err
}

// newGitHubApp reads the app's key and makes the GitHub App client.
func (c *Config) newGitHubApp(log *slog.Logger) (*github.App, error) {
	key, err := os.ReadFile(c.GitHubAppKey)
	if err != nil {
		return nil, apogee.Errorf(apogee.EINVALID, "--github-app-key: cannot read the GitHub App's private key: %v", err)
	}
	return github.NewApp(github.AppConfig{AppID: c.GitHubAppID, PrivateKey: key, WebhookSecret: c.GitHubAppWebhookSecret,
		WebURL: c.GitHubURL, APIURL: c.GitHubAPIURL, HTTPClient: &http.Client{Timeout: 30 * time.Second}, Log: log})
}

// githubApp is the platform's GitHub App (made once), or nil when off.
func (s *Server) githubApp() (*github.App, error) {
	if s.cfg.GitHubAppID == 0 || s.ghApp != nil {
		return s.ghApp, nil
	}
	app, err := s.cfg.newGitHubApp(s.log.With("component", "github-app"))
	if err != nil {
		return nil, fmt.Errorf("github app: %w", err)
	}
	s.log.Info("the GitHub App is on", "app", s.cfg.GitHubAppID, "github", s.cfg.GitHubAPIURL)
	s.ghApp = app
	return app, nil
}

// appToken returns the token a build clones project p with: its
// GIT_TOKEN variable, else the GitHub App's installation token for a
// linked project (github.App.CloneToken).
func (s *Server) appToken(gitToken func(context.Context, *apogee.Project) (string, error)) func(context.Context, *apogee.Project) (string, error) {
	if s.ghApp == nil {
		return gitToken
	}
	return s.ghApp.CloneToken(s.store, gitToken)
}

// githubClient is the GitHub client of the dashboard and of commit
// statuses (made once), or nil when sign-in with GitHub is off.
func (s *Server) githubClient() (*github.Client, error) {
	cfg := s.cfg
	if cfg.GitHubClientID == "" || s.gh != nil {
		return s.gh, nil
	}
	gh, err := github.New(github.Config{
		ClientID: cfg.GitHubClientID, ClientSecret: cfg.GitHubClientSecret,
		WebURL: cfg.GitHubURL, APIURL: cfg.GitHubAPIURL,
		Store: s.store, Box: s.box,
		HTTPClient: &http.Client{Timeout: 30 * time.Second},
		Log:        s.log.With("component", "github"),
	})
	if err != nil {
		return nil, fmt.Errorf("github sign-in: %w", err)
	}
	s.log.Info("sign-in with GitHub is on", "github", cfg.GitHubURL)
	s.gh = gh
	return gh, nil
}
