package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/apogee-dev/apogee"
)

// DefaultConcurrency is how many files Deploy uploads at once.
const DefaultConcurrency = 8

// DeployOptions says where and how Deploy deploys. Callbacks may be nil;
// Deploy never calls one of them from two goroutines at once.
type DeployOptions struct {
	// Project is the project's name. Required.
	Project string
	// Production promotes the deployment when it is ready.
	Production bool
	// Concurrency is how many files are uploaded at once (default 8).
	Concurrency int
	// HashWorkers is how many files are hashed at once (default: the
	// number of CPUs, at most 16).
	HashWorkers int

	// Build sends the folder as a project's source: once every file is
	// uploaded the server queues a build of it (the result's Status is
	// queued) and the deployment becomes what the build makes. Follow
	// the build with FollowLogs.
	Build bool
	// NoCache, with Build, builds without the project's dependency cache.
	NoCache bool
	// Skip, if set, leaves files and folders out: rel is the path inside
	// the folder, slash separated, and dir says whether it is a folder
	// (whose whole tree is then left out). It is called in walk order: a
	// folder before what it holds.
	Skip func(rel string, dir bool) bool

	// OnWarning reports a file that is skipped, such as a symbolic link
	// that leaves the folder.
	OnWarning func(msg string)
	// OnUpload is called before each round of uploads with the number of
	// files and bytes the server lacks (it may be 0 files).
	OnUpload func(files int, bytes int64)
	// OnProgress reports bytes uploaded so far out of the total to upload.
	OnProgress func(doneBytes, totalBytes int64)
	// OnFile reports a file whose upload completed.
	OnFile func(path string, size int64)
}

// DeployResult is what Deploy did.
type DeployResult struct {
	ID         string        `json:"id"`
	URL        string        `json:"url"`
	Status     apogee.Status `json:"status"`
	Files      int           `json:"files"`    // files in the deployment
	Uploaded   int           `json:"uploaded"` // files actually sent
	Bytes      int64         `json:"bytes"`    // bytes actually sent
	Project    string        `json:"project"`
	Production bool          `json:"production"`
	// Warnings lists the files that were skipped and why.
	Warnings []string `json:"-"`
	// RuleWarnings lists the rules of the routing files (vercel.json,
	// _redirects, _headers, netlify.toml) the deployment is made
	// without, and why.
	RuleWarnings []apogee.RuleWarning `json:"rule_warnings,omitempty"`
	// Deployment is the server's final view of the deployment.
	Deployment *apogee.DeploymentView `json:"-"`
}

// Deploy deploys the folder dir to opts.Project: it hashes every file,
// sends the manifest, uploads only the files the server lacks, and
// finalizes. If finalize still misses files (a blob lost between upload
// and finalize), it uploads those and finalizes once more.
//
// Deploy skips ".git" folders and ".DS_Store" files. A symbolic link is
// followed only if it leads to a regular file inside dir; any other is
// skipped with a warning, as are sockets, devices and names the API
// cannot carry.
func (c *Client) Deploy(ctx context.Context, dir string, opts DeployOptions) (*DeployResult, error) {
	if opts.Project == "" {
		return nil, apogee.Errorf(apogee.EINVALID, "no project given to deploy to")
	}
	d := &deployer{c: c, opts: opts}
	files, err := hashTree(ctx, dir, opts.HashWorkers, opts.Skip, d.warn)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, apogee.Errorf(apogee.EINVALID, "%s has no files to deploy", dir)
	}
	d.byHash = make(map[string]*localFile, len(files))
	manifest := make([]apogee.File, len(files))
	for i := range files {
		manifest[i] = files[i].File
		if _, ok := d.byHash[files[i].SHA256]; !ok {
			d.byHash[files[i].SHA256] = &files[i]
		}
	}
	req := apogee.CreateDeploymentRequest{Files: manifest, Target: apogee.TargetPreview, Build: opts.Build, NoCache: opts.NoCache}
	if opts.Production {
		req.Target = apogee.TargetProduction
	}
	dep, err := c.CreateDeployment(ctx, opts.Project, req)
	if err != nil {
		return nil, fmt.Errorf("create deployment: %w", err)
	}
	if err := d.upload(ctx, dep.ID, dep.Missing); err != nil {
		return nil, err
	}
	final, err := c.Finalize(ctx, dep.ID)
	if missing := MissingHashes(err); len(missing) > 0 {
		if err := d.upload(ctx, dep.ID, missing); err != nil {
			return nil, err
		}
		final, err = c.Finalize(ctx, dep.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("finalize deployment %s: %w", dep.ID, err)
	}
	res := &DeployResult{
		URL:        final.URL,
		Files:      len(files),
		Uploaded:   d.uploaded,
		Bytes:      d.sent,
		Project:    final.Project,
		Production: final.Production,
		Warnings:   d.warnings,
		Deployment: final,
	}
	res.ID = dep.ID
	if final.Deployment != nil {
		res.Status, res.RuleWarnings = final.Status, final.Warnings
	}
	if res.Project == "" {
		res.Project = opts.Project
	}
	return res, nil
}

// deployer holds the state of one Deploy.
type deployer struct {
	c      *Client
	opts   DeployOptions
	byHash map[string]*localFile

	mu       sync.Mutex // serializes callbacks and guards the fields below
	warnings []string
	uploaded int
	sent     int64 // bytes of completed uploads
	done     int64 // bytes read for uploads so far, for progress
	total    int64
}

func (d *deployer) warn(msg string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.warnings = append(d.warnings, msg)
	if d.opts.OnWarning != nil {
		d.opts.OnWarning(msg)
	}
}

func (d *deployer) progress(n int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done += n
	if d.opts.OnProgress != nil {
		d.opts.OnProgress(d.done, d.total)
	}
}

func (d *deployer) fileDone(f *localFile) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.uploaded++
	d.sent += f.Size
	if d.opts.OnFile != nil {
		d.opts.OnFile(f.Path, f.Size)
	}
}

// upload sends the files with the given hashes, opts.Concurrency at once.
func (d *deployer) upload(ctx context.Context, id string, hashes []string) error {
	todo := make([]*localFile, 0, len(hashes))
	var bytes int64
	seen := make(map[string]bool, len(hashes))
	for _, h := range hashes {
		if seen[h] {
			continue
		}
		seen[h] = true
		f, ok := d.byHash[h]
		if !ok {
			return fmt.Errorf("deployment %s: the server asks for %s, which is not in the manifest", id, h)
		}
		todo = append(todo, f)
		bytes += f.Size
	}
	d.mu.Lock()
	d.total += bytes
	if d.opts.OnUpload != nil {
		d.opts.OnUpload(len(todo), bytes)
	}
	d.mu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	// Big files first, so the slowest uploads do not start last.
	slices.SortFunc(todo, func(a, b *localFile) int {
		switch {
		case a.Size > b.Size:
			return -1
		case a.Size < b.Size:
			return 1
		}
		return strings.Compare(a.Path, b.Path)
	})
	n := d.opts.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(n)
	for _, f := range todo {
		g.Go(func() error {
			if err := d.uploadOne(ctx, id, f); err != nil {
				return fmt.Errorf("upload %s: %w", f.Path, err)
			}
			d.fileDone(f)
			return nil
		})
	}
	return g.Wait()
}

// uploadOne sends one file, retrying twice on network errors and on
// gateway errors.
func (d *deployer) uploadOne(ctx context.Context, id string, f *localFile) error {
	const attempts = 3
	var err error
	for i := range attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(i) * 500 * time.Millisecond):
			}
		}
		var n int64
		n, err = d.send(ctx, id, f)
		if err == nil {
			return nil
		}
		d.progress(-n) // the bytes of a failed attempt will be sent again
		if !retryable(ctx, err) {
			return err
		}
	}
	return err
}

// errChanged reports a file that changed between hashing and upload.
var errChanged = errors.New("the file changed while deploying; deploy again")

// send streams f from disk and returns how many bytes it read.
func (d *deployer) send(ctx context.Context, id string, f *localFile) (int64, error) {
	fh, err := os.Open(f.abs)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	r := &progressReader{r: fh, h: sha256.New(), left: f.Size, report: d.progress}
	err = d.c.UploadFile(ctx, id, f.SHA256, r, f.Size)
	if r.n == f.Size && hex.EncodeToString(r.h.Sum(nil)) != f.SHA256 {
		return r.n, errChanged
	}
	if err != nil && r.n < f.Size && ctx.Err() == nil {
		// A short read makes the transport fail; say why.
		if st, serr := fh.Stat(); serr == nil && st.Size() != f.Size {
			return r.n, errChanged
		}
	}
	return r.n, err
}

// retryable reports whether an upload that failed with err may succeed
// if sent again.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, errChanged) {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		switch se.StatusCode {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var ae *apogee.Error
	if errors.As(err, &ae) {
		return false // the server answered; sending again will not help
	}
	return true // a network error
}

// progressReader hashes and counts what it reads and reports it. It reads
// at most left bytes, so a file that grew is still sent at its manifest
// size (and then fails the hash check).
type progressReader struct {
	r      io.Reader
	h      hash.Hash
	n      int64
	left   int64
	report func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n, err := p.r.Read(b)
	if n > 0 {
		p.h.Write(b[:n])
		p.n += int64(n)
		p.left -= int64(n)
		p.report(int64(n))
	}
	return n, err
}

// localFile is a manifest entry and where its bytes are on disk.
type localFile struct {
	apogee.File
	abs string
}

// hashTree lists the files under root (see Deploy for what is skipped)
// and hashes them, workers at a time. Files are sorted by path.
func hashTree(ctx context.Context, root string, workers int, skip func(string, bool) bool, warn func(string)) ([]localFile, error) {
	files, err := scanTree(root, skip, warn)
	if err != nil {
		return nil, err
	}
	if workers <= 0 {
		workers = min(runtime.NumCPU(), 16)
	}
	bufs := sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i := range files {
		if gctx.Err() != nil {
			break
		}
		f := &files[i]
		g.Go(func() error {
			buf := bufs.Get().(*[]byte)
			defer bufs.Put(buf)
			return hashFile(f, *buf)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return files, nil
}

func hashFile(f *localFile, buf []byte) error {
	fh, err := os.Open(f.abs)
	if err != nil {
		return fmt.Errorf("hash %s: %w", f.Path, err)
	}
	defer fh.Close()
	h := sha256.New()
	// Hide File.WriteTo so that CopyBuffer uses buf.
	n, err := io.CopyBuffer(h, struct{ io.Reader }{fh}, buf)
	if err != nil {
		return fmt.Errorf("hash %s: %w", f.Path, err)
	}
	f.Size = n
	f.SHA256 = hex.EncodeToString(h.Sum(nil))
	return nil
}

// scanTree walks root and returns its files, unhashed, sorted by path.
func scanTree(root string, skip func(string, bool) bool, warn func(string)) ([]localFile, error) {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", root, err)
	}
	real, err = filepath.Abs(real)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(real)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, apogee.Errorf(apogee.EINVALID, "%s is not a folder", root)
	}
	var files []localFile
	err = filepath.WalkDir(real, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p == real {
				return nil
			}
			if name == ".git" {
				return filepath.SkipDir
			}
			if skip != nil {
				if rel, err := filepath.Rel(real, p); err == nil && skip(filepath.ToSlash(rel), true) {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if name == ".DS_Store" {
			return nil
		}
		rel, err := filepath.Rel(real, p)
		if err != nil {
			return err
		}
		mpath := filepath.ToSlash(rel)
		if skip != nil && skip(mpath, false) {
			return nil
		}
		if _, err := apogee.CleanPath(mpath); err != nil {
			warn(fmt.Sprintf("skipped %q: %s", mpath, apogee.ErrorMessage(err)))
			return nil
		}
		abs := p
		switch typ := d.Type(); {
		case typ.IsRegular():
		case typ&fs.ModeSymlink != 0:
			target, ok, why := resolveLink(real, p)
			if !ok {
				warn(fmt.Sprintf("skipped symbolic link %s: %s", mpath, why))
				return nil
			}
			abs = target
		default:
			warn(fmt.Sprintf("skipped %s: not a regular file", mpath))
			return nil
		}
		info, err := os.Stat(abs)
		if err != nil {
			return err
		}
		files = append(files, localFile{
			File: apogee.File{Path: mpath, Size: info.Size(), Mode: uint32(info.Mode().Perm())},
			abs:  abs,
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", root, err)
	}
	slices.SortFunc(files, func(a, b localFile) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

// resolveLink follows the symbolic link p and accepts it only if it leads
// to a regular file inside root (which has no symbolic links itself).
func resolveLink(root, p string) (target string, ok bool, why string) {
	target, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", false, "its target does not exist"
	}
	rel, err := filepath.Rel(root, target)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", false, "it points outside the folder"
	}
	for _, seg := range strings.Split(filepath.ToSlash(rel), "/") {
		if seg == ".git" {
			return "", false, "it points into .git"
		}
	}
	info, err := os.Stat(target)
	if err != nil {
		return "", false, err.Error()
	}
	if !info.Mode().IsRegular() {
		return "", false, "it does not point to a regular file"
	}
	return target, true, ""
}
