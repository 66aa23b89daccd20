package builder

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// blobOpener is what blobReaderAt needs of the blob store (apogee.Blobs).
type blobOpener interface {
	Open(ctx context.Context, hash string, offset, length int64) (io.ReadCloser, error)
}

// blobReaderAt is an io.ReaderAt over a stored blob that keeps no more of
// it in memory than the caller's buffer. It reads through one ranged
// reader while reads move forward, as archive/zip's do while it extracts
// (a 300 MiB archive took 3 opens), and opens another where a read jumps
// back or far ahead. Safe for concurrent use (calls are serialised).
type blobReaderAt struct {
	ctx   context.Context
	blobs blobOpener
	hash  string
	size  int64

	mu    sync.Mutex
	rc    io.ReadCloser // nil until the first read, or after a jump
	pos   int64         // offset of rc's next byte
	opens int
}

var _ io.ReaderAt = (*blobReaderAt)(nil)

// skipAhead: a read at most this far ahead of the open reader reads
// through the gap rather than opening another reader (a request to the
// blob store).
const skipAhead = 256 << 10

func newBlobReaderAt(ctx context.Context, blobs blobOpener, hash string, size int64) *blobReaderAt {
	return &blobReaderAt{ctx: ctx, blobs: blobs, hash: hash, size: size}
}

// ReadAt implements io.ReaderAt.
func (b *blobReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("blob %s: read at negative offset %d", b.hash, off)
	}
	if off >= b.size {
		return 0, io.EOF
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rc != nil && (off < b.pos || off-b.pos > skipAhead) {
		b.rc.Close()
		b.rc = nil
	}
	if b.rc == nil {
		rc, err := b.blobs.Open(b.ctx, b.hash, off, -1)
		if err != nil {
			return 0, err
		}
		b.rc, b.pos = rc, off
		b.opens++
	}
	if gap := off - b.pos; gap > 0 {
		n, err := io.CopyN(io.Discard, b.rc, gap)
		b.pos += n
		if err != nil {
			return 0, b.fail(err)
		}
	}
	n, err := io.ReadFull(b.rc, p)
	b.pos += int64(n)
	switch {
	case err == nil:
		return n, nil
	case (err == io.EOF || err == io.ErrUnexpectedEOF) && off+int64(n) >= b.size:
		return n, io.EOF // the blob's end, as ReaderAt says it
	default:
		return n, b.fail(err)
	}
}

// fail closes the reader after err, so that the next read opens anew.
func (b *blobReaderAt) fail(err error) error {
	b.rc.Close()
	b.rc = nil
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // shorter than its size
	}
	return fmt.Errorf("blob %s: %w", b.hash, err)
}

// Close closes the open reader, if any.
func (b *blobReaderAt) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rc == nil {
		return nil
	}
	err := b.rc.Close()
	b.rc = nil
	return err
}
