package platform_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestBlobHashIsNotACapability: user C names user B's file and ZIP
// hashes in a manifest. The server asks C for the bytes as if it lacked
// them (never confirming B's exist), C cannot finalize without sending
// them, and C's deployment never serves B's bytes; B's own redeploy still
// sends nothing; C sending the same bytes (proving possession) works and
// stores them once; sizes must match; no hash reaches the info log.
func TestBlobHashIsNotACapability(t *testing.T) {
	st, bl, _ := testbed.Backends(t)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	pl, err := platform.New(platform.Config{Store: st, Blobs: bl, Bus: events.NewLocal(testbed.Quiet), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	svc := pl.Services()
	as := func(email string) (ctxUser *apogee.User) {
		u := &apogee.User{ID: apogee.NewID(), Email: email, Password: "x", CreatedAt: time.Now()}
		if err := st.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	b, c := as("b@example.com"), as("c@example.com")
	bctx, cctx := apogee.NewContextWithUser(t.Context(), b), apogee.NewContextWithUser(t.Context(), c)
	for ctx, name := range map[*apogee.User]string{b: "bsite", c: "csite"} {
		if _, err := svc.Projects.CreateProject(apogee.NewContextWithUser(t.Context(), ctx), apogee.CreateProjectRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
	}

	// B deploys a private file and uploads a ZIP of their source.
	secret := []byte("B's private bytes: api_key=sk_live_0123456789")
	hs := sum(secret)
	d, err := svc.Deployments.CreateDeployment(bctx, "bsite", apogee.CreateDeploymentRequest{Target: apogee.TargetProduction,
		Files: []apogee.File{{Path: "secret.txt", SHA256: hs, Size: int64(len(secret))}}})
	if err != nil || !slices.Equal(d.Missing, []string{hs}) {
		t.Fatalf("B's deployment: %v %v", d, err)
	}
	if err := svc.Deployments.UploadFile(bctx, d.ID, hs, bytes.NewReader(secret), int64(len(secret))); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Deployments.Finalize(bctx, d.ID); err != nil {
		t.Fatal(err)
	}
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	w, _ := zw.Create("index.html")
	w.Write([]byte("B's source"))
	zw.Close()
	hz := sum(zbuf.Bytes())
	if _, err := svc.Builds.UploadZip(bctx, "bsite", bytes.NewReader(zbuf.Bytes())); err != nil {
		t.Fatal(err)
	}

	// C names both hashes.
	steal := []apogee.File{{Path: "stolen.txt", SHA256: hs, Size: int64(len(secret))}, {Path: "source.zip", SHA256: hz, Size: int64(zbuf.Len())}}
	cd, err := svc.Deployments.CreateDeployment(cctx, "csite", apogee.CreateDeploymentRequest{Target: apogee.TargetProduction, Files: steal})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cd.Missing, []string{hs, hz}) {
		t.Fatalf("C's missing = %v; the server confirmed B's blobs exist", cd.Missing)
	}
	_, err = svc.Deployments.Finalize(cctx, cd.ID)
	if apogee.ErrorCode(err) != apogee.EMISSING {
		t.Fatalf("C finalized without the bytes: %v", err)
	}
	if got, _ := st.DeploymentByID(t.Context(), cd.ID); got.Status == apogee.StatusReady {
		t.Fatal("C's deployment is ready")
	}
	// Sending other bytes under the hash fails.
	if err := svc.Deployments.UploadFile(cctx, cd.ID, hs, strings.NewReader("guess"), 5); apogee.ErrorCode(err) != apogee.EINVALID {
		t.Fatalf("C's upload of other bytes: %v", err)
	}
	if _, err := svc.Deployments.Finalize(cctx, cd.ID); apogee.ErrorCode(err) != apogee.EMISSING {
		t.Fatalf("C finalized after a wrong upload: %v", err)
	}

	// B redeploys: nothing to send (dedup within the account).
	d2, err := svc.Deployments.CreateDeployment(bctx, "bsite", apogee.CreateDeploymentRequest{
		Files: []apogee.File{{Path: "again.txt", SHA256: hs, Size: int64(len(secret))}}})
	if err != nil || len(d2.Missing) != 0 {
		t.Fatalf("B's redeploy: missing %v, %v", d2.Missing, err)
	}
	if _, err := svc.Deployments.Finalize(bctx, d2.ID); err != nil {
		t.Fatal(err)
	}
	// A build's ZIP counts as held too: B can name it.
	d3, err := svc.Deployments.CreateDeployment(bctx, "bsite", apogee.CreateDeploymentRequest{
		Files: []apogee.File{{Path: "src.zip", SHA256: hz, Size: int64(zbuf.Len())}}})
	if err != nil || len(d3.Missing) != 0 {
		t.Fatalf("B naming their own ZIP: missing %v, %v", d3.Missing, err)
	}

	// A size that does not match the held blob is refused.
	_, err = svc.Deployments.CreateDeployment(bctx, "bsite", apogee.CreateDeploymentRequest{
		Files: []apogee.File{{Path: "small.txt", SHA256: hs, Size: 1}}})
	if apogee.ErrorCode(err) != apogee.EINVALID || !strings.Contains(apogee.ErrorMessage(err), "its content is 45 bytes") {
		t.Fatalf("a wrong size: %v", err)
	}

	// C with the same bytes proves possession: it deploys, and the blob
	// is stored once.
	if err := svc.Deployments.UploadFile(cctx, cd.ID, hs, bytes.NewReader(secret), int64(len(secret))); err != nil {
		t.Fatal(err)
	}
	if err := svc.Deployments.UploadFile(cctx, cd.ID, hz, bytes.NewReader(zbuf.Bytes()), int64(zbuf.Len())); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Deployments.Finalize(cctx, cd.ID); err != nil {
		t.Fatalf("C with the bytes: %v", err)
	}

	for _, h := range []string{hs, hz} {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, h) {
				t.Errorf("a blob hash in the info log: %s", line)
			}
		}
	}
}
