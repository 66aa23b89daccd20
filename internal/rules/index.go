package rules

import "strings"

// ruleIndex finds the rules a request path can match, in file order,
// without looking at the others: a trie of path segments where each rule
// hangs under the literal segments its source starts with ("/blog/:slug"
// under "blog", "/old/page" under "old", "page"; "/(.*)" at the root). A
// path collects the rules of the nodes it walks through, so 45,000 rules
// of distinct paths cost a request one map read per segment, not 45,000
// prefix comparisons. Rules on case-insensitive sources (Netlify's header
// paths) are filed under lower-case segments and looked up with the
// path's lower-case form.
//
// It is immutable once built and safe for concurrent use.
type ruleIndex struct {
	root  node
	fold  bool // some rule is filed lower-case: look up lower-case paths
	total int
}

type node struct {
	rules    []int32 // rules filed here, ascending
	children map[string]*node
}

// newIndex files rules 0..n-1 by their matchers.
func newIndex(n int, m func(i int) *matcher) ruleIndex {
	x := ruleIndex{total: n}
	for i := 0; i < n; i++ {
		mi := m(i)
		key := indexKey(mi)
		if mi.fold {
			key = strings.ToLower(key)
			x.fold = true
		}
		nd := &x.root
		for key != "" {
			seg, rest, _ := strings.Cut(key, "/")
			key = rest
			if nd.children == nil {
				nd.children = map[string]*node{}
			}
			c := nd.children[seg]
			if c == nil {
				c = &node{}
				nd.children[seg] = c
			}
			nd = c
		}
		nd.rules = append(nd.rules, int32(i))
	}
	return x
}

// indexKey is the part of m's literal prefix a matching path surely
// shares, without the leading "/" and cut after its last whole segment:
// "a/b" for "/a/b" (an exact or keyed prefix), "a" for "/a/b(.*)", ""
// for "/" or a source that starts with a pattern.
func indexKey(m *matcher) string {
	p := m.prefix
	if p == "" || p[0] != '/' {
		return ""
	}
	if !m.keyed {
		p = p[:strings.LastIndexByte(p, '/')+1]
	}
	return strings.Trim(p, "/")
}

// maxDepth bounds the lists a lookup gathers on the stack; a deeper path
// gathers the rest on the heap.
const maxDepth = 12

// cursor walks the rules a path may match, in ascending order, merging
// the lists of the nodes on the path's way down the trie.
type cursor struct {
	lists [maxDepth][]int32
	more  [][]int32
	n     int
}

func (c *cursor) add(l []int32) {
	if len(l) == 0 {
		return
	}
	if c.n < maxDepth {
		c.lists[c.n] = l
		c.n++
		return
	}
	c.more = append(c.more, l)
}

// next returns the smallest rule left, or -1.
func (c *cursor) next() int32 {
	best, at := int32(-1), -1
	for i := 0; i < c.n; i++ {
		if l := c.lists[i]; len(l) > 0 && (best < 0 || l[0] < best) {
			best, at = l[0], i
		}
	}
	for i, l := range c.more {
		if len(l) > 0 && (best < 0 || l[0] < best) {
			best, at = l[0], maxDepth+i
		}
	}
	switch {
	case at < 0:
	case at < maxDepth:
		c.lists[at] = c.lists[at][1:]
	default:
		c.more[at-maxDepth] = c.more[at-maxDepth][1:]
	}
	return best
}

// lookup fills c with the rules path p may match.
func (x *ruleIndex) lookup(p string, c *cursor) {
	c.n, c.more = 0, nil
	if x.total == 0 {
		return
	}
	if x.fold {
		p = lowerASCII(p)
	}
	nd := &x.root
	c.add(nd.rules)
	if len(p) == 0 || p[0] != '/' {
		return
	}
	p = p[1:]
	for p != "" && nd.children != nil {
		seg, rest, _ := strings.Cut(p, "/")
		nd = nd.children[seg]
		if nd == nil {
			return
		}
		c.add(nd.rules)
		p = rest
	}
}

// lowerASCII returns s with ASCII letters in lower case, s itself (no
// allocation) when it has none in upper case.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
