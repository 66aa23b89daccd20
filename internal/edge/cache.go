package edge

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/singleflight"
)

// cache is a size-bounded in-memory cache of blobs by hash in front of the
// blob store, with CLOCK (second chance) eviction: a hit only sets a
// reference bit, so the hot path takes no lock; the FIFO order is changed
// only on insert and eviction, under mu.
type cache struct {
	blobs Blobs
	max   int64 // bound of the sum of cached blob sizes
	large int64 // blobs above this size are not cached
	m     *metrics
	sf    singleflight.Group

	mu         sync.Mutex
	size       int64
	entries    map[string]*entry
	head, tail *entry // FIFO: head is the next eviction candidate
}

// entry is one cached blob. Files point at the entry that holds their
// bytes; eviction sets data to nil so that the bytes can be collected even
// while a file still points at the entry.
type entry struct {
	hash string
	size int64
	data atomic.Pointer[[]byte]
	ref  atomic.Bool // CLOCK reference bit

	prev, next *entry // guarded by cache.mu
}

func newCache(blobs Blobs, max int64, m *metrics) *cache {
	return &cache{blobs: blobs, max: max, large: max / 8, m: m, entries: map[string]*entry{}}
}

// bytes returns f's bytes: from the entry f holds (no lock, no
// allocation), else from the cache, else from the blob store. It checks
// that the blob has the size the manifest says, since Content-Length is
// prebuilt from it.
func (c *cache) bytes(ctx context.Context, f *blobRef) ([]byte, error) {
	if e := f.ent.Load(); e != nil {
		if d := e.data.Load(); d != nil {
			if !e.ref.Load() {
				e.ref.Store(true)
			}
			c.m.cacheHits.Inc()
			return *d, nil
		}
	}
	return c.slow(ctx, f)
}

func (c *cache) slow(ctx context.Context, f *blobRef) ([]byte, error) {
	c.mu.Lock()
	if e := c.entries[f.hash]; e != nil {
		d := e.data.Load()
		c.mu.Unlock()
		e.ref.Store(true)
		f.ent.Store(e)
		c.m.cacheHits.Inc()
		return *d, nil
	}
	c.mu.Unlock()
	c.m.cacheMisses.Inc()
	// The flight hands back the bytes it got, never just the entry: by the
	// time a caller reads the entry, another insert may have evicted it
	// and cleared its data.
	v, err, _ := c.sf.Do(f.hash, func() (any, error) {
		// A flight that ended between the look-up above and this one
		// has cached the bytes already.
		c.mu.Lock()
		if e := c.entries[f.hash]; e != nil {
			l := loaded{e, *e.data.Load()} // eviction clears data under mu only
			c.mu.Unlock()
			return l, nil
		}
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		b, err := c.blobs.Get(ctx, f.hash)
		if err != nil {
			return nil, fmt.Errorf("edge: get blob %s: %w", f.hash, err)
		}
		if int64(len(b)) != f.size {
			return nil, fmt.Errorf("edge: blob %s has %d bytes, the manifest says %d", f.hash, len(b), f.size)
		}
		if int64(len(b)) > c.large {
			return loaded{nil, b}, nil
		}
		return loaded{c.insert(f.hash, b), b}, nil
	})
	if err != nil {
		return nil, err
	}
	l := v.(loaded)
	if l.e != nil {
		f.ent.Store(l.e)
	}
	return l.b, nil
}

// loaded is what a load hands to every request waiting on it: the bytes,
// and the entry that cached them (nil if they are too large to cache).
type loaded struct {
	e *entry
	b []byte
}

// insert adds b under hash and evicts until the cache is within its bound.
func (c *cache) insert(hash string, b []byte) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[hash]; e != nil {
		return e
	}
	e := &entry{hash: hash, size: int64(len(b))}
	e.data.Store(&b)
	c.entries[hash] = e
	c.push(e)
	c.size += e.size
	for c.size > c.max {
		// e is at most max/8, so older entries go before it does: a
		// second chance each, the referenced ones and e itself.
		v := c.head
		c.unlink(v)
		if v == e || v.ref.Load() {
			v.ref.Store(false)
			c.push(v)
			continue
		}
		delete(c.entries, v.hash)
		v.data.Store(nil)
		c.size -= v.size
	}
	c.m.cacheBytes.Set(float64(c.size))
	return e
}

func (c *cache) push(e *entry) {
	e.prev, e.next = c.tail, nil
	if c.tail != nil {
		c.tail.next = e
	} else {
		c.head = e
	}
	c.tail = e
}

func (c *cache) unlink(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		c.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		c.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// bytesCached returns the sum of cached blob sizes.
func (c *cache) bytesCached() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}
