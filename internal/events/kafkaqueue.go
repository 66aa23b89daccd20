package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A work stream is a Kafka topic <prefix>.<stream> that the fleet
// processes once, unlike the events and live logs every server reads: a
// record goes to one member of the stream's consumer group, which
// commits its offset once it has processed it. A server that loses its
// connection, or restarts, resumes from the group's committed offset, so
// nothing is skipped; a record processed but not yet committed when its
// server died is processed again (at least once), so processing must
// bear a repeat.

// QueuePartitions is how many partitions a work stream has: how many
// servers process it at once.
const QueuePartitions = 4

// Enqueue appends value to work stream, keyed by key (records of one key
// keep their order), and returns once Kafka has it.
func (b *Kafka) Enqueue(ctx context.Context, stream, key string, value []byte) error {
	if b.closing.Load() {
		return errors.New("events: enqueue to Kafka: the bus is closed")
	}
	r := &kgo.Record{Topic: b.prefix + "." + stream, Key: []byte(key), Value: value}
	if err := b.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return fmt.Errorf("events: enqueue to %s: %w", r.Topic, err)
	}
	return nil
}

// EnsureQueue creates work stream's topic if it is missing.
func (b *Kafka) EnsureQueue(ctx context.Context, stream string) error {
	topic := b.prefix + "." + stream
	res, err := kadm.NewClient(b.cl).CreateTopics(ctx, QueuePartitions, -1, nil, topic)
	if err != nil {
		return fmt.Errorf("events: create topic %s: %w", topic, err)
	}
	for _, t := range res.Sorted() {
		if t.Err != nil && !errors.Is(t.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("events: create topic %s: %w", topic, t.Err)
		}
	}
	return nil
}

// Process hands the records of work stream to fn, in batches, as a member
// of the stream's consumer group, until ctx ends. A batch is committed
// once fn returns nil; when fn fails it is handed again, after a pause,
// until it succeeds or ctx ends. Records of one key come in order.
func (b *Kafka) Process(ctx context.Context, stream string, fn func(context.Context, [][]byte) error) error {
	if err := b.EnsureQueue(ctx, stream); err != nil {
		return err
	}
	topic := b.prefix + "." + stream
	cl, err := kgo.NewClient(append(slices.Clip(b.opts),
		kgo.ConsumerGroup(topic+".processors"),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
	)...)
	if err != nil {
		return fmt.Errorf("events: consumer of %s: %w", topic, err)
	}
	defer cl.Close()
	defer cl.AllowRebalance() // before Close: leaving the group is a rebalance
	for {
		fs := cl.PollRecords(ctx, 1000)
		if fs.IsClientClosed() || ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			b.log.Warn("Kafka work stream; reading again", "topic", t, "partition", p, "err", err)
		})
		recs := fs.Records()
		if len(recs) > 0 {
			values := make([][]byte, len(recs))
			for i, r := range recs {
				values[i] = r.Value
			}
			for {
				err := fn(ctx, values)
				if err == nil {
					break
				}
				b.log.Error("processing a batch of a Kafka work stream failed; trying again", "topic", topic, "records", len(recs), "err", err)
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(time.Second):
				}
			}
			// Commit even if ctx ended meanwhile (a server stopping), or
			// another member processes the batch again.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if err := cl.CommitRecords(cctx, recs...); err != nil {
				b.log.Warn("offsets of a processed batch not committed; another server may process it again", "topic", topic, "err", err)
			}
			cancel()
		}
		cl.AllowRebalance()
	}
}
