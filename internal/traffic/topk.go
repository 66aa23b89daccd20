package traffic

import (
	"cmp"
	"slices"

	"github.com/apogee-dev/apogee"
)

// topK finds the most frequent keys of a stream in bounded memory with the
// Misra–Gries summary ("Finding repeated elements", 1982): it counts up to
// capacity keys; a new key that finds it full is not kept, and every
// count drops by one instead, keys at zero leaving. A key's count is then
// under its true count by at most n/(capacity+1) of n keys counted, and
// every key more frequent than that is kept. Below capacity distinct keys
// counts are exact. Each key counted costs one map operation, and the
// drops, O(capacity) each, are paid for by the counts they take away.
type topK struct {
	capacity int
	counts   map[string]int64
}

func newTopK(capacity int) *topK {
	return &topK{capacity: capacity, counts: make(map[string]int64)}
}

// add counts key once.
func (t *topK) add(key string) {
	if len(t.counts) < t.capacity {
		t.counts[key]++
		return
	}
	if n, ok := t.counts[key]; ok {
		t.counts[key] = n + 1
		return
	}
	for k, n := range t.counts {
		if n == 1 {
			delete(t.counts, k)
		} else {
			t.counts[k] = n - 1
		}
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
