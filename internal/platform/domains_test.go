package platform_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/sqlstore"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// txtRecords is a resolver whose TXT records the test sets.
type txtRecords struct {
	mu  sync.Mutex
	txt map[string][]string
}

func (r *txtRecords) set(name, value string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.txt[name] = []string{value}
}

func (r *txtRecords) LookupTXT(_ context.Context, name string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.txt[name]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (r *txtRecords) LookupHost(context.Context, string) ([]string, error) { return nil, nil }

// TestUnverifiedDomainBlocksNoOne: C adds shop.victim-example.com and
// never verifies it; B, who controls its DNS, adds it too (it was 409
// "already used") and verifies it; C's claim then fails verification
// saying why, and nobody else can add the name. Then the other order:
// whoever verifies first wins. On SQLite and PostgreSQL.
func TestUnverifiedDomainBlocksNoOne(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *sqlstore.Store{
		"sqlite":   func(tb testing.TB) *sqlstore.Store { return testbed.Store(tb, tb.TempDir()) },
		"postgres": testbed.PostgresStore,
	} {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			dns := &txtRecords{txt: map[string][]string{}}
			pl, err := platform.New(platform.Config{Store: st, Blobs: testbed.Blobs(t, t.TempDir()), Bus: events.NewLocal(testbed.Quiet),
				Log: testbed.Quiet, Domain: "apogee.test", Resolver: dns})
			if err != nil {
				t.Fatal(err)
			}
			svc := pl.Services().Domains
			as := func(email, project string) context.Context {
				u := &apogee.User{ID: apogee.NewID(), Email: email, Password: "x", CreatedAt: time.Now()}
				if err := st.CreateUser(t.Context(), u); err != nil {
					t.Fatal(err)
				}
				ctx := apogee.NewContextWithUser(t.Context(), u)
				if _, err := pl.Services().Projects.CreateProject(ctx, apogee.CreateProjectRequest{Name: project}); err != nil {
					t.Fatal(err)
				}
				return ctx
			}
			b, c, d := as("b@example.com", "bshop"), as("c@example.com", "cshop"), as("d@example.com", "dshop")
			const shop = "shop.victim-example.com"

			cv, err := svc.AddDomain(c, "cshop", shop)
			if err != nil {
				t.Fatal(err)
			}
			bv, err := svc.AddDomain(b, "bshop", shop)
			if err != nil {
				t.Fatalf("B adding a domain C claimed without verifying: %v", err)
			}
			if bv.Verification.Value == cv.Verification.Value {
				t.Fatal("two claims share a token")
			}
			// Each sees their own claim by name.
			if got, err := svc.Domain(b, shop); err != nil || got.Project != "bshop" {
				t.Fatalf("B's view: %+v, %v", got, err)
			}
			if got, err := svc.Domain(c, shop); err != nil || got.Project != "cshop" {
				t.Fatalf("C's view: %+v, %v", got, err)
			}
			// B, who controls the DNS, verifies.
			dns.set(apogee.VerificationName(shop), bv.Verification.Value)
			if got, err := svc.VerifyDomain(b, shop); err != nil || !got.Verified {
				t.Fatalf("B's verification: %+v, %v", got, err)
			}
			// C's claim fails, saying why, even with C's token in DNS.
			dns.set(apogee.VerificationName(shop), cv.Verification.Value)
			_, err = svc.VerifyDomain(c, shop)
			if apogee.ErrorCode(err) != apogee.ECONFLICT || !strings.Contains(apogee.ErrorMessage(err), "was verified by another project first") {
				t.Fatalf("C's verification after B's: %v", err)
			}
			_, err = svc.AddDomain(d, "dshop", shop)
			if apogee.ErrorCode(err) != apogee.ECONFLICT || !strings.Contains(apogee.ErrorMessage(err), "already used by another project") {
				t.Fatalf("D adding a verified domain: %v", err)
			}
			if got, err := svc.Domain(b, shop); err != nil || !got.Verified || got.Project != "bshop" {
				t.Fatalf("B's domain afterwards: %+v, %v", got, err)
			}
			// C removes its claim; B's stays.
			if err := svc.RemoveDomain(c, shop); err != nil {
				t.Fatal(err)
			}
			if got, err := svc.Domain(b, shop); err != nil || !got.Verified {
				t.Fatalf("B's domain after C removed its claim: %+v, %v", got, err)
			}

			// The other order: two claims, C verifies first.
			const other = "www.contested-example.com"
			cv, err = svc.AddDomain(c, "cshop", other)
			if err != nil {
				t.Fatal(err)
			}
			if _, err = svc.AddDomain(b, "bshop", other); err != nil {
				t.Fatal(err)
			}
			dns.set(apogee.VerificationName(other), cv.Verification.Value)
			_, err = svc.VerifyDomain(b, other) // B's token is not in DNS
			if apogee.ErrorCode(err) != apogee.ECONFLICT || !strings.Contains(apogee.ErrorMessage(err), "is not verified") {
				t.Fatalf("B's verification without B's record: %v", err)
			}
			if _, err := svc.VerifyDomain(c, other); err != nil {
				t.Fatal(err)
			}
			_, err = svc.VerifyDomain(b, other)
			if apogee.ErrorCode(err) != apogee.ECONFLICT || !strings.Contains(apogee.ErrorMessage(err), "was verified by another project first") {
				t.Fatalf("B after C verified: %v", err)
			}
			// A user claims a name in one of their projects at most.
			ctx2 := b
			if _, err := pl.Services().Projects.CreateProject(ctx2, apogee.CreateProjectRequest{Name: "bshop2"}); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.AddDomain(ctx2, "bshop2", "new.example-b.com"); err != nil {
				t.Fatal(err)
			}
			_, err = svc.AddDomain(ctx2, "bshop", "new.example-b.com")
			if apogee.ErrorCode(err) != apogee.ECONFLICT || !strings.Contains(apogee.ErrorMessage(err), `already added to project "bshop2"`) {
				t.Fatalf("the same user's second claim: %v", err)
			}
		})
	}
}
