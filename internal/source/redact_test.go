package source

import (
	"bytes"
	"strings"
	"testing"
)

func TestRedactor(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-T0KEN"
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{"whole", []string{"token " + secret + " here\n"}, "token *** here\n"},
		{"split across writes", []string{"token s3cr", "3t-T0", "KEN here\n"}, "token *** here\n"},
		{"progress lines", []string{"Receiving 10%\r" + secret[:4], secret[4:] + "\rdone\n"}, "Receiving 10%\r***\rdone\n"},
		{"unfinished line", []string{"at the end " + secret}, "at the end ***"},
		{"twice", []string{secret + secret + "\n"}, "******\n"},
		// A line longer than maxLine is passed on early, never cutting
		// through a secret.
		{"long line", []string{strings.Repeat("x", maxLine-5) + secret[:8], secret[8:] + strings.Repeat("y", maxLine) + secret + "\n"},
			strings.Repeat("x", maxLine-5) + "***" + strings.Repeat("y", maxLine) + "***\n"},
		{"long line, secret at the cut", []string{strings.Repeat("x", maxLine) + secret + strings.Repeat("z", 3), "\n"},
			strings.Repeat("x", maxLine) + "***zzz\n"},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		r := newRedactor(&out, secret, "other")
		for _, w := range tc.writes {
			if n, err := r.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("%s: Write = %d, %v", tc.name, n, err)
			}
		}
		r.Flush()
		if out.String() != tc.want {
			t.Errorf("%s:\n got %.80q…\nwant %.80q…", tc.name, out.String(), tc.want)
		}
	}
}

func TestTail(t *testing.T) {
	t.Parallel()
	tl := &tail{n: 5}
	tl.Write([]byte("abc"))
	tl.Write([]byte("defg"))
	if string(tl.buf) != "cdefg" {
		t.Fatalf("tail = %q", tl.buf)
	}
}

func TestSummarizeAndExplain(t *testing.T) {
	t.Parallel()
	stderr := "remote: Counting objects: 3\rremote: Counting objects: 100%\nfatal: could not read Username for 'https://example.com': terminal prompts disabled\n"
	if got := summarize(stderr); got != "fatal: could not read Username for 'https://example.com': terminal prompts disabled" {
		t.Errorf("summarize = %q", got)
	}
	if got := explain(stderr); !strings.HasPrefix(got, "authentication failed") {
		t.Errorf("explain = %q", got)
	}
	if got := summarize("just one line\n"); got != "just one line" {
		t.Errorf("summarize = %q", got)
	}
	if got := summarize(""); got != "no message" {
		t.Errorf("summarize = %q", got)
	}
}
