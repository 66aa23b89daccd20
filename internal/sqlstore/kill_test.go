package sqlstore_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/sqlstore"
)

// childEnv names the SQLite file a child process of TestSQLiteKill9
// deploys to until it is killed.
const childEnv = "APOGEE_SQLSTORE_KILL9_DB"

// TestSQLiteKill9 kills a process that deploys and promotes in a loop
// with SIGKILL, then checks that every deployment it reported committed
// is there and ready, and that the alias points at the last of them or
// at one finalized after it.
func TestSQLiteKill9(t *testing.T) {
	if path := os.Getenv(childEnv); path != "" {
		deployForever(path)
		return
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	path := filepath.Join(t.TempDir(), "apogee.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSQLiteKill9$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var committed []string
	lines := bufio.NewScanner(out)
	for len(committed) < 40 && lines.Scan() {
		if id, ok := strings.CutPrefix(lines.Text(), "committed "); ok {
			committed = append(committed, id)
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if len(committed) < 40 {
		t.Fatalf("child reported %d deployments before it ended; want 40", len(committed))
	}

	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := raw.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check = %q, %v", check, err)
	}
	raw.Close()

	s := openSQLite(t, path)
	ctx := t.Context()
	var last *apogee.Deployment
	for _, id := range committed {
		d, err := s.DeploymentByID(ctx, id)
		if err != nil {
			t.Fatalf("committed deployment lost: %v", err)
		}
		if d.Status != apogee.StatusReady {
			t.Errorf("deployment %s is %s; want ready", id, d.Status)
		}
		last = d
	}
	p, err := s.ProjectByID(ctx, last.ProjectID)
	if err != nil {
		t.Fatal(err)
	}
	prod, err := s.DeploymentByID(ctx, p.ProductionID)
	if err != nil {
		t.Fatalf("production alias %q: %v", p.ProductionID, err)
	}
	if prod.Status != apogee.StatusReady || prod.CreatedAt.Before(last.CreatedAt) {
		t.Errorf("production is %+v; want %s or a later ready deployment", prod, last.ID)
	}
}

// deployForever is the child of TestSQLiteKill9: it creates and promotes
// deployments and prints the id of each once its finalize committed.
func deployForever(path string) {
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, "sqlite://"+filepath.ToSlash(path), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	u := &apogee.User{Email: "kill@example.com", Password: "h"}
	p := &apogee.Project{Name: "kill"}
	if err := s.CreateUser(ctx, u); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	p.OwnerID = u.ID
	if err := s.CreateProject(ctx, p); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	files := make([]apogee.File, 200)
	for i := range files {
		files[i] = apogee.File{Path: fmt.Sprintf("f%03d", i), SHA256: fmt.Sprintf("%064x", i), Size: 1}
	}
	for i := 0; ; i++ {
		d := &apogee.Deployment{ProjectID: p.ID, Target: apogee.TargetProduction,
			CreatedAt: time.Unix(1_700_000_000+int64(i), 0)}
		if err := s.CreateDeployment(ctx, d, files); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if _, err := s.FinalizeDeployment(ctx, d.ID, time.Now(), true); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Printf("committed %s\n", d.ID)
	}
}
