package source

import (
	"bytes"
	"io"
	"strings"
)

// redacted replaces a secret in text.
const redacted = "***"

// redactor passes text on to w with every secret replaced by "***". It
// holds back an unfinished line, so a secret split across writes is still
// caught; a line longer than maxLine is passed on early, keeping back
// enough bytes to catch a secret that straddles the cut. Errors from w are
// dropped (the output is a progress log: best effort), and after the
// first one nothing more is written.
type redactor struct {
	w       io.Writer
	secrets [][]byte
	to      [][]byte // what each secret becomes: "***", or an alias's name
	keep    int      // the longest secret's length - 1
	buf     []byte
	failed  bool
}

const maxLine = 8 << 10

func newRedactor(w io.Writer, secrets ...string) *redactor {
	r := &redactor{w: w}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		r.add(s, redacted)
	}
	return r
}

// alias has the redactor write name in place of s (a repository's path
// on the server, which the user is shown by its name).
func (r *redactor) alias(s, name string) *redactor {
	if s != "" {
		r.add(s, name)
	}
	return r
}

func (r *redactor) add(s, to string) {
	r.secrets = append(r.secrets, []byte(s))
	r.to = append(r.to, []byte(to))
	r.keep = max(r.keep, len(s)-1)
}

func (r *redactor) Write(p []byte) (int, error) {
	r.buf = append(r.buf, p...)
	if i := bytes.LastIndexAny(r.buf, "\r\n"); i >= 0 {
		r.emit(r.buf[:i+1])
		r.buf = append(r.buf[:0], r.buf[i+1:]...)
	}
	if len(r.buf) > maxLine {
		cut := len(r.buf) - r.keep
		// Never cut through a secret: move the cut to its start.
		for _, s := range r.secrets {
			for off := 0; ; {
				j := bytes.Index(r.buf[off:], s)
				if j < 0 {
					break
				}
				start := off + j
				if start < cut && start+len(s) > cut {
					cut = start
				}
				off = start + 1
			}
		}
		r.emit(r.buf[:cut])
		r.buf = append(r.buf[:0], r.buf[cut:]...)
	}
	return len(p), nil
}

// Flush passes on what is held back.
func (r *redactor) Flush() {
	r.emit(r.buf)
	r.buf = r.buf[:0]
}

func (r *redactor) emit(b []byte) {
	if len(b) == 0 || r.failed || r.w == nil {
		return
	}
	if _, err := r.w.Write(r.redact(b)); err != nil {
		r.failed = true
	}
}

func (r *redactor) redact(b []byte) []byte {
	out := b
	for i, s := range r.secrets {
		if bytes.Contains(out, s) {
			out = bytes.ReplaceAll(out, s, r.to[i])
		}
	}
	return out
}

// redactString replaces every secret in s.
func redactString(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return s
}

// tail keeps the last n bytes written to it.
type tail struct {
	n   int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.n {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.n:]...)
	}
	return len(p), nil
}
