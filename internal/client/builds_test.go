package client_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/client"
)

// sseLog serves the 6 lines of one deployment's log as Server-Sent Events
// and drops the connection after every second line until the last, so a
// follower must reconnect twice with Last-Event-ID.
type sseLog struct {
	mu       sync.Mutex
	requests []string // Last-Event-ID of each request
}

func (s *sseLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer tok" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		fmt.Fprint(w, `{"error":{"code":"unauthorized","message":"bad token"}}`)
		return
	}
	if r.URL.Query().Get("follow") != "1" {
		http.Error(w, "not following", 400)
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, r.Header.Get("Last-Event-ID"))
	s.mu.Unlock()
	after, _ := strconv.Atoi(r.Header.Get("Last-Event-ID"))
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	fmt.Fprint(w, ": hello\n\n")
	for seq := after + 1; seq <= 6; seq++ {
		b, _ := json.Marshal(apogee.LogLine{Seq: int64(seq), Time: time.Now(), Stream: apogee.StreamStdout, Text: fmt.Sprintf("line %d", seq)})
		fmt.Fprintf(w, "id: %d\nevent: line\ndata: %s\n\n", seq, b)
		if seq%2 == 0 && seq < 6 {
			return // the proxy drops the connection
		}
	}
	fmt.Fprint(w, "event: end\ndata: {\"status\":\"error\"}\n\n")
}

func TestFollowLogsReconnects(t *testing.T) {
	s := &sseLog{}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c := client.New(srv.URL, "tok", client.WithFollowBackoff(time.Millisecond))

	var got []int64
	status, err := c.FollowLogs(t.Context(), "d1", 0, func(l apogee.LogLine) error {
		got = append(got, l.Seq)
		return nil
	})
	if err != nil || status != apogee.StatusError {
		t.Fatalf("FollowLogs = %q, %v", status, err)
	}
	if fmt.Sprint(got) != "[1 2 3 4 5 6]" {
		t.Fatalf("lines %v, want 1 to 6 once each", got)
	}
	if fmt.Sprint(s.requests) != "[ 2 4]" {
		t.Fatalf("Last-Event-ID of the requests %q, want none, 2, 4", s.requests)
	}

	// Resuming from a line skips what came before it.
	got = nil
	if _, err := c.FollowLogs(t.Context(), "d1", 5, func(l apogee.LogLine) error { got = append(got, l.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[6]" {
		t.Fatalf("after 5: lines %v", got)
	}

	// A refusal is not retried.
	_, err = client.New(srv.URL, "bad").FollowLogs(t.Context(), "d1", 0, func(apogee.LogLine) error { return nil })
	if apogee.ErrorCode(err) != apogee.EUNAUTHORIZED {
		t.Fatalf("bad token: %v", err)
	}
	// An error of the callback stops the stream and comes back.
	stop := fmt.Errorf("stop")
	if _, err := c.FollowLogs(t.Context(), "d1", 0, func(apogee.LogLine) error { return stop }); err != stop {
		t.Fatalf("callback error: %v", err)
	}
}

func TestFollowLogsGivesUp(t *testing.T) {
	// A server that closes every stream at once, with nothing sent.
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
	}))
	t.Cleanup(srv.Close)
	c := client.New(srv.URL, "tok", client.WithFollowBackoff(time.Millisecond))
	start := time.Now()
	_, err := c.FollowLogs(t.Context(), "d1", 0, func(apogee.LogLine) error { return nil })
	if err == nil || n != client.FollowRetries+1 {
		t.Fatalf("err %v after %d requests, want a failure after %d", err, n, client.FollowRetries+1)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatalf("gave up after %s", time.Since(start))
	}
}
