package envvars_test

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/envvars"
	"github.com/apogee-dev/apogee/internal/secretbox"
	"github.com/apogee-dev/apogee/internal/sqlstore"
)

func open(t *testing.T) (*sqlstore.Store, *apogee.Project) {
	t.Helper()
	st, err := sqlstore.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "apogee.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u := &apogee.User{Email: "a@example.com", Password: "x"}
	if err := st.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	p := &apogee.Project{Name: "web", OwnerID: u.ID}
	if err := st.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	return st, p
}

func TestResolve(t *testing.T) {
	st, p := open(t)
	ctx := t.Context()
	env := envvars.New(st, secretbox.NewRandom(), nil)
	for _, kv := range []struct {
		k, v   string
		secret bool
	}{
		{"NODE_ENV", "production", false},
		{"API_TOKEN", "tok-123456", true},
		{"EMPTY_SECRET", "", true},
		{"MULTI", "a=b\nc", false},
	} {
		view, err := env.Set(ctx, p.ID, kv.k, kv.v, kv.secret)
		if err != nil {
			t.Fatal(err)
		}
		if kv.secret != (view.Value == nil) {
			t.Fatalf("Set(%s) view %+v: a secret's value must be absent, others present", kv.k, view)
		}
	}
	vars, secrets, err := env.Resolve(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"API_TOKEN=tok-123456", "EMPTY_SECRET=", "MULTI=a=b\nc", "NODE_ENV=production"}
	if !slices.Equal(vars, want) {
		t.Fatalf("vars = %q; want %q", vars, want)
	}
	if !slices.Equal(secrets, []string{"tok-123456"}) {
		t.Fatalf("secrets = %q", secrets)
	}

	list, err := env.List(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range list {
		if v.Secret && v.Value != nil {
			t.Errorf("List shows secret %s", v.Key)
		}
	}

	// The store holds only sealed text.
	stored, err := st.ListEnv(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range stored {
		if !secretbox.IsSealed(v.Value) || strings.Contains(v.Value, "tok-123456") || strings.Contains(v.Value, "production") {
			t.Errorf("stored value of %s is not sealed: %q", v.Key, v.Value)
		}
	}
}

// TestWrongKey reopens the variables with another key, as a server
// restarted with the wrong --secret-key would: secrets stay hidden, every
// opened value fails clearly, naming the key but not the value.
func TestWrongKey(t *testing.T) {
	st, p := open(t)
	ctx := t.Context()
	if _, err := envvars.New(st, secretbox.NewRandom(), nil).Set(ctx, p.ID, "DB_PASSWORD", "hunter22", true); err != nil {
		t.Fatal(err)
	}
	env := envvars.New(st, secretbox.NewRandom(), nil)

	list, err := env.List(ctx, p.ID) // secret values are not even opened
	if err != nil || len(list) != 1 || list[0].Value != nil {
		t.Fatalf("List with another key = %+v, %v", list, err)
	}
	_, _, err = env.Resolve(ctx, p.ID)
	if !errors.Is(err, secretbox.ErrDecrypt) || apogee.ErrorCode(err) != apogee.EINTERNAL {
		t.Fatalf("Resolve with another key: %v", err)
	}
	msg := apogee.ErrorMessage(err)
	if !strings.Contains(msg, "DB_PASSWORD") || !strings.Contains(msg, "secret key") || strings.Contains(err.Error(), "hunter22") {
		t.Fatalf("message %q: want the key's name and advice, never the value", msg)
	}

	// A non-secret value fails List the same way.
	if _, err := envvars.New(st, secretbox.NewRandom(), nil).Set(ctx, p.ID, "PUBLIC", "x", false); err != nil {
		t.Fatal(err)
	}
	if _, err := env.List(ctx, p.ID); !errors.Is(err, secretbox.ErrDecrypt) {
		t.Fatalf("List of a non-secret value with another key: %v", err)
	}
	// Delete and replace need no key.
	if err := env.Delete(ctx, p.ID, "PUBLIC"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Set(ctx, p.ID, "DB_PASSWORD", "new-password", true); err != nil {
		t.Fatal(err)
	}
	if vars, _, err := env.Resolve(ctx, p.ID); err != nil || !slices.Equal(vars, []string{"DB_PASSWORD=new-password"}) {
		t.Fatalf("Resolve after replacing: %q, %v", vars, err)
	}
}

// TestSwappedRows copies one variable's sealed value into another's row:
// it does not open there.
func TestSwappedRows(t *testing.T) {
	st, p := open(t)
	ctx := t.Context()
	env := envvars.New(st, secretbox.NewRandom(), nil)
	if _, err := env.Set(ctx, p.ID, "SECRET", "s3cr3t-value", true); err != nil {
		t.Fatal(err)
	}
	stored, err := st.ListEnv(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetEnv(ctx, p.ID, &apogee.EnvVar{Key: "VISIBLE", Value: stored[0].Value}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.List(ctx, p.ID); !errors.Is(err, secretbox.ErrDecrypt) {
		t.Fatalf("a sealed value moved to a non-secret key opened: %v", err)
	}
}

func TestSetValidates(t *testing.T) {
	st, p := open(t)
	env := envvars.New(st, secretbox.NewRandom(), nil)
	for _, tt := range []struct {
		key, value string
		code       string
	}{
		{"BAD-KEY", "v", apogee.EINVALID},
		{"APOGEE_X", "v", apogee.EINVALID},
		{"K", strings.Repeat("x", apogee.MaxEnvValueLen+1), apogee.ETOOLARGE},
		{"K", "a\x00b", apogee.EINVALID},
	} {
		if _, err := env.Set(t.Context(), p.ID, tt.key, tt.value, false); apogee.ErrorCode(err) != tt.code {
			t.Errorf("Set(%q) = %v; want %s", tt.key, err, tt.code)
		}
	}
	if _, err := env.Set(t.Context(), "nosuchproject", "K", "v", false); !errors.Is(err, apogee.ErrNotFound) {
		t.Errorf("Set on no project: %v", err)
	}
}
