package apphost

import (
	"sync"

	"github.com/apogee-dev/apogee/internal/apps"
)

// tailLines is how many of an instance's last lines a failed release's
// log quotes.
const tailLines = 20

// Observer keeps the last lines each release's instances wrote, so that
// a release that fails to start can say what its app printed, and hands
// everything on to the next observer (runtime logs). It is the
// apps.Observer the server gives its runtime.
type Observer struct {
	next apps.Observer

	mu    sync.Mutex
	tails map[string]*tail // by release
}

var _ apps.Observer = (*Observer)(nil)

type tail struct {
	lines [tailLines]apps.Line
	n     int // lines written, ever
}

// NewObserver returns an observer that passes every call on to next
// (nil: nobody).
func NewObserver(next apps.Observer) *Observer {
	return &Observer{next: next, tails: make(map[string]*tail)}
}

// InstanceChanged passes s on.
func (o *Observer) InstanceChanged(s apps.Status) {
	if o.next != nil {
		o.next.InstanceChanged(s)
	}
}

// InstanceOutput keeps l among its release's last lines and passes it on.
func (o *Observer) InstanceOutput(l apps.Line) {
	o.mu.Lock()
	t := o.tails[l.Release]
	if t == nil {
		t = &tail{}
		o.tails[l.Release] = t
	}
	t.lines[t.n%tailLines] = l
	t.n++
	o.mu.Unlock()
	if o.next != nil {
		o.next.InstanceOutput(l)
	}
}

// Tail returns a release's last lines (at most tailLines), oldest first.
func (o *Observer) Tail(release string) []apps.Line {
	o.mu.Lock()
	defer o.mu.Unlock()
	t := o.tails[release]
	if t == nil {
		return nil
	}
	n := min(t.n, tailLines)
	out := make([]apps.Line, 0, n)
	for i := t.n - n; i < t.n; i++ {
		out = append(out, t.lines[i%tailLines])
	}
	return out
}

// Forget drops a release's lines (it stopped).
func (o *Observer) Forget(release string) {
	o.mu.Lock()
	delete(o.tails, release)
	o.mu.Unlock()
}
