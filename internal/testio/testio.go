// Package testio holds small io helpers for tests. It imports nothing of
// Apogee's, so any test may use it (internal/testbed, which opens the
// stores, is too heavy for the sandbox's re-executed binary).
package testio

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer that a test may read while a server or a
// child process writes to it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
