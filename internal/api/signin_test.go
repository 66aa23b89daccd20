package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/auth"
)

// TestLoginLockout is issue 10's attack: 30 wrong passwords in a second,
// then the right one. Past the limit the right password is refused too,
// with 429 and Retry-After, until the window has passed.
func TestLoginLockout(t *testing.T) {
	e := newEnv(t)
	e.user("victim@example.com")
	login := func(password string) *http.Response {
		t.Helper()
		body, _ := json.Marshal(apogee.LoginRequest{Email: "victim@example.com", Password: password})
		res, err := http.Post(e.srv.URL+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	var got []int
	for i := range 30 {
		got = append(got, login(fmt.Sprint("guess-", i)).StatusCode)
	}
	for i, code := range got {
		want := http.StatusUnauthorized
		if i >= auth.DefaultPerPair {
			want = http.StatusTooManyRequests
		}
		if code != want {
			t.Fatalf("wrong password %d: %d, want %d (all: %v)", i+1, code, want, got)
		}
	}
	res := login("password-victim@example.com")
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password while locked: %d, want 429", res.StatusCode)
	}
	if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || s < 60 {
		t.Fatalf("Retry-After %q, want the seconds until the window passes", res.Header.Get("Retry-After"))
	}
	e.wantErr(e.call("POST", "/api/v1/auth/login", "", apogee.LoginRequest{Email: "victim@example.com", Password: "password-victim@example.com"}), 429, apogee.ETOOMANY)

	e.advance(auth.DefaultGuardWindow)
	if res := login("password-victim@example.com"); res.StatusCode != http.StatusOK {
		t.Fatalf("right password after the window: %d, want 200", res.StatusCode)
	}
}
