package events

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// processed collects what the members of a work stream's group processed.
type processed struct {
	mu   sync.Mutex
	seen map[int][]string // record → the members that processed it
	more chan struct{}
}

func newProcessed() *processed {
	return &processed{seen: map[int][]string{}, more: make(chan struct{}, 1)}
}

func (p *processed) member(name string) func(context.Context, [][]byte) error {
	return func(_ context.Context, values [][]byte) error {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, v := range values {
			n, err := strconv.Atoi(string(v))
			if err != nil {
				return err
			}
			p.seen[n] = append(p.seen[n], name)
		}
		select {
		case p.more <- struct{}{}:
		default:
		}
		return nil
	}
}

// wait waits until records [0, n) were all processed.
func (p *processed) wait(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		p.mu.Lock()
		got := len(p.seen)
		p.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-p.more:
		case <-timeout:
			t.Fatalf("%d of %d records processed within 30 s", got, n)
		}
	}
}

// check: records [0, n) were processed each once, by members among names.
func (p *processed) check(t *testing.T, n int, names ...string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.seen) != n {
		t.Fatalf("%d records processed, want %d", len(p.seen), n)
	}
	for i := range n {
		by := p.seen[i]
		if len(by) != 1 {
			t.Fatalf("record %d processed %d times (by %v), want once", i, len(by), by)
		}
		if !slicesContains(names, by[0]) {
			t.Fatalf("record %d processed by %s, want one of %v", i, by[0], names)
		}
	}
}

func slicesContains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestKafkaProcessOnce: a work stream's records are processed once by the
// fleet, shared between the members of its consumer group; a member that
// stops and comes back resumes from the committed offset (the records it
// had processed are not handed again, those sent meanwhile are).
func TestKafkaProcessOnce(t *testing.T) {
	url := kafkaURL(startKafka(t), "", "apogee-test-"+apogee.NewID())
	a, b := dialKafka(t, url, nil), dialKafka(t, url, nil)
	if err := a.EnsureQueue(t.Context(), "work"); err != nil {
		t.Fatal(err)
	}
	enqueue := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := a.Enqueue(t.Context(), "work", fmt.Sprint("key", i%7), []byte(strconv.Itoa(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := newProcessed()
	run := func(bus *Kafka, name string) (stop func()) {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- bus.Process(ctx, "work", p.member(name)) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Process of %s: %v", name, err)
			}
		}
	}
	stopA := run(a, "a")
	stopB := run(b, "b")
	enqueue(0, 200)
	p.wait(t, 200)
	stopB()
	enqueue(200, 300) // b is away: a processes them
	p.wait(t, 300)
	stopA()
	enqueue(300, 400) // nobody: kept in Kafka
	stopB = run(b, "b")
	p.wait(t, 400)
	stopB()
	p.check(t, 400, "a", "b")
}
