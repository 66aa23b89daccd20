package platform_test

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/events"
	"github.com/apogee-dev/apogee/internal/platform"
	"github.com/apogee-dev/apogee/internal/testbed"
)

// zipOf makes a ZIP of n incompressible bytes.
func zipOf(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "blob.bin", Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, n)
	rand.Read(b)
	w.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestStorageQuota: ZIPs uploaded and never built count against the
// plan (they once stayed at 0 while the blob folder grew), and past the
// plan's storage the next ZIP, deployment or build output is refused with
// what the plan allows, what is used and what to do; usage shows what
// the storage is made of.
func TestStorageQuota(t *testing.T) {
	st, bl, _ := testbed.Backends(t)
	pl, err := platform.New(platform.Config{Store: st, Blobs: bl, Bus: events.NewLocal(testbed.Quiet), Log: testbed.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	svc := pl.Services()
	ctx := t.Context()
	plan := &apogee.Plan{Name: "tiny", Limits: apogee.PlanLimits{Projects: 5, ConcurrentBuilds: 1, BuildMinutes: 100,
		StorageBytes: 1 << 20, CustomDomains: 1}}
	if err := st.CreatePlan(ctx, plan); err != nil {
		t.Fatal(err)
	}
	u := &apogee.User{ID: apogee.NewID(), Email: "z@example.com", Password: "x", CreatedAt: time.Now()}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := st.SetUserPlan(ctx, u.ID, plan.ID); err != nil {
		t.Fatal(err)
	}
	uctx := apogee.NewContextWithUser(ctx, u)
	if _, err := svc.Projects.CreateProject(uctx, apogee.CreateProjectRequest{Name: "zips"}); err != nil {
		t.Fatal(err)
	}

	var sizes int64
	for i := range 2 {
		z := zipOf(t, 400<<10)
		if _, err := svc.Builds.UploadZip(uctx, "zips", bytes.NewReader(z)); err != nil {
			t.Fatalf("ZIP %d: %v", i+1, err)
		}
		sizes += int64(len(z))
	}
	pv, err := svc.Accounts.Usage(uctx)
	if err != nil {
		t.Fatal(err)
	}
	if pv.Usage.Storage.Uploads != sizes || pv.Usage.StorageBytes != sizes {
		t.Fatalf("usage after two ZIPs of %d bytes: %+v", sizes, pv.Usage)
	}

	_, err = svc.Builds.UploadZip(uctx, "zips", bytes.NewReader(zipOf(t, 400<<10)))
	if apogee.ErrorCode(err) != apogee.EQUOTA || !strings.Contains(apogee.ErrorMessage(err), `your plan "tiny" allows 1 MiB of storage`) ||
		!strings.Contains(apogee.ErrorMessage(err), "the ZIP adds") {
		t.Fatalf("a ZIP past the plan: %v", err)
	}

	// A deployment past the plan is refused before anything is sent.
	big := apogee.File{Path: "big.bin", SHA256: strings.Repeat("ab", 32), Size: 300 << 10}
	_, err = svc.Deployments.CreateDeployment(uctx, "zips", apogee.CreateDeploymentRequest{Files: []apogee.File{big}})
	if apogee.ErrorCode(err) != apogee.EQUOTA || !strings.Contains(apogee.ErrorMessage(err), "this deployment adds 300 KiB") {
		t.Fatalf("a deployment past the plan: %v", err)
	}

	// A build whose output would pass the plan ends with the plan's
	// message (the builder logs it as the build's last line).
	p, _ := st.ProjectByName(ctx, "zips")
	d := &apogee.Deployment{ID: apogee.NewID(), ProjectID: p.ID, Target: apogee.TargetPreview, CreatedAt: time.Now(), Source: apogee.SourceGit, Branch: "main"}
	if err := st.QueueBuild(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := pl.Queue().ClaimBuild(ctx, "w/1"); err != nil {
		t.Fatal(err)
	}
	_, err = pl.Queue().FinishBuild(ctx, d.ID, []apogee.File{big})
	if apogee.ErrorCode(err) != apogee.EQUOTA || !strings.Contains(apogee.ErrorMessage(err), "the build's output adds 300 KiB") {
		t.Fatalf("a build output past the plan: %v", err)
	}
}
