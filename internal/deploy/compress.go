package deploy

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
	"golang.org/x/sync/errgroup"

	"github.com/apogee-dev/apogee"
)

// Limits of precompression.
const (
	// MinCompressSize: smaller files are not compressed; the saving is a
	// packet at most and the variant costs a blob.
	MinCompressSize = 1024
	// MaxCompressSize: larger files are not compressed, to bound the time
	// a deployment takes to become ready.
	MaxCompressSize = 32 << 20
	// minSaving: a variant is kept only if it is at least this fraction
	// smaller than the original.
	minSaving = 0.10
)

// Brotli qualities. Measured on a 372 KB JavaScript file with
// andybalholm/brotli (pure Go, one core): quality 9 gives 24.8% of the
// size at 1.3 MB/s, 10 gives 23.1% at 0.8 MB/s, 11 gives 22.8% at
// 0.5 MB/s; gzip -9 gives 27.2% at 20 MB/s. Quality 10 keeps almost all
// of 11's gain at 1.6× its speed; files past 1 MiB (bundles, source maps)
// get quality 6, so one huge file cannot hold a deployment for minutes.
// Each blob is compressed once, ever: redeploys pay only for new files.
const (
	brotliQuality      = 10
	brotliQualityLarge = 6
	brotliLargeSize    = 1 << 20
)

// compressibleExt lists the extensions worth compressing: text, scripts,
// data, SVG, XML, WebAssembly and the font formats that are not
// compressed already (woff and woff2 are).
var compressibleExt = map[string]bool{
	".html": true, ".htm": true, ".xhtml": true, ".css": true, ".js": true, ".mjs": true, ".cjs": true,
	".json": true, ".map": true, ".webmanifest": true, ".jsonld": true, ".geojson": true,
	".txt": true, ".md": true, ".csv": true, ".tsv": true, ".xml": true, ".rss": true, ".atom": true,
	".svg": true, ".wasm": true, ".ttf": true, ".otf": true, ".eot": true, ".ico": true,
	".yaml": true, ".yml": true, ".toml": true, ".ts": true, ".tsx": true, ".jsx": true,
	".vtt": true, ".srt": true, ".ics": true, ".glsl": true, ".wgsl": true,
}

// Compressible reports whether a file's type is worth precompressing, by
// its extension.
func Compressible(p string) bool {
	return compressibleExt[strings.ToLower(path.Ext(p))]
}

// Encodings are the precompressed encodings, best first.
var Encodings = [...]string{apogee.EncodingBrotli, apogee.EncodingGzip}

// CompressStats says what Compress did.
type CompressStats struct {
	Candidates int           // distinct blobs worth compressing
	Reused     int           // of those, how many had every variant recorded
	Compressed int           // blobs compressed now
	Variants   int           // variants stored now
	BytesIn    int64         // bytes of the blobs compressed now
	Took       time.Duration // wall time
}

// Compress makes the brotli and gzip variants that files lack and records
// them in store. A blob is looked at once per encoding, ever: a variant
// already recorded (and still stored) is reused, and an encoding that did
// not make a blob at least 10% smaller is recorded as such and not tried
// again. Work is spread over GOMAXPROCS goroutines; what is done is
// recorded as it goes, so an interrupted run loses little.
func Compress(ctx context.Context, blobs apogee.Blobs, store apogee.VariantStore, files []apogee.File) (CompressStats, error) {
	start := time.Now()
	var st CompressStats
	sizes := map[string]int64{}
	var hashes []string
	for _, f := range files {
		if f.Size < MinCompressSize || f.Size > MaxCompressSize || !Compressible(f.Path) {
			continue
		}
		if _, ok := sizes[f.SHA256]; !ok {
			sizes[f.SHA256] = f.Size
			hashes = append(hashes, f.SHA256)
		}
	}
	st.Candidates = len(hashes)
	if len(hashes) == 0 {
		return st, nil
	}

	// What is recorded already, and whether its blob is still stored
	// (the garbage collector drops a variant once its original is gone).
	known, err := store.Variants(ctx, hashes)
	if err != nil {
		return st, fmt.Errorf("deploy: look up variants: %w", err)
	}
	have := map[string]map[string]bool{} // hash → encoding → recorded and usable
	var stored []string
	for _, v := range known {
		if v.VariantSHA256 != "" {
			stored = append(stored, v.VariantSHA256)
		}
	}
	gone := map[string]bool{}
	if len(stored) > 0 {
		missing, err := blobs.Missing(ctx, stored)
		if err != nil {
			return st, fmt.Errorf("deploy: check variant blobs: %w", err)
		}
		for _, h := range missing {
			gone[h] = true
		}
	}
	for _, v := range known {
		if v.VariantSHA256 != "" && gone[v.VariantSHA256] {
			continue
		}
		if have[v.SHA256] == nil {
			have[v.SHA256] = map[string]bool{}
		}
		have[v.SHA256][v.Encoding] = true
	}
	type job struct {
		hash string
		encs []string
	}
	var jobs []job
	for _, h := range hashes {
		var encs []string
		for _, e := range Encodings {
			if !have[h][e] {
				encs = append(encs, e)
			}
		}
		if len(encs) == 0 {
			st.Reused++
			continue
		}
		jobs = append(jobs, job{h, encs})
	}
	if len(jobs) == 0 {
		st.Took = time.Since(start)
		return st, nil
	}

	// Up to GOMAXPROCS blobs are compressed at once; what they give is
	// recorded in batches, by whichever worker fills one. The first
	// error cancels the rest.
	const batch = 64
	var mu sync.Mutex // guards st and pending
	var pending []apogee.BlobVariant
	flush := func(ctx context.Context) error { // with mu held
		if len(pending) == 0 {
			return nil
		}
		if err := store.PutVariants(ctx, pending); err != nil {
			return fmt.Errorf("deploy: record variants: %w", err)
		}
		pending = pending[:0]
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, j := range jobs {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			vs, err := compressBlob(gctx, blobs, j.hash, j.encs)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			st.Compressed++
			st.BytesIn += sizes[j.hash]
			for _, v := range vs {
				if v.VariantSHA256 != "" {
					st.Variants++
				}
			}
			pending = append(pending, vs...)
			if len(pending) >= batch {
				return flush(gctx)
			}
			return nil
		})
	}
	err = g.Wait()
	if err == nil {
		err = flush(ctx)
	}
	st.Took = time.Since(start)
	return st, err
}

// compressBlob makes the variants encs of one blob, stores those that pay
// off and returns a record for each encoding.
func compressBlob(ctx context.Context, blobs apogee.Blobs, hash string, encs []string) ([]apogee.BlobVariant, error) {
	data, err := blobs.Get(ctx, hash)
	if err != nil {
		return nil, fmt.Errorf("deploy: read blob %s: %w", hash, err)
	}
	var out []apogee.BlobVariant
	for _, enc := range encs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := encode(enc, data)
		if err != nil {
			return nil, fmt.Errorf("deploy: %s blob %s: %w", enc, hash, err)
		}
		v := apogee.BlobVariant{SHA256: hash, Encoding: enc}
		if float64(len(b)) <= float64(len(data))*(1-minSaving) {
			sum := sha256.Sum256(b)
			v.VariantSHA256 = hex.EncodeToString(sum[:])
			v.Size = int64(len(b))
			if _, err := blobs.Put(ctx, v.VariantSHA256, bytes.NewReader(b), 0); err != nil {
				return nil, fmt.Errorf("deploy: store %s variant of %s: %w", enc, hash, err)
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// encode compresses data with enc.
func encode(enc string, data []byte) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(len(data) / 3)
	switch enc {
	case apogee.EncodingBrotli:
		q := brotliQuality
		if len(data) > brotliLargeSize {
			q = brotliQualityLarge
		}
		w := brotli.NewWriterOptions(&b, brotli.WriterOptions{Quality: q, LGWin: 22})
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case apogee.EncodingGzip:
		w, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown encoding %q", enc)
	}
	return b.Bytes(), nil
}
