package github_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/github"
	"github.com/apogee-dev/apogee/internal/github/githubtest"
	"github.com/apogee-dev/apogee/internal/secretbox"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// acceptJSON asks GitHub's token endpoint for JSON, as some clients do.
type acceptJSON struct{}

func (acceptJSON) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Accept", "application/json")
	return http.DefaultTransport.RoundTrip(r)
}

type fixture struct {
	fake  *githubtest.Server
	c     *github.Client
	store apogee.Store
	user  *apogee.User
	now   time.Time
	mu    sync.Mutex
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func newFixture(t *testing.T, hc *http.Client) *fixture {
	store, _, _ := testbed.Backends(t)
	return newFixtureOn(t, store, hc)
}

// newFixtureOn is newFixture on a given store.
func newFixtureOn(t *testing.T, store apogee.Store, hc *http.Client) *fixture {
	f := &fixture{store: store, now: time.Now()}
	f.fake = githubtest.New(t, "Iv1.x", "secret")
	f.fake.Now = f.clock
	f.fake.AddUser(githubtest.User{ID: 9, Login: "hubot", Emails: []githubtest.Email{{Email: "hubot@example.com", Primary: true, Verified: true}}})
	f.fake.SignIn("hubot")
	var err error
	f.c, err = github.New(github.Config{ClientID: "Iv1.x", ClientSecret: "secret", WebURL: f.fake.WebURL(), APIURL: f.fake.APIURL(),
		Store: store, Box: secretbox.NewRandom(), HTTPClient: hc, Now: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	f.user = &apogee.User{ID: apogee.NewID(), Email: "hubot@example.com", Password: "x", CreatedAt: time.Now()}
	if err := store.CreateUser(t.Context(), f.user); err != nil {
		t.Fatal(err)
	}
	return f
}

// connect runs the code flow without a browser: authorize, exchange,
// fetch the account, save it.
func (f *fixture) connect(t *testing.T) *apogee.Identity {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	redirect := f.fake.URL + "/back"
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Get(f.c.AuthCodeURL("st", verifier, redirect))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := res.Location()
	if err != nil {
		t.Fatalf("authorize answered %d without a redirect", res.StatusCode)
	}
	tok, err := f.c.Exchange(t.Context(), loc.Query().Get("code"), verifier, redirect)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := f.c.FetchAccount(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if acct.ID != "9" || acct.Login != "hubot" || acct.Email != "hubot@example.com" {
		t.Fatalf("account %+v", acct)
	}
	id, err := f.c.Save(t.Context(), f.user.ID, acct, tok)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Both of GitHub's answer forms give the same expiry times.
func TestTokenAnswerForms(t *testing.T) {
	for _, tt := range []struct {
		name string
		hc   *http.Client
	}{
		{"form-encoded (GitHub's default)", nil},
		{"JSON (Accept: application/json)", &http.Client{Transport: acceptJSON{}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.hc)
			id := f.connect(t)
			now := f.clock()
			if id.AccessExpiresAt == nil || id.AccessExpiresAt.Sub(now).Round(time.Second) != 8*time.Hour {
				t.Errorf("access expires %v, want 8h from %v", id.AccessExpiresAt, now)
			}
			if id.RefreshExpiresAt == nil || id.RefreshExpiresAt.Sub(now).Round(time.Second) != 184*24*time.Hour {
				t.Errorf("refresh expires %v, want 184 days from %v", id.RefreshExpiresAt, now)
			}
		})
	}
}

// Tokens that never expire (an OAuth App) are used as they are.
func TestNonExpiringToken(t *testing.T) {
	f := newFixture(t, nil)
	f.fake.AccessTTL = 0
	id := f.connect(t)
	if id.AccessExpiresAt != nil || id.RefreshToken != "" || id.RefreshExpiresAt != nil {
		t.Fatalf("identity %+v", id)
	}
	f.advance(365 * 24 * time.Hour)
	if _, err := f.c.Repos(t.Context(), f.user.ID); err != nil {
		t.Fatal(err)
	}
	if n := f.fake.Refreshes(); n != 0 {
		t.Fatalf("%d refreshes", n)
	}
}

// Concurrent requests with an expired token spend the refresh token once
// (GitHub rotates it: a second use would fail and ask for a reconnect).
func TestConcurrentRefresh(t *testing.T) {
	f := newFixture(t, nil)
	f.connect(t)
	f.advance(9 * time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := f.c.Repos(context.Background(), f.user.ID)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := f.fake.Refreshes(); n != 1 {
		t.Fatalf("%d refreshes, want 1", n)
	}
}
