package rules

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/dlclark/regexp2/v2"
)

// regex is a compiled regular expression of a rule: Go's RE2 when it can
// express the pattern (linear time, the common case), else a backtracking
// engine for what Vercel's JavaScript patterns use and RE2 lacks
// (lookahead such as "/((?!api).*)", lookbehind, backreferences).
type regex interface {
	MatchString(s string) bool
	// FindStringSubmatchIndex returns byte offsets of the whole match
	// and each group as regexp.Regexp does; nil when there is no match.
	FindStringSubmatchIndex(s string) []int
	NumSubexp() int
	SubexpNames() []string
}

// MatchTimeout bounds one match of a pattern that runs on the
// backtracking engine; a match that takes longer counts as no match, so a
// pathological pattern costs a request at most this much.
const MatchTimeout = 20 * time.Millisecond

// compileRegex compiles a JavaScript-flavoured pattern: RE2 when it
// accepts it, else regexp2 in ECMAScript mode with MatchTimeout. The
// second result reports that the backtracking engine was needed.
func compileRegex(expr string) (regex, bool, error) {
	if r, err := regexp.Compile(expr); err == nil {
		return r, false, nil
	} else if !needsBacktracking(err) {
		return nil, false, fmt.Errorf("invalid regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	r, err := regexp2.Compile(expr, regexp2.ECMAScript)
	if err != nil {
		return nil, false, fmt.Errorf("invalid regular expression: %v", err)
	}
	r.MatchTimeout = MatchTimeout
	nums := r.GetGroupNumbers()
	names := make([]string, len(nums))
	for i, n := range nums {
		if name := r.GroupNameFromNumber(n); name != fmt.Sprint(n) {
			names[i] = name
		}
	}
	return &backtrack{re: r, names: names}, true, nil
}

// needsBacktracking reports whether RE2 refused a pattern for a feature
// only a backtracking engine has (it then gets a second chance there).
func needsBacktracking(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "invalid or unsupported Perl syntax") ||
		strings.Contains(msg, "invalid escape sequence") ||
		strings.Contains(msg, "invalid named capture")
}

// backtrack adapts a regexp2 pattern to regex.
type backtrack struct {
	re    *regexp2.Regexp
	names []string
}

func (b *backtrack) MatchString(s string) bool {
	ok, err := b.re.MatchString(s)
	return ok && err == nil
}

func (b *backtrack) FindStringSubmatchIndex(s string) []int {
	m, err := b.re.FindStringMatch(s)
	if err != nil || m == nil {
		return nil
	}
	groups := m.Groups()
	idx := make([]int, 2*len(groups))
	for i := range groups {
		g := &groups[i]
		if len(g.Captures) == 0 {
			idx[2*i], idx[2*i+1] = -1, -1
			continue
		}
		start, n := g.ByteRange()
		idx[2*i], idx[2*i+1] = start, start+n
	}
	return idx
}

func (b *backtrack) NumSubexp() int { return len(b.re.GetGroupNumbers()) - 1 }

// SubexpNames returns the name of each group by number ("" for unnamed
// ones), as regexp.Regexp does.
func (b *backtrack) SubexpNames() []string { return b.names }

// lazyRE is an RE2 pattern compiled on its first use. Netlify's patterns
// are built from quoted literals and fixed groups, so they always
// compile; with the rules index, a deployment of 45,000 rules compiles
// only those that requests reach, which keeps deploys fast and the
// compiled set small.
type lazyRE struct {
	expr string
	once sync.Once
	re   *regexp.Regexp // nil if expr did not compile: matches nothing
}

func newLazyRE(expr string) *lazyRE { return &lazyRE{expr: expr} }

func (l *lazyRE) get() *regexp.Regexp {
	l.once.Do(func() { l.re, _ = regexp.Compile(l.expr) })
	return l.re
}

func (l *lazyRE) MatchString(s string) bool {
	re := l.get()
	return re != nil && re.MatchString(s)
}

func (l *lazyRE) FindStringSubmatchIndex(s string) []int {
	if re := l.get(); re != nil {
		return re.FindStringSubmatchIndex(s)
	}
	return nil
}

func (l *lazyRE) NumSubexp() int {
	if re := l.get(); re != nil {
		return re.NumSubexp()
	}
	return 0
}

func (l *lazyRE) SubexpNames() []string {
	if re := l.get(); re != nil {
		return re.SubexpNames()
	}
	return nil
}
