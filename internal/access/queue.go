package access

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/apogee-dev/apogee"
)

// In a fleet on Kafka, the edge nodes do not write their request records
// and rollups to the database themselves: they hand them to a work
// stream, which the fleet's consumer group writes once (issue 16: consumer
// groups where a stream must be processed once, writing logs and
// rollups). The database then sees a few large writes from the group's
// members instead of a stream of small ones from every edge, and an edge
// keeps counting while the database is slow or away: Kafka holds the
// backlog.

// Queue is a work stream the fleet processes once (events.Kafka is one).
type Queue interface {
	Enqueue(ctx context.Context, stream, key string, value []byte) error
	Process(ctx context.Context, stream string, fn func(context.Context, [][]byte) error) error
}

// QueueStream is the work stream of the request records and rollups.
const QueueStream = "access"

// QueuedStore is a Store whose request records and rollups go to Queue,
// keyed by Key (this node: its batches stay in order); pruning goes to
// Store directly.
type QueuedStore struct {
	Store
	Queue Queue
	Key   string
}

// batch is one write of an access log as it goes on the work stream.
type batch struct {
	Requests []wireRequest          `json:"requests,omitempty"`
	Rollups  []apogee.TrafficRollup `json:"rollups,omitempty"`
	Tops     []apogee.TrafficTops   `json:"tops,omitempty"`
}

// wireRequest carries the visitor hash too (the database stores it; it
// never leaves the platform's own services).
type wireRequest struct {
	apogee.Request
	Visitor string `json:"visitor"`
}

func (s QueuedStore) enqueue(ctx context.Context, b batch) error {
	data, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("access: encode a batch: %w", err)
	}
	return s.Queue.Enqueue(ctx, QueueStream, s.Key, data)
}

// AppendRequests hands rs to the work stream.
func (s QueuedStore) AppendRequests(ctx context.Context, rs []apogee.Request) error {
	b := batch{Requests: make([]wireRequest, len(rs))}
	for i, r := range rs {
		b.Requests[i] = wireRequest{Request: r, Visitor: r.Visitor}
	}
	return s.enqueue(ctx, b)
}

// SaveTraffic hands rollups and tops to the work stream.
func (s QueuedStore) SaveTraffic(ctx context.Context, rollups []apogee.TrafficRollup, tops []apogee.TrafficTops) error {
	return s.enqueue(ctx, batch{Rollups: rollups, Tops: tops})
}

// WriteQueued writes the work stream's batches into store, as a member of
// its consumer group, until ctx ends. The batches of one Process call are
// written in two transactions: rollups and tops first (saving one again
// is harmless: a writer's rollup is replaced, not added to), then the
// request records; when either fails the whole batch is handed again.
// Only when a server dies between writing the records and committing
// their offsets are they written twice (Kafka's at least once).
func WriteQueued(ctx context.Context, q Queue, store Store, log *slog.Logger) error {
	return q.Process(ctx, QueueStream, func(ctx context.Context, values [][]byte) error {
		var rs []apogee.Request
		rollups := map[rollupKey]int{} // the latest of each key wins
		var rl []apogee.TrafficRollup
		tops := map[topsKey]int{}
		var tl []apogee.TrafficTops
		for _, v := range values {
			var b batch
			if err := json.Unmarshal(v, &b); err != nil {
				log.Warn("skipped a malformed batch of the access work stream", "err", err)
				continue // retrying would not mend it
			}
			for _, r := range b.Requests {
				r.Request.Visitor = r.Visitor
				rs = append(rs, r.Request)
			}
			for _, r := range b.Rollups {
				k := rollupKey{r.ProjectID, r.DeploymentID, r.Period, r.Start.Unix(), r.Writer}
				if i, ok := rollups[k]; ok {
					rl[i] = r
					continue
				}
				rollups[k] = len(rl)
				rl = append(rl, r)
			}
			for _, t := range b.Tops {
				k := topsKey{t.ProjectID, t.DeploymentID, t.Kind, t.Period, t.Start.Unix(), t.Writer}
				if i, ok := tops[k]; ok {
					tl[i] = t
					continue
				}
				tops[k] = len(tl)
				tl = append(tl, t)
			}
		}
		if len(rl) > 0 || len(tl) > 0 {
			if err := store.SaveTraffic(ctx, rl, tl); err != nil {
				return fmt.Errorf("access: save queued rollups: %w", err)
			}
		}
		if len(rs) > 0 {
			if err := store.AppendRequests(ctx, rs); err != nil {
				return fmt.Errorf("access: append queued requests: %w", err)
			}
		}
		return nil
	})
}

type rollupKey struct {
	project, deployment string
	period              time.Duration
	start               int64
	writer              string
}

type topsKey struct {
	project, deployment, kind string
	period                    time.Duration
	start                     int64
	writer                    string
}
