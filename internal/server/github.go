package server

import (
	"fmt"
	"net/http"
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
		return nil
	}
	if c.GitHubClientSecret == "" {
		return apogee.Errorf(apogee.EINVALID, "--github-client-id needs --github-client-secret (APOGEE_GITHUB_CLIENT_SECRET) too")
	}
	return github.CheckURLs(c.GitHubURL, c.GitHubAPIURL)
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
