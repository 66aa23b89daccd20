package builder

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/dustin/go-humanize"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/gitrepo"
	"github.com/apogee-dev/apogee/internal/source"
)

// Sources fetches a deployment's source tree: a clone of the project's
// repository at the deployment's commit or branch, the uploaded ZIP, or
// the uploaded source folder.
type Sources struct {
	Git   *source.Git
	Blobs apogee.Blobs
	Zip   source.ZipLimits
	// LocalRoot is the folder of the platform's own repositories (pushed
	// with `git push` to the platform); file:// URLs under it are always
	// allowed, others only if Git.AllowFile is set.
	LocalRoot string
	// Repos, if set, brings this node's copy of a pushed repository up
	// to date from the store (gitrepo.Repos): a build of a push another
	// node took builds here.
	Repos PushedRepos
	// Token returns the token for a project's private repository, if any.
	Token func(ctx context.Context, p *apogee.Project) (string, error)
	// Manifests reads the manifest of a source folder (folder.go).
	Manifests Manifests
}

var _ Source = (*Sources)(nil)

// PushedRepos gives this node's up-to-date copy of a project's pushed
// repository (gitrepo.Repos implements it).
type PushedRepos interface {
	Sync(ctx context.Context, projectID string) (dir string, exists bool, err error)
}

// DefaultZipLimits bound an uploaded source tree.
var DefaultZipLimits = source.ZipLimits{MaxFiles: 100_000, MaxBytes: 2 << 30, MaxFileBytes: 512 << 20}

// Fetch implements Source.
func (s *Sources) Fetch(ctx context.Context, p *apogee.Project, d *apogee.Deployment, dir string, log io.Writer) (apogee.CommitInfo, error) {
	var none apogee.CommitInfo
	switch d.Source {
	case apogee.SourceGit:
		if p.Git == nil {
			return none, apogee.Errorf(apogee.EINVALID, "project %q has no Git repository to build from", p.Name)
		}
		ref := d.Commit
		if ref == "" {
			ref = d.Branch
		}
		if ref == "" {
			ref = p.Git.Branch
		}
		g := *s.Git
		repo, url, shown := p.Git.URL, p.Git.URL, p.Git.URL
		if d.ForkRepo != "" {
			// A fork's pull request: its own repository, and no token of
			// the project's.
			repo, url, shown = d.ForkRepo, d.ForkRepo, d.ForkRepo
			fmt.Fprintf(log, "Pull request #%d from a fork: the project's environment variables are not set for this build\n", d.PullRequest)
		} else if s.Repos != nil && gitrepo.IsPlatform(p.Git.URL, p.ID) {
			// The platform's own repository, pushed to whichever node:
			// this node's copy, brought up to date.
			dir, exists, err := s.Repos.Sync(ctx, p.ID)
			if err != nil {
				return none, fmt.Errorf("bring the pushed repository up to date: %w", err)
			}
			if !exists {
				return none, apogee.Errorf(apogee.EINVALID, "project %q has no pushed repository on the platform", p.Name)
			}
			url = "file://" + filepath.ToSlash(dir)
			g.AllowFile = true
			shown = "the pushed repository"
			g.Name = shown
		} else if s.LocalRoot != "" && strings.HasPrefix(p.Git.URL, "file://") {
			path := strings.TrimPrefix(p.Git.URL, "file://")
			if rel, err := filepath.Rel(s.LocalRoot, path); err == nil && !strings.HasPrefix(rel, "..") {
				g.AllowFile = true
				// The platform's own repository: its path on the server
				// says nothing to the user and is not theirs to see.
				shown = "the pushed repository"
				g.Name = shown
			}
		}
		var token string
		if s.Token != nil && d.ForkRepo == "" {
			t, err := s.Token(ctx, p)
			if err != nil {
				return none, fmt.Errorf("repository token: %w", err)
			}
			token = t
		}
		fmt.Fprintf(log, "Cloning %s at %s\n", shown, ref)
		co, err := g.FetchChanges(ctx, url, ref, d.DiffBase, token, dir, log)
		if err != nil {
			return none, err
		}
		author, _, _ := strings.Cut(co.Author, " <")
		return apogee.CommitInfo{SHA: co.Commit, Message: co.Message, Author: strings.TrimSpace(author),
			URL: source.CommitURL(repo, co.Commit), Changed: co.Changed, ChangedKnown: co.ChangedKnown}, nil
	case apogee.SourceZip:
		if d.SourceBlob == "" {
			return none, apogee.Errorf(apogee.EINVALID, "deployment %s names no uploaded ZIP", d.ID)
		}
		lim := s.Zip
		if lim == (source.ZipLimits{}) {
			lim = DefaultZipLimits
		}
		// Read in place through ranged reads: a 300 MiB ZIP took 626 MiB
		// of memory when read whole, 4.5 MiB so (BenchmarkZipSource),
		// and no spool file (5 MiB, 20% slower, 300 MiB more disk).
		zsize, err := s.Blobs.Size(ctx, d.SourceBlob)
		if err != nil {
			return none, fmt.Errorf("read the uploaded ZIP: %w", err)
		}
		ra := newBlobReaderAt(ctx, s.Blobs, d.SourceBlob, zsize)
		defer ra.Close()
		fmt.Fprintf(log, "Unpacking the uploaded ZIP (%s)\n", humanize.IBytes(uint64(zsize)))
		n, size, err := source.ExtractZip(ctx, ra, zsize, dir, lim)
		if err != nil {
			return none, err
		}
		fmt.Fprintf(log, "Unpacked %d files (%s)\n", n, humanize.IBytes(uint64(max(size, 0))))
		return none, nil
	case apogee.SourceFolder:
		return none, s.fetchFolder(ctx, d, dir, log)
	default:
		return none, apogee.Errorf(apogee.EINVALID, "deployment %s has no source to build (source %q)", d.ID, d.Source)
	}
}
