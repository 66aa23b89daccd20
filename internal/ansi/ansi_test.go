package ansi

import (
	"strings"
	"testing"
)

func TestHTML(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "hello <b>&", "hello &lt;b&gt;&amp;"},
		{"red then reset", "\x1b[31merror\x1b[0m done", `<span class="ansi-fg-1">error</span> done`},
		{"bold green", "\x1b[1;32m✓\x1b[39;22m ok", `<span class="ansi-fg-2 ansi-bold">✓</span> ok`},
		{"bright", "\x1b[90mdim grey\x1b[m", `<span class="ansi-fg-8">dim grey</span>`},
		{"background", "\x1b[41;97m FAIL \x1b[0m", `<span class="ansi-fg-15 ansi-bg-1"> FAIL </span>`},
		{"256", "\x1b[38;5;208morange\x1b[0m", `<span style="color:#ff8700">orange</span>`},
		{"256 low is a palette colour", "\x1b[38;5;4mblue\x1b[0m", `<span class="ansi-fg-4">blue</span>`},
		{"grey ramp", "\x1b[48;5;240mx\x1b[0m", `<span style="background-color:#585858">x</span>`},
		{"truecolor", "\x1b[38;2;255;0;128mpink\x1b[0m", `<span style="color:#ff0080">pink</span>`},
		{"colon form", "\x1b[38:2:1:2:3mx\x1b[0m", `<span style="color:#010203">x</span>`},
		{"style change closes the span", "\x1b[33ma\x1b[34mb", `<span class="ansi-fg-3">a</span><span class="ansi-fg-4">b</span>`},
		{"escaped inside a span", "\x1b[31m<script>\x1b[0m", `<span class="ansi-fg-1">&lt;script&gt;</span>`},
		{"cursor moves dropped", "\x1b[2K\x1b[1Gdone", "done"},
		{"OSC hyperlink dropped", "\x1b]8;;http://x\x07link\x1b]8;;\x1b\\", "link"},
		{"controls dropped, tab kept", "a\bb\tc\x00", "ab\tc"},
		{"truncated sequence", "x\x1b[31", "x"},
		{"lone escape", "x\x1b", "x"},
		{"inverse", "\x1b[7mx\x1b[27m", `<span class="ansi-inverse">x</span>`},
		{"empty styles emit nothing", "\x1b[31m\x1b[0m", ""},
	} {
		if got := HTML(tc.in); got != tc.want {
			t.Errorf("%s: HTML(%q)\n got %s\nwant %s", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestStrip(t *testing.T) {
	for in, want := range map[string]string{
		"\x1b[1m\x1b[32mvite\x1b[39m\x1b[22m v5": "vite v5",
		"plain":                                  "plain",
		"\x1b]0;title\x07x":                      "x",
		"a\rb":                                   "ab",
	} {
		if got := Strip(in); got != want {
			t.Errorf("Strip(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzHTML: whatever the bytes, the HTML has no raw markup from the
// input and as many opening as closing spans.
func FuzzHTML(f *testing.F) {
	for _, s := range []string{"\x1b[31m<a>\x1b[0m", "\x1b[38;5;300m", "\x1b]8;;\x1b", "\x1b[;;;m&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h := HTML(s)
		if strings.Count(h, "<span") != strings.Count(h, "</span>") {
			t.Fatalf("unbalanced spans: %q", h)
		}
		rest := strings.NewReplacer("</span>", "").Replace(h)
		for strings.Contains(rest, "<span") {
			i := strings.Index(rest, "<span")
			j := strings.IndexByte(rest[i:], '>')
			rest = rest[:i] + rest[i+j+1:]
		}
		if strings.ContainsAny(rest, "<>\x1b") {
			t.Fatalf("raw markup or escape left: %q from %q", h, s)
		}
	})
}
