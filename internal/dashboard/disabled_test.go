package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// TestDisabledUser: disabling a user ends their open dashboard session at
// once (401 saying so, on pages and forms) and refuses their sign-in
// with the same words; enabling them lets the same session work again.
func TestDisabledUser(t *testing.T) {
	e := newEnv(t, SignupClosed)
	b := e.signedIn(e.alice)
	want(t, "projects before", b.get("/"), http.StatusOK)
	csrf := b.csrf

	at := time.Now()
	if err := e.store.SetUserDisabled(context.Background(), e.alice.ID, &at); err != nil {
		t.Fatal(err)
	}
	want(t, "page of a disabled user", b.get("/"), http.StatusUnauthorized, "account is disabled")
	want(t, "form of a disabled user", b.post("/projects/new", url.Values{"csrf": {csrf}, "name": {"late"}}), http.StatusUnauthorized, "account is disabled")
	if _, err := e.store.ProjectByName(context.Background(), "late"); err == nil {
		t.Error("a disabled user's form created a project")
	}
	other := e.browser()
	other.get("/login")
	want(t, "sign-in of a disabled user", other.post("/login", url.Values{"email": {e.alice.Email}, "password": {password}, "next": {"/"}}),
		http.StatusUnauthorized, "account is disabled")
	want(t, "another user is unaffected", e.signedIn(e.bob).get("/"), http.StatusOK)

	if err := e.store.SetUserDisabled(context.Background(), e.alice.ID, nil); err != nil {
		t.Fatal(err)
	}
	want(t, "enabled again", b.get("/"), http.StatusOK)
}
