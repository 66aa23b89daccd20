package events

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/apogee-dev/apogee"
	"github.com/apogee-dev/apogee/internal/logs"
)

// DefaultTopic is the topic prefix on Kafka: events go to apogee.events,
// live log lines to apogee.logs (keyed by deployment).
const DefaultTopic = "apogee"

// Kafka is an apogee.EventBus spanning processes over Kafka. Every process
// reads every partition of <prefix>.events itself, from the end as it was
// when it started, with no consumer group: every server must see every
// event (route changes, deployment events), so none is shared out.
// Producing is idempotent (franz-go's default). Delivery to subscribers is
// at most once, the bus contract: subscribers rebuild from the store.
//
// As with NATS, events published in this process reach its own
// subscribers directly; events from other processes arrive with Remote set.
type Kafka struct {
	local  *Local
	cl     *kgo.Client
	events string // topic names
	logs   string
	prefix string
	opts   []kgo.Opt // how to reach the brokers, for the clients of Process
	origin string
	log    *slog.Logger
	hub    atomic.Pointer[logs.Hub] // set by RelayLogs

	lost    atomic.Bool // a broker could not be reached since the last resync
	closing atomic.Bool
	stop    context.CancelFunc
	done    chan struct{} // closed when the poll loop returns
	once    sync.Once
}

var _ apogee.EventBus = (*Kafka)(nil)

var topicPrefix = regexp.MustCompile(`^[a-zA-Z0-9_-][a-zA-Z0-9._-]{0,200}$`)

// DialKafka connects to the Kafka brokers of rawURL, creates the topics
// <prefix>.events and <prefix>.logs if they do not exist (one partition,
// so that events keep their order; the broker's default replication) and
// starts reading them from their end. It fails if no broker answers now or
// the credentials are refused; a broker lost later is retried forever and
// logged.
//
//	kafka://host:9092[,host2:9092][?topic=prefix]
//	kafka://user:password@host:9092                 SASL/SCRAM-SHA-512
//	kafka://user:password@host:9092?sasl=plain      SASL/PLAIN (or scram-sha-256)
//	kafka+tls://user:password@host:9093             the same over TLS (system roots)
//
// Events steer every server's routing and builds, so a Kafka anyone can
// write to is a way in: a URL without credentials is logged as a warning.
func DialKafka(ctx context.Context, rawURL string, log *slog.Logger) (*Kafka, error) {
	return dialKafkaOpts(ctx, rawURL, log)
}

// dialKafkaOpts is DialKafka with extra client options (tests give a
// dialer whose connections they can cut).
func dialKafkaOpts(ctx context.Context, rawURL string, log *slog.Logger, extra ...kgo.Opt) (*Kafka, error) {
	if log == nil {
		log = slog.Default()
	}
	brokers, prefix, opts, authed, err := parseKafkaURL(rawURL)
	if err != nil {
		return nil, err
	}
	b := &Kafka{
		local:  NewLocal(log),
		events: prefix + ".events",
		logs:   prefix + ".logs",
		prefix: prefix,
		origin: apogee.NewID(),
		log:    log,
		done:   make(chan struct{}),
	}
	opts = append(opts, kgo.SeedBrokers(brokers...), kgo.ClientID("apogee"))
	opts = append(opts, extra...)
	b.opts = opts
	// Events are few and steer routing: send each at once rather than
	// lingering 10 ms for a batch (franz-go's default).
	b.cl, err = kgo.NewClient(append(slices.Clip(opts), kgo.WithHooks(connectHook{b}), kgo.ProducerLinger(0))...)
	if err != nil {
		return nil, apogee.Errorf(apogee.EINVALID, "events URL %q: %v", redactURL(rawURL), err)
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start, err := b.prepare(dctx)
	if err != nil {
		b.cl.Close()
		var ke *kerr.Error
		if errors.As(err, &ke) && (ke == kerr.SaslAuthenticationFailed || ke == kerr.IllegalSaslState || ke == kerr.UnsupportedSaslMechanism) {
			return nil, apogee.Errorf(apogee.EINVALID, "Kafka refused the credentials of --events (%v); give kafka://user:password@host and ?sasl=plain, scram-sha-256 or scram-sha-512", err)
		}
		return nil, fmt.Errorf("connect to Kafka at %s: %w", strings.Join(brokers, ","), err)
	}
	if !authed {
		log.Warn("--events gives Kafka no credentials: anyone who can reach it can publish events to every Apogee server; give Kafka SASL users and put them in --events (kafka://user:password@host)",
			"brokers", strings.Join(brokers, ","))
	}
	b.cl.AddConsumePartitions(start)
	pctx, stop := context.WithCancel(context.Background())
	b.stop = stop
	go b.poll(pctx)
	return b, nil
}

// prepare creates the topics if missing and returns where reading them
// starts: the end of every partition now.
func (b *Kafka) prepare(ctx context.Context) (map[string]map[int32]kgo.Offset, error) {
	adm := kadm.NewClient(b.cl)
	created, err := adm.CreateTopics(ctx, 1, -1, nil, b.events, b.logs)
	if err != nil {
		return nil, err
	}
	for _, t := range created.Sorted() {
		if t.Err != nil && !errors.Is(t.Err, kerr.TopicAlreadyExists) {
			return nil, fmt.Errorf("create topic %s: %w", t.Topic, t.Err)
		}
	}
	ends, err := adm.ListEndOffsets(ctx, b.events, b.logs)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("read the end of %s and %s: %w", b.events, b.logs, err)
	}
	start := map[string]map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if start[o.Topic] == nil {
			start[o.Topic] = map[int32]kgo.Offset{}
		}
		start[o.Topic][o.Partition] = kgo.NewOffset().At(o.Offset)
	})
	return start, nil
}

// parseKafkaURL reads the brokers, the topic prefix and the client
// options of rawURL; authed says whether it carries credentials.
func parseKafkaURL(rawURL string) (brokers []string, prefix string, opts []kgo.Opt, authed bool, err error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "kafka" && u.Scheme != "kafka+tls") || (u.Path != "" && u.Path != "/") {
		return nil, "", nil, false, apogee.Errorf(apogee.EINVALID, "events URL: %q is not kafka://host:port (several separated by commas)", redactURL(rawURL))
	}
	for _, h := range strings.Split(u.Host, ",") {
		if _, port, err := net.SplitHostPort(h); err != nil || port == "" {
			return nil, "", nil, false, apogee.Errorf(apogee.EINVALID, "events URL: broker %q is not host:port", h)
		}
		brokers = append(brokers, h)
	}
	q := u.Query()
	for k := range q {
		if k != "topic" && k != "sasl" {
			return nil, "", nil, false, apogee.Errorf(apogee.EINVALID, "events URL: unknown parameter %q; the known ones are topic=<prefix> and sasl=plain|scram-sha-256|scram-sha-512", k)
		}
	}
	prefix = DefaultTopic
	if t := q.Get("topic"); t != "" {
		prefix = t
	}
	if !topicPrefix.MatchString(prefix) || strings.HasSuffix(prefix, ".") {
		return nil, "", nil, false, apogee.Errorf(apogee.EINVALID, "events URL: topic %q is not a Kafka topic prefix like apogee (letters, digits, . _ -)", prefix)
	}
	if u.Scheme == "kafka+tls" {
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	mech := q.Get("sasl")
	if u.User == nil {
		if mech != "" {
			return nil, "", nil, false, apogee.Errorf(apogee.EINVALID, "events URL: sasl=%s needs kafka://user:password@host", mech)
		}
		return brokers, prefix, opts, false, nil
	}
	user := u.User.Username()
	pass, _ := u.User.Password()
	var m sasl.Mechanism
	switch mech {
	case "", "scram-sha-512":
		m = scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	case "scram-sha-256":
		m = scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	case "plain":
		m = plain.Auth{User: user, Pass: pass}.AsMechanism()
	default:
		return nil, "", nil, false, apogee.Errorf(apogee.EINVALID, "events URL: sasl=%q; use plain, scram-sha-256 or scram-sha-512", mech)
	}
	return brokers, prefix, append(opts, kgo.SASL(m)), true, nil
}

// connectHook notices a broker that cannot be reached and its return:
// events may have been missed in between, so subscribers resync.
type connectHook struct{ b *Kafka }

var _ kgo.HookBrokerConnect = connectHook{}

func (h connectHook) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	b := h.b
	if b.closing.Load() {
		return
	}
	if err != nil {
		if !b.lost.Swap(true) {
			b.log.Warn("lost the connection to Kafka; reconnecting (events published meanwhile by other servers may be missed)", "broker", net.JoinHostPort(meta.Host, fmt.Sprint(meta.Port)), "err", err)
		}
		return
	}
	if b.lost.Swap(false) {
		b.log.Info("reconnected to Kafka; subscribers reload from the store", "broker", net.JoinHostPort(meta.Host, fmt.Sprint(meta.Port)))
		_ = b.local.Publish(context.Background(), apogee.Event{Type: apogee.EventResync})
	}
}

// poll hands records from Kafka to this process's subscribers and hub.
func (b *Kafka) poll(ctx context.Context) {
	defer close(b.done)
	for {
		fs := b.cl.PollFetches(ctx)
		if fs.IsClientClosed() || ctx.Err() != nil {
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			// Records may be lost (data loss, a partition gone): subscribers
			// catch up from the store.
			b.log.Error("Kafka; subscribers reload from the store", "topic", topic, "partition", p, "err", err)
			_ = b.local.Publish(context.Background(), apogee.Event{Type: apogee.EventResync})
		})
		fs.EachRecord(b.receive)
	}
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func (b *Kafka) receive(r *kgo.Record) {
	if header(r, originHeader) == b.origin {
		return // delivered in process by Publish
	}
	switch r.Topic {
	case b.events:
		e, err := decodeRemoteEvent(r.Value)
		if err != nil {
			b.log.Warn("ignored a malformed event from Kafka", "topic", r.Topic, "offset", r.Offset, "err", err)
			return
		}
		_ = b.local.Publish(context.Background(), e)
	case b.logs:
		if hub := b.hub.Load(); hub != nil {
			relayFromPeer(hub, string(r.Key), r.Value, header(r, endHeader) != "", b.log)
		}
	}
}

// Publish hands e to this process's subscribers and to Kafka. The record
// is sent in the background; one that cannot be sent is logged.
func (b *Kafka) Publish(ctx context.Context, e apogee.Event) error {
	data, err := encodeEvent(e)
	if err != nil {
		return err
	}
	if b.closing.Load() {
		return errors.New("events: publish to Kafka: the bus is closed")
	}
	e.Remote = false
	_ = b.local.Publish(ctx, e)
	b.produce(ctx, &kgo.Record{Topic: b.events, Key: []byte(e.Type), Value: data})
	return nil
}

func (b *Kafka) produce(ctx context.Context, r *kgo.Record, extra ...kgo.RecordHeader) {
	r.Headers = append([]kgo.RecordHeader{{Key: originHeader, Value: []byte(b.origin)}}, extra...)
	b.cl.Produce(context.WithoutCancel(ctx), r, func(r *kgo.Record, err error) {
		if err != nil {
			b.log.Warn("a message was not sent to Kafka; other servers miss it", "topic", r.Topic, "err", err)
		}
	})
}

// Subscribe returns a channel of the events published from now on, in this
// process or another, until ctx ends or the bus is closed.
func (b *Kafka) Subscribe(ctx context.Context) (<-chan apogee.Event, error) {
	return b.local.Subscribe(ctx)
}

// Close sends the records already published (waiting up to 10s), stops
// reading and ends every subscription.
func (b *Kafka) Close() error {
	var err error
	b.once.Do(func() {
		b.closing.Store(true)
		fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if ferr := b.cl.Flush(fctx); ferr != nil {
			err = fmt.Errorf("events: Kafka did not take the last events within 10s: %w", ferr)
		}
		cancel()
		b.stop()
		b.cl.Close()
		<-b.done
		b.local.Close()
	})
	return err
}
