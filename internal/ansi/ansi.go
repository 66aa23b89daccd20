// Package ansi reads the terminal escape sequences build tools write
// (colours, bold, cursor moves) out of log lines: HTML renders their
// colours as escaped text in <span>s, Strip removes them all.
//
// Only SGR sequences (ESC [ … m) are rendered: the 16 colours (as
// classes, so the page's palette applies), 256 colours and 24-bit
// colours (as inline styles), bold, dim, italic, underline, inverse and
// their resets. Every other CSI, OSC or two-byte escape is dropped, and
// so are other control characters but tab.
package ansi

import (
	"fmt"
	"html"
	"strconv"
	"strings"
)

// Strip returns s without escape sequences and control characters
// (tab kept).
func Strip(s string) string {
	if !needsWork(s) {
		return s
	}
	var b strings.Builder
	scan(s, func(text string) { b.WriteString(text) }, func(params string) {})
	return b.String()
}

// HTML returns s as HTML: its text escaped, its SGR colours and styles as
// <span>s with classes ansi-fg-N / ansi-bg-N (N 0–15), ansi-bold,
// ansi-dim, ansi-italic, ansi-underline, or a style attribute for 256
// and 24-bit colours. The result is safe to insert into a page.
func HTML(s string) string {
	if !needsWork(s) {
		return html.EscapeString(s)
	}
	var b strings.Builder
	var st style
	open := false
	scan(s, func(text string) {
		if text == "" {
			return
		}
		if !open && !st.zero() {
			b.WriteString(st.span())
			open = true
		}
		b.WriteString(html.EscapeString(text))
	}, func(params string) {
		next := st.apply(params)
		if next == st {
			return
		}
		if open {
			b.WriteString("</span>")
			open = false
		}
		st = next
	})
	if open {
		b.WriteString("</span>")
	}
	return b.String()
}

func needsWork(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}

// scan splits s into text and escape sequences: text goes to text, the
// parameters of each SGR sequence to sgr; everything else is dropped.
func scan(s string, text func(string), sgr func(string)) {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != 0x7f || c == '\t' {
			i++
			continue
		}
		text(s[start:i])
		if c != 0x1b || i+1 >= len(s) {
			i++
			start = i
			continue
		}
		switch s[i+1] {
		case '[': // CSI: parameters 0x30–0x3f, intermediates 0x20–0x2f, a final byte 0x40–0x7e
			j := i + 2
			for j < len(s) && s[j] >= 0x30 && s[j] <= 0x3f {
				j++
			}
			params := s[i+2 : j]
			for j < len(s) && s[j] >= 0x20 && s[j] <= 0x2f {
				j++
			}
			if j < len(s) {
				if s[j] == 'm' {
					sgr(params)
				}
				j++
			}
			i = j
		case ']': // OSC: up to BEL or ESC \
			j := i + 2
			for j < len(s) && s[j] != 0x07 && !(s[j] == 0x1b && j+1 < len(s) && s[j+1] == '\\') {
				j++
			}
			switch {
			case j >= len(s):
			case s[j] == 0x07:
				j++
			default:
				j += 2
			}
			i = j
		default: // a two-byte escape
			i += 2
		}
		start = i
	}
	text(s[start:])
}

// color is a colour: none, one of the 16 (0–15), one of 256, or RGB.
type color struct {
	kind    uint8 // 0 none, 1 palette 0–15, 2 256-colour, 3 RGB
	n       uint8
	r, g, b uint8
}

type style struct {
	fg, bg                                color
	bold, dim, italic, underline, inverse bool
}

func (s style) zero() bool { return s == style{} }

// apply returns s changed by an SGR sequence's parameters.
func (s style) apply(params string) style {
	if params == "" {
		return style{}
	}
	p := strings.FieldsFunc(params, func(r rune) bool { return r == ';' || r == ':' })
	num := func(i int) int {
		if i >= len(p) {
			return -1
		}
		n, err := strconv.Atoi(p[i])
		if err != nil {
			return -1
		}
		return n
	}
	for i := 0; i < len(p); i++ {
		switch n := num(i); {
		case n == 0:
			s = style{}
		case n == 1:
			s.bold = true
		case n == 2:
			s.dim = true
		case n == 3:
			s.italic = true
		case n == 4:
			s.underline = true
		case n == 7:
			s.inverse = true
		case n == 22:
			s.bold, s.dim = false, false
		case n == 23:
			s.italic = false
		case n == 24:
			s.underline = false
		case n == 27:
			s.inverse = false
		case n >= 30 && n <= 37:
			s.fg = color{kind: 1, n: uint8(n - 30)}
		case n >= 90 && n <= 97:
			s.fg = color{kind: 1, n: uint8(n - 90 + 8)}
		case n == 39:
			s.fg = color{}
		case n >= 40 && n <= 47:
			s.bg = color{kind: 1, n: uint8(n - 40)}
		case n >= 100 && n <= 107:
			s.bg = color{kind: 1, n: uint8(n - 100 + 8)}
		case n == 49:
			s.bg = color{}
		case n == 38 || n == 48:
			var c color
			switch num(i + 1) {
			case 5:
				if v := num(i + 2); v >= 0 && v <= 255 {
					c = color{kind: 2, n: uint8(v)}
					if v < 16 {
						c.kind = 1
					}
				}
				i += 2
			case 2:
				r, g, b := num(i+2), num(i+3), num(i+4)
				if r >= 0 && r <= 255 && g >= 0 && g <= 255 && b >= 0 && b <= 255 {
					c = color{kind: 3, r: uint8(r), g: uint8(g), b: uint8(b)}
				}
				i += 4
			}
			if n == 38 {
				s.fg = c
			} else {
				s.bg = c
			}
		}
	}
	return s
}

// span opens a <span> for s.
func (s style) span() string {
	var class, css []string
	fg, bg := s.fg, s.bg
	if s.inverse {
		fg, bg = bg, fg
		if fg.kind == 0 {
			class = append(class, "ansi-inverse")
		}
	}
	for _, c := range []struct {
		col  color
		name string
		prop string
	}{{fg, "fg", "color"}, {bg, "bg", "background-color"}} {
		switch c.col.kind {
		case 1:
			class = append(class, fmt.Sprintf("ansi-%s-%d", c.name, c.col.n))
		case 2:
			r, g, b := xterm256(c.col.n)
			css = append(css, fmt.Sprintf("%s:#%02x%02x%02x", c.prop, r, g, b))
		case 3:
			css = append(css, fmt.Sprintf("%s:#%02x%02x%02x", c.prop, c.col.r, c.col.g, c.col.b))
		}
	}
	for _, f := range []struct {
		on   bool
		name string
	}{{s.bold, "ansi-bold"}, {s.dim, "ansi-dim"}, {s.italic, "ansi-italic"}, {s.underline, "ansi-underline"}} {
		if f.on {
			class = append(class, f.name)
		}
	}
	out := "<span"
	if len(class) > 0 {
		out += ` class="` + strings.Join(class, " ") + `"`
	}
	if len(css) > 0 {
		out += ` style="` + strings.Join(css, ";") + `"`
	}
	return out + ">"
}

// xterm256 is colour n (16–255) of xterm's 256-colour palette.
func xterm256(n uint8) (r, g, b uint8) {
	if n >= 232 {
		v := 8 + 10*(n-232)
		return v, v, v
	}
	n -= 16
	level := func(v uint8) uint8 {
		if v == 0 {
			return 0
		}
		return 55 + 40*v
	}
	return level(n / 36), level(n / 6 % 6), level(n % 6)
}
