// Command gogit measures a shallow clone with go-git against the git
// binary from the same git http-backend on loopback: the figures behind
// fetching Git through the egress proxy rather than with go-git (see
// docs/architecture.md, "Outgoing connections"). Its own module, so that
// go-git is no dependency of the server: cd bench/gogit && go run .
package main

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

func run(dir string, args ...string) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		panic(fmt.Sprint(args, err, string(out)))
	}
}

func main() {
	root, _ := os.MkdirTemp("", "gogit-")
	defer os.RemoveAll(root)
	work := filepath.Join(root, "work")
	for i := range 2000 {
		b := make([]byte, 10<<10)
		rand.Read(b)
		p := filepath.Join(work, fmt.Sprintf("d%02d", i%40), fmt.Sprintf("f%04d.bin", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, b, 0o644)
	}
	run(root, "init", "-q", "--bare", "-b", "main", "big.git")
	run(work, "init", "-q", "-b", "main")
	run(work, "add", "-A")
	run(work, "-c", "user.name=b", "-c", "user.email=b@example.com", "commit", "-q", "-m", "big")
	run(work, "push", "-q", filepath.Join(root, "big.git"), "main")
	out, _ := exec.Command("git", "--exec-path").Output()
	h := &cgi.Handler{Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"), Dir: root,
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "HOME=" + root}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	defer srv.Close()
	url := srv.URL + "/big.git"
	const n = 5
	var cli, gg time.Duration
	var peak uint64
	for i := range n {
		dst := filepath.Join(root, fmt.Sprint("cli", i))
		t := time.Now()
		run(root, "clone", "-q", "--depth", "1", "--branch", "main", url, dst)
		cli += time.Since(t)
		dst = filepath.Join(root, fmt.Sprint("gg", i))
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		t = time.Now()
		if _, err := git.PlainClone(dst, false, &git.CloneOptions{URL: url, Depth: 1, SingleBranch: true,
			ReferenceName: plumbing.NewBranchReferenceName("main")}); err != nil {
			panic(err)
		}
		gg += time.Since(t)
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > peak {
			peak = d
		}
	}
	fmt.Printf("git binary: %v per shallow clone; go-git: %v per shallow clone, %d MiB allocated in process\n",
		(cli / n).Round(time.Millisecond), (gg / n).Round(time.Millisecond), peak>>20)
}
