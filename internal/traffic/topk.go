package traffic

import (
	"cmp"
	"slices"
	"strings"

	"github.com/apogee-dev/apogee"
)

// topK finds the most frequent keys of a stream in bounded memory with the
// Misra–Gries summary ("Finding repeated elements", 1982), in its weighted
// form: it counts up to capacity keys; a new key of weight w that finds it
// full takes d = min(w, the smallest count) off every count and off w,
// keys at zero leaving, until w is spent or there is room for the rest.
// A key's count is then under its true count by at most n/(capacity+1)
// of n counted, and every key more frequent than that is kept. Below
// capacity distinct keys counts are exact. Each add costs one map
// operation, and the drops, O(capacity) each, are paid for by the counts
// they take away.
type topK struct {
	capacity int
	counts   map[string]int64
}

func newTopK(capacity int) *topK {
	return &topK{capacity: capacity, counts: make(map[string]int64)}
}

// add counts key once.
func (t *topK) add(key string) { t.addN(key, 1) }

// addN counts key n times. A key kept is copied: the summary never holds
// on to a request's memory.
func (t *topK) addN(key string, n int64) {
	if c, ok := t.counts[key]; ok {
		t.counts[key] = c + n
		return
	}
	for n > 0 && len(t.counts) >= t.capacity {
		d := n
		for _, c := range t.counts {
			d = min(d, c)
		}
		for k, c := range t.counts {
			if c == d {
				delete(t.counts, k)
			} else {
				t.counts[k] = c - d
			}
		}
		n -= d
	}
	if n > 0 {
		t.counts[strings.Clone(key)] = n
	}
}

// top returns the n most frequent keys, most frequent first, ties by key.
func (t *topK) top(n int) []apogee.TrafficTop {
	out := make([]apogee.TrafficTop, 0, len(t.counts))
	for k, c := range t.counts {
		out = append(out, apogee.TrafficTop{Key: k, Count: c})
	}
	slices.SortFunc(out, func(a, b apogee.TrafficTop) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Key, b.Key))
	})
	return out[:min(n, len(out))]
}
