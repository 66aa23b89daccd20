// Package github signs people in with GitHub (OAuth 2.0 authorization
// code flow with PKCE) and calls GitHub's API with their tokens.
//
// It speaks GitHub's own endpoints, under a web URL and an API URL that
// default to github.com and api.github.com (GitHub Enterprise and tests
// set others):
//
//	GET  {web}/login/oauth/authorize?client_id&redirect_uri&state&scope&code_challenge
//	POST {web}/login/oauth/access_token   grant_type authorization_code or refresh_token
//	GET  {api}/user, {api}/user/emails, {api}/user/repos
//	POST {api}/repos/{owner}/{repo}/hooks, {api}/repos/{owner}/{repo}/statuses/{sha}
//	POST {api}/repos/{owner}/{repo}/issues/{number}/comments
//	PATCH {api}/repos/{owner}/{repo}/issues/comments/{id}
//	POST {api}/repos/{owner}/{repo}/deployments, …/deployments/{id}/statuses
//
// Both OAuth Apps (tokens that do not expire) and GitHub Apps with
// expiring user tokens (expires_in, refresh_token, refresh_token_expires_in)
// work. Tokens are stored in an apogee.IdentityStore sealed with the
// server's apogee.Sealer; every API call goes through a TokenSource that
// refreshes an expired access token with the refresh token and stores the
// new pair (GitHub rotates refresh tokens: the old one stops working). A
// refresh GitHub refuses marks the identity as needing reconnection.
//
// golang.org/x/oauth2 does the protocol: the authorization URL, PKCE, the
// token requests in either of GitHub's answer forms (form-encoded or JSON,
// errors inside a 200 answer included) and refresh.
package github

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/apogee-dev/apogee"
)

// Default URLs of github.com.
const (
	DefaultWebURL = "https://github.com"
	DefaultAPIURL = "https://api.github.com"
)

// Scopes asked of an OAuth App: the profile and the email addresses, the
// repositories' webhooks (import creates one), commit statuses (builds
// report on their commit), deployments (production builds are GitHub
// Deployments) and public_repo, the narrowest scope that lets Apogee
// comment on pull requests of public repositories (a private one's need
// repo, or a GitHub App). GitHub Apps ignore scopes and use the app's
// permissions.
var Scopes = []string{"read:user", "user:email", "write:repo_hook", "repo:status", "repo_deployment", "public_repo"}

// Store is where identities are kept (apogee.IdentityStore).
type Store interface {
	apogee.IdentityStore
}

// Config configures a Client. ClientID, ClientSecret, Store and Box are
// required.
type Config struct {
	ClientID     string
	ClientSecret string
	WebURL       string // default DefaultWebURL
	APIURL       string // default DefaultAPIURL
	Store        Store
	Box          apogee.Sealer
	// HTTPClient makes every request to GitHub (default: one with a 30 s
	// timeout).
	HTTPClient *http.Client
	Now        func() time.Time
	Log        *slog.Logger
}

// Client signs people in with GitHub and calls its API as them. It is
// safe for concurrent use.
type Client struct {
	oauth  oauth2.Config
	web    string
	api    string
	store  Store
	box    apogee.Sealer
	http   *http.Client
	now    func() time.Time
	log    *slog.Logger
	lockMu sync.Mutex
	locks  map[string]*sync.Mutex // per user: one refresh at a time
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, apogee.Errorf(apogee.EINVALID, "GitHub sign-in needs both a client id and a client secret (--github-client-id, --github-client-secret)")
	}
	if cfg.Store == nil || cfg.Box == nil {
		return nil, errors.New("github: Store and Box are required")
	}
	web, err := baseURL("--github-url", cfg.WebURL, DefaultWebURL)
	if err != nil {
		return nil, err
	}
	api, err := baseURL("--github-api-url", cfg.APIURL, DefaultAPIURL)
	if err != nil {
		return nil, err
	}
	c := &Client{
		oauth: oauth2.Config{
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Scopes: Scopes,
			Endpoint: oauth2.Endpoint{
				AuthURL:  web + "/login/oauth/authorize",
				TokenURL: web + "/login/oauth/access_token",
				// GitHub documents client_id and client_secret as parameters.
				AuthStyle: oauth2.AuthStyleInParams,
			},
		},
		web: web, api: api, store: cfg.Store, box: cfg.Box, http: cfg.HTTPClient, now: cfg.Now, log: cfg.Log,
		locks: make(map[string]*sync.Mutex),
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// CheckURLs checks GitHub's web and API URLs ("" for the defaults).
func CheckURLs(webURL, apiURL string) error {
	if _, err := baseURL("--github-url", webURL, DefaultWebURL); err != nil {
		return err
	}
	_, err := baseURL("--github-api-url", apiURL, DefaultAPIURL)
	return err
}

// baseURL checks an http(s) URL and drops a trailing slash.
func baseURL(flag, raw, def string) (string, error) {
	if raw == "" {
		return def, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		return "", apogee.Errorf(apogee.EINVALID, "%s %q must be an http(s) URL such as %s", flag, raw, def)
	}
	return strings.TrimSuffix(raw, "/"), nil
}

// ctx gives oauth2 our HTTP client.
func (c *Client) ctx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.http)
}

// AuthCodeURL is where to send a browser to ask GitHub for consent. state
// comes back with the code; verifier (oauth2.GenerateVerifier) is sent as
// its S256 challenge (PKCE) and given again to Exchange.
func (c *Client) AuthCodeURL(state, verifier, redirectURL string) string {
	cfg := c.oauth
	cfg.RedirectURL = redirectURL
	return cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("allow_signup", "true"))
}

// Exchange turns the authorization code into tokens. A refusal by GitHub
// (a used or expired code, a wrong verifier or client secret) is an
// *apogee.Error with EUNAUTHORIZED that matches ErrExchange.
func (c *Client) Exchange(ctx context.Context, code, verifier, redirectURL string) (*oauth2.Token, error) {
	cfg := c.oauth
	cfg.RedirectURL = redirectURL
	tok, err := cfg.Exchange(c.ctx(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			c.log.Warn("GitHub refused the code", "error", re.ErrorCode, "description", re.ErrorDescription)
			return nil, apogee.Errorf(apogee.EUNAUTHORIZED,
				"GitHub did not accept the sign-in (%s); nothing was changed: start again", describe(re))
		}
		return nil, fmt.Errorf("github: exchange code: %w", err)
	}
	return tok, nil
}

// describe is GitHub's reason for refusing a token request, for people.
func describe(re *oauth2.RetrieveError) string {
	switch {
	case re.ErrorDescription != "":
		return re.ErrorDescription
	case re.ErrorCode != "":
		return re.ErrorCode
	case re.Response != nil:
		return re.Response.Status
	}
	return "no reason given"
}

// Account is who a token belongs to.
type Account struct {
	ID    string // GitHub's numeric user id, as text: stable across renames
	Login string
	Name  string
	// Email is the primary address, only when GitHub has verified it.
	Email string
}

// FetchAccount reads the token's user and primary verified email.
func (c *Client) FetchAccount(ctx context.Context, tok *oauth2.Token) (*Account, error) {
	hc := c.oauth.Client(c.ctx(ctx), tok)
	var u struct {
		ID    int64  `json:"id"`
		Login string `json:"login"`
		Name  string `json:"name"`
	}
	if err := c.get(ctx, hc, "/user", &u); err != nil {
		return nil, err
	}
	if u.ID == 0 || u.Login == "" {
		return nil, fmt.Errorf("github: /user answered no id or login")
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := c.get(ctx, hc, "/user/emails", &emails); err != nil {
		return nil, err
	}
	a := &Account{ID: strconv.FormatInt(u.ID, 10), Login: u.Login, Name: u.Name}
	for _, e := range emails {
		if e.Primary && e.Verified {
			a.Email = strings.ToLower(e.Email)
		}
	}
	return a, nil
}

// errAPI is a GitHub API answer that is not 2xx.
type errAPI struct {
	method  string
	path    string
	status  int
	message string
}

func (e *errAPI) Error() string {
	return fmt.Sprintf("github: %s %s: %d %s", e.method, e.path, e.status, e.message)
}

// get reads one API resource as JSON into out.
func (c *Client) get(ctx context.Context, hc *http.Client, path string, out any) error {
	return c.call(ctx, hc, "GET", path, nil, out)
}

// call sends in (if not nil) as JSON and reads the answer into out (if
// not nil). A 403 or 404 answer to a token that lacks every scope the
// endpoint accepts (GitHub's X-OAuth-Scopes, X-Accepted-OAuth-Scopes) is
// an error matching ErrReconnect that asks the user to sign in again.
func (c *Client) call(ctx context.Context, hc *http.Client, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("github: %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.api+path, body)
	if err != nil {
		return fmt.Errorf("github: %w", err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) || errors.Is(err, ErrReconnect) {
			return err
		}
		return fmt.Errorf("github: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e struct {
			Message string `json:"message"`
		}
		json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
		if missing := missingScope(resp.Header); missing != "" && (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound) {
			return &reconnectError{msg: fmt.Sprintf("Apogee's GitHub access lacks the %s scope; sign in with GitHub again (Account page, Connect GitHub) to grant it", missing)}
		}
		return &errAPI{method: method, path: path, status: resp.StatusCode, message: e.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
		return fmt.Errorf("github: %s %s: %w", method, path, err)
	}
	return nil
}

// missingScope returns the scopes an endpoint accepts when the token has
// none of them ("" when it has one, or GitHub did not say).
func missingScope(h http.Header) string {
	accepted := h.Get("X-Accepted-OAuth-Scopes")
	if accepted == "" || h.Values("X-OAuth-Scopes") == nil {
		return ""
	}
	have := map[string]bool{}
	for _, s := range strings.Split(h.Get("X-OAuth-Scopes"), ",") {
		have[strings.TrimSpace(s)] = true
	}
	var want []string
	for _, s := range strings.Split(accepted, ",") {
		s = strings.TrimSpace(s)
		if have[s] {
			return ""
		}
		want = append(want, s)
	}
	return strings.Join(want, " or ")
}
