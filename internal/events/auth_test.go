package events

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/events/natstest"
	"github.com/apogee-dev/apogee/internal/testio"
)

const noAuthWarning = "asks for no credentials"

// TestNATSCredentials: the bus authenticates with user and password, a
// token or an nkey seed file as --events gives them; wrong or missing
// ones are refused with a message that says so; a NATS that asks for
// none is a warning at start, and one that asks is not.
func TestNATSCredentials(t *testing.T) {
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	seedFile := filepath.Join(t.TempDir(), "apogee.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	other, _ := nkeys.CreateUser()
	otherSeed, _ := other.Seed()
	otherFile := filepath.Join(t.TempDir(), "other.nk")
	if err := os.WriteFile(otherFile, otherSeed, 0o600); err != nil {
		t.Fatal(err)
	}

	passwords := natstest.StartWith(t, func(o *server.Options) { o.Username, o.Password = "apogee", "s3cret" })
	token := natstest.StartWith(t, func(o *server.Options) { o.Authorization = "t0ken" })
	nkey := natstest.StartWith(t, func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: pub}} })
	open := natstest.Start(t)
	at := func(ns *natstest.Server, cred string) string {
		return strings.Replace(ns.URL(), "nats://", "nats://"+cred, 1)
	}
	subject := "?subject=" + uniqueSubject()

	for _, tt := range []struct {
		name, url string
		ok, warn  bool
	}{
		{"user and password", at(passwords, "apogee:s3cret@") + subject, true, false},
		{"wrong password", at(passwords, "apogee:wrong@") + subject, false, false},
		{"no credentials", passwords.URL() + subject, false, false},
		{"token", at(token, "t0ken@") + subject, true, false},
		{"wrong token", at(token, "nope@") + subject, false, false},
		{"nkey", nkey.URL() + subject + "&nkey=" + seedFile, true, false},
		{"another nkey", nkey.URL() + subject + "&nkey=" + otherFile, false, false},
		{"open NATS", open.URL() + subject, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs testio.Buffer
			b, err := DialNATS(t.Context(), tt.url, slog.New(slog.NewTextHandler(&logs, nil)))
			if !tt.ok {
				if err == nil {
					b.Close()
					t.Fatal("connected without the right credentials")
				}
				if apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(err.Error(), "refused the credentials") {
					t.Fatalf("error %v does not say the credentials were refused", err)
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "t0ken") {
					t.Fatalf("error %v shows a secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if got := strings.Contains(logs.String(), noAuthWarning); got != tt.warn {
				t.Errorf("warning about no credentials logged: %v, want %v; log:\n%s", got, tt.warn, logs.String())
			}
			// The connection carries events.
			ch, _ := b.Subscribe(t.Context())
			e := apogee.Event{Type: apogee.EventAliasChanged, ProjectID: "p"}
			if err := b.Publish(t.Context(), e); err != nil {
				t.Fatal(err)
			}
			if got := receive(t, tt.name, ch); got != e {
				t.Errorf("got %+v, want %+v", got, e)
			}
		})
	}

	if _, err := DialNATS(t.Context(), nkey.URL()+"?nkey="+filepath.Join(t.TempDir(), "missing.nk"), nil); apogee.ErrorCode(err) != apogee.EINVALID {
		t.Errorf("a missing nkey file: %v, want invalid", err)
	}
	if _, err := DialNATS(t.Context(), nkey.URL()+"?creds="+filepath.Join(t.TempDir(), "missing.creds"), nil); apogee.ErrorCode(err) != apogee.EINVALID {
		t.Errorf("a missing creds file: %v, want invalid", err)
	}
}
