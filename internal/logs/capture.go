package logs

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/apogee-dev/apogee"
	"golang.org/x/time/rate"
)

// CaptureOptions tune a Capture. Zero values take the defaults.
type CaptureOptions struct {
	// LinesPerSecond and BytesPerSecond bound what one instance may log,
	// with bursts of LineBurst lines and ByteBurst bytes (defaults 1,000
	// lines/s with bursts of 5,000, and 1 MiB/s with bursts of 4 MiB: a
	// busy app logs a few hundred lines a second, a runaway one millions).
	LinesPerSecond float64
	LineBurst      int
	BytesPerSecond float64
	ByteBurst      int
	// MaxLine cuts longer lines (default 16 KiB).
	MaxLine int
	// NoteEvery is how often, at most, a note says how much was dropped
	// while lines are being dropped (default 1 s). Once the dropping
	// stops (no line dropped for noteQuiet), the next line is preceded by
	// the note of the rest; the last note comes at Flush.
	NoteEvery time.Duration
	Now       func() time.Time
}

// Capture turns an app instance's output into log lines: it splits each
// stream into lines, stamps each with the time it was read and the
// instance, and hands it to emit, as long as the instance stays within its
// rate. Lines over the rate are dropped and counted, and a system line
// says how many ("… 12,345 lines (3.2 MiB) dropped: over 1,000 lines/s").
// Memory is bounded whatever the app writes: at most one partial line per
// stream is buffered, and dropped lines are only counted.
//
// emit is called with Capture's lock held, so lines arrive in order; it
// must not block and must not call back into the Capture. The stream
// writers are safe for concurrent use.
type Capture struct {
	instance string
	emit     func(apogee.LogLine)
	opts     CaptureOptions
	lines    *rate.Limiter
	bytes    *rate.Limiter

	mu           sync.Mutex
	droppedLines int64
	droppedBytes int64
	lastNote     time.Time
	lastDrop     time.Time
	totalDropped int64
	// dropUntil: until then no token is back, and whole writes are
	// counted and dropped without looking at their lines. An app that
	// floods its stdout blocks on the pipe when it is read slowly (Node
	// writes pipes synchronously), so dropping must cost next to
	// nothing.
	dropUntil time.Time
}

// NewCapture returns the capture of one instance's output.
func NewCapture(instance string, emit func(apogee.LogLine), o CaptureOptions) *Capture {
	if o.LinesPerSecond <= 0 {
		o.LinesPerSecond = 1000
	}
	if o.LineBurst <= 0 {
		o.LineBurst = 5000
	}
	if o.BytesPerSecond <= 0 {
		o.BytesPerSecond = 1 << 20
	}
	if o.ByteBurst <= 0 {
		o.ByteBurst = 4 << 20
	}
	if o.MaxLine <= 0 {
		o.MaxLine = 16 << 10
	}
	if o.ByteBurst < o.MaxLine {
		o.ByteBurst = o.MaxLine
	}
	if o.NoteEvery <= 0 {
		o.NoteEvery = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Capture{
		instance: instance, emit: emit, opts: o,
		lines: rate.NewLimiter(rate.Limit(o.LinesPerSecond), o.LineBurst),
		bytes: rate.NewLimiter(rate.Limit(o.BytesPerSecond), o.ByteBurst),
	}
}

// Stream returns a writer whose bytes become lines of stream ("stdout",
// "stderr"). Close it when the stream ends to emit an unfinished last
// line.
func (c *Capture) Stream(stream string) io.WriteCloser {
	return &captureStream{c: c, stream: stream, buf: make([]byte, 0, 512)}
}

// Systemf emits a line of the platform's own about the instance. System
// lines are never rate-limited.
func (c *Capture) Systemf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Now()
	c.noteLocked(now)
	c.emitLocked(now, apogee.StreamSystem, fmt.Sprintf(format, args...))
}

// Flush emits the note of lines dropped since the last one, if any.
func (c *Capture) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.noteLocked(c.opts.Now())
}

// Dropped returns how many lines were dropped in all.
func (c *Capture) Dropped() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.totalDropped
}

func (c *Capture) line(stream string, text []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Now()
	n := len(text)
	if !c.lines.AllowN(now, 1) || !c.bytes.AllowN(now, max(n, 1)) {
		c.dropLocked(now, 1, int64(n))
		// The time for one line's tokens to come back.
		wait := time.Duration(float64(time.Second) * max(1/c.opts.LinesPerSecond, float64(n)/c.opts.BytesPerSecond))
		c.dropUntil = now.Add(wait)
		return
	}
	// While an app floods, a line passes now and then between drops: it
	// gets no note of its own (that would double the log), the notes
	// come every NoteEvery.
	if now.Sub(c.lastNote) >= c.opts.NoteEvery || now.Sub(c.lastDrop) >= noteQuiet {
		c.noteLocked(now)
	}
	c.emitLocked(now, stream, string(text))
}

// dropLocked counts dropped lines and notes them when a note is due.
func (c *Capture) dropLocked(now time.Time, lines, bytes int64) {
	c.droppedLines += lines
	c.droppedBytes += bytes
	c.lastDrop = now
	c.totalDropped += lines
	if now.Sub(c.lastNote) >= c.opts.NoteEvery {
		c.noteLocked(now)
	}
}

// dropWhole drops a whole write while no token is back; it reports
// false when tokens may be back and the write must be read line by line.
func (c *Capture) dropWhole(p []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Now()
	if !now.Before(c.dropUntil) {
		return false
	}
	lines := int64(bytes.Count(p, newline))
	c.dropLocked(now, lines, int64(len(p))-lines)
	return true
}

var newline = []byte{'\n'}

// noteQuiet is how long no line must be dropped for the dropping to count
// as over, so that the next line is preceded by the note of the rest.
const noteQuiet = 100 * time.Millisecond

// drop counts a line dropped outside the limiter.
func (c *Capture) drop(lines, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(c.opts.Now(), lines, bytes)
}

// noteLocked emits the count of dropped lines, if any, and resets it.
func (c *Capture) noteLocked(now time.Time) {
	if c.droppedLines == 0 {
		return
	}
	c.emitLocked(now, apogee.StreamSystem, fmt.Sprintf("… %s lines (%s) dropped: the instance logged more than %s lines or %s a second",
		thousands(c.droppedLines), apogee.FormatBytes(c.droppedBytes), thousands(int64(c.opts.LinesPerSecond)), apogee.FormatBytes(int64(c.opts.BytesPerSecond))))
	c.droppedLines, c.droppedBytes = 0, 0
	c.lastNote = now
}

func (c *Capture) emitLocked(now time.Time, stream, text string) {
	text = strings.ToValidUTF8(strings.TrimRight(text, "\r"), "\uFFFD")
	c.emit(apogee.LogLine{Time: now.UTC(), Stream: stream, Text: text, Instance: c.instance})
}

// thousands writes n with commas: 12,345.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

type captureStream struct {
	c      *Capture
	stream string
	mu     sync.Mutex
	buf    []byte
	skip   bool // drop up to the next newline: its line began in a dropped write
}

func (s *captureStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(p)
	if s.c.dropWhole(p) {
		// The line in buf goes too (its newline is counted when it
		// comes), and the rest of a line this write began.
		s.buf = s.buf[:0]
		s.skip = p[len(p)-1] != '\n'
		return n, nil
	}
	if s.skip {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			return n, nil
		}
		s.c.drop(1, int64(i))
		s.skip = false
		p = p[i+1:]
	}
	max := s.c.opts.MaxLine
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			// An unfinished line: keep at most MaxLine of it.
			for len(s.buf)+len(p) >= max {
				k := max - len(s.buf)
				s.buf = append(s.buf, p[:k]...)
				s.c.line(s.stream, s.buf)
				s.buf = s.buf[:0]
				p = p[k:]
			}
			s.buf = append(s.buf, p...)
			break
		}
		seg := p[:i]
		p = p[i+1:]
		if len(s.buf) > 0 {
			for len(s.buf)+len(seg) > max {
				k := max - len(s.buf)
				s.buf = append(s.buf, seg[:k]...)
				s.c.line(s.stream, s.buf)
				s.buf = s.buf[:0]
				seg = seg[k:]
			}
			s.buf = append(s.buf, seg...)
			s.c.line(s.stream, s.buf)
			s.buf = s.buf[:0]
			continue
		}
		for len(seg) > max {
			s.c.line(s.stream, seg[:max])
			seg = seg[max:]
		}
		s.c.line(s.stream, seg)
	}
	if cap(s.buf) > 512 && cap(s.buf) > 4*len(s.buf) { // a long line grew it; give the memory back
		s.buf = append(make([]byte, 0, 512), s.buf...)
	}
	return n, nil
}

// Close emits the unfinished last line, if any.
func (s *captureStream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) > 0 {
		s.c.line(s.stream, s.buf)
		s.buf = s.buf[:0]
	}
	return nil
}
