package logs

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apogee-dev/apogee"
)

// Options tune a Writer.
type Options struct {
	// Secrets are values that must never appear in a line: each, and its
	// common encodings (see masker), is replaced by Mask. Values shorter
	// than 3 bytes are not masked (they would garble every line).
	Secrets []string
	// FlushInterval is how often lines are stored (default 100 ms).
	FlushInterval time.Duration
	// MaxLine cuts longer lines (default 16 KiB).
	MaxLine int
	// After is the seq of the last line already stored (appending to a
	// log that has lines).
	After int64
	Log   *slog.Logger
	Now   func() time.Time
}

// Mask replaces secret values in log lines.
const Mask = "••••••"

// minMasked is the shortest form of a secret that is masked: shorter ones
// would garble every line (secrets are at least apogee.MinSecretLen
// characters; older ones may be shorter).
const minMasked = 3

// masker returns the replacer that masks secrets, and the forms a build
// script prints them in without meaning to reveal them: base64 (standard
// and URL alphabets, padded or not), hex (lower and upper case), URL
// encoding (query and path), and upper and lower case. A multi-line
// secret is masked line by line: lines are what a log holds. nil: nothing
// to mask.
func masker(secrets []string) *strings.Replacer {
	seen := map[string]bool{}
	var forms []string
	add := func(f string) {
		if len(f) >= minMasked && !seen[f] {
			seen[f] = true
			forms = append(forms, f)
		}
	}
	for _, s := range secrets {
		var parts []string
		for _, part := range strings.Split(s, "\n") {
			parts = append(parts, strings.TrimRight(part, "\r"))
		}
		if len(parts) > 1 {
			parts = append(parts, s) // encoded whole, a multi-line secret is one line
		}
		for _, p := range parts {
			if len(p) < minMasked {
				continue
			}
			for _, f := range []string{
				p, strings.ToUpper(p), strings.ToLower(p),
				base64.StdEncoding.EncodeToString([]byte(p)), base64.RawStdEncoding.EncodeToString([]byte(p)),
				base64.URLEncoding.EncodeToString([]byte(p)), base64.RawURLEncoding.EncodeToString([]byte(p)),
				hex.EncodeToString([]byte(p)), strings.ToUpper(hex.EncodeToString([]byte(p))),
				url.QueryEscape(p), url.PathEscape(p),
			} {
				add(f)
			}
		}
	}
	if len(forms) == 0 {
		return nil
	}
	// At one position the first form given that matches wins: the
	// longest first, so that a padded form is masked with its padding.
	sort.SliceStable(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	pairs := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		pairs = append(pairs, f, Mask)
	}
	return strings.NewReplacer(pairs...)
}

// Writer numbers, masks and timestamps the lines of one log, publishes
// each to the Hub at once and stores them in batches. Its stream writers
// are safe for concurrent use (a process's stdout and stderr copy in two
// goroutines).
type Writer struct {
	id    string
	store apogee.LogStore
	hub   *Hub
	opts  Options
	mask  *strings.Replacer

	mu      sync.Mutex
	seq     int64
	pending []apogee.LogLine
	closed  bool

	flushMu sync.Mutex // one store append at a time, in order
	stop    chan struct{}
	done    chan struct{}
	errMu   sync.Mutex
	err     error
}

// NewWriter starts the log of id. Close it to store the rest.
func NewWriter(id string, store apogee.LogStore, hub *Hub, opts Options) *Writer {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 100 * time.Millisecond
	}
	if opts.MaxLine <= 0 {
		opts.MaxLine = 16 << 10
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	w := &Writer{id: id, store: store, hub: hub, opts: opts, seq: opts.After,
		stop: make(chan struct{}), done: make(chan struct{})}
	w.mask = masker(opts.Secrets)
	go w.flusher()
	return w
}

// Stream returns an io.Writer whose bytes become lines of stream.
// Incomplete lines wait for their newline, or for Close.
func (w *Writer) Stream(stream string) io.WriteCloser {
	return &streamWriter{w: w, stream: stream}
}

// Systemf adds a system line.
func (w *Writer) Systemf(format string, args ...any) {
	w.add(apogee.StreamSystem, fmt.Sprintf(format, args...))
}

func (w *Writer) add(stream, text string) {
	text = strings.TrimRight(text, "\r")
	// A carriage return redraws the line on a terminal (progress meters,
	// spinners): the log keeps what the terminal would show at the end.
	if i := strings.LastIndexByte(text, '\r'); i >= 0 {
		text = text[i+1:]
	}
	if w.mask != nil {
		text = w.mask.Replace(text)
	}
	for len(text) > w.opts.MaxLine {
		w.addLine(stream, text[:w.opts.MaxLine])
		text = text[w.opts.MaxLine:]
	}
	w.addLine(stream, text)
}

func (w *Writer) addLine(stream, text string) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.seq++
	line := apogee.LogLine{Seq: w.seq, Time: w.opts.Now().UTC(), Stream: stream, Text: strings.ToValidUTF8(text, "\uFFFD")}
	w.pending = append(w.pending, line)
	// Publish under the lock so followers see lines in seq order.
	w.hub.Publish(w.id, line)
	w.mu.Unlock()
}

func (w *Writer) flusher() {
	defer close(w.done)
	t := time.NewTicker(w.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.flush(context.Background())
		}
	}
}

// flush stores the pending lines. A failed append keeps them pending for
// the next try; lines are never dropped silently.
func (w *Writer) flush(ctx context.Context) error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	batch := w.pending
	w.pending = nil
	w.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := w.store.AppendLogs(ctx, w.id, batch); err != nil {
		w.mu.Lock()
		w.pending = append(batch, w.pending...)
		w.mu.Unlock()
		w.opts.Log.Error("store log lines", "deployment", w.id, "lines", len(batch), "err", err)
		w.errMu.Lock()
		w.err = err
		w.errMu.Unlock()
		return err
	}
	return nil
}

// Seq returns the seq of the last line so far.
func (w *Writer) Seq() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq
}

// Close ends the log for writing: it stores every line and stops the
// flusher. It does not End the log in the Hub: the caller does that once
// the log's owner records that the log is over (see Hub.End).
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	// From here on lines are dropped, so the flush below stores the last.
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	if err := w.flush(ctx); err != nil {
		return fmt.Errorf("logs: store the last lines of %s: %w", w.id, err)
	}
	return nil
}

type streamWriter struct {
	w      *Writer
	stream string
	mu     sync.Mutex
	buf    []byte
}

func (s *streamWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.buf = append(s.buf, p...)
			// What a carriage return redraws is gone (see add).
			if j := bytes.LastIndexByte(s.buf, '\r'); j >= 0 && j < len(s.buf)-1 {
				s.buf = append(s.buf[:0], s.buf[j+1:]...)
			}
			if len(s.buf) >= s.w.opts.MaxLine {
				s.w.add(s.stream, string(s.buf))
				s.buf = s.buf[:0]
			}
			break
		}
		if len(s.buf) > 0 {
			s.buf = append(s.buf, p[:i]...)
			s.w.add(s.stream, string(s.buf))
			s.buf = s.buf[:0]
		} else {
			s.w.add(s.stream, string(p[:i]))
		}
		p = p[i+1:]
	}
	return n, nil
}

// Close writes an incomplete last line, if any.
func (s *streamWriter) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) > 0 {
		s.w.add(s.stream, string(s.buf))
		s.buf = nil
	}
	return nil
}
