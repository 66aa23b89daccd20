package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/apogee-dev/apogee"
)

// DefaultSubject is the subject prefix on NATS: an event of type
// alias.changed is published on apogee.events.alias.changed, live lines of
// log d1 on apogee.logs.d1.
const DefaultSubject = "apogee"

// NATS is an apogee.EventBus spanning processes: events are JSON messages
// on NATS subjects under a prefix, so every process connected to the
// same NATS with the same prefix sees every event. With JetStream on the
// NATS server the events are also kept in a stream, read through an
// ordered consumer, so a process that lost its connection gets the
// events it missed once it is back; without, core NATS delivers at most
// once, which is the bus contract, and subscribers rebuild from the store.
//
// Events published in this process are handed to its own subscribers
// directly, as Local does, so a process sees its own events at once and
// even while NATS is unreachable; events from other processes arrive with
// Remote set.
type NATS struct {
	local      *Local
	nc         *nats.Conn
	sub        *nats.Subscription       // core NATS, without JetStream
	consume    jetstream.ConsumeContext // JetStream's ordered consumer
	mu         sync.Mutex
	logConsume jetstream.ConsumeContext // the live logs' ordered consumer (natslogs.go)
	replays    atomic.Bool              // events come through JetStream
	subject    string
	origin     string
	log        *slog.Logger

	closeOnce sync.Once
	closed    chan struct{} // closed by nats.go once the connection is closed
}

var _ apogee.EventBus = (*NATS)(nil)

// DialNATS connects to the NATS server at rawURL and subscribes to the
// events under the subject prefix given by its "subject" query parameter
// (DefaultSubject if none). It fails if NATS cannot be reached now, or
// refuses the credentials; a connection lost later is retried forever
// and logged.
//
// rawURL is nats://host:4222 (tls:// for TLS; several servers separated
// by commas) with the credentials NATS asks for:
//
//	nats://user:password@host:4222       user and password
//	nats://TOKEN@host:4222               a token
//	nats://host:4222?creds=/etc/apogee/nats.creds   a JWT and nkey seed (creds file)
//	nats://host:4222?nkey=/etc/apogee/nats.nk       an nkey seed file
//
// Events steer every server's routing and builds, so a NATS anyone can
// publish to is a way in: a connection to a NATS that asks for no
// credentials is logged as a warning.
func DialNATS(ctx context.Context, rawURL string, log *slog.Logger) (*NATS, error) {
	if log == nil {
		log = slog.Default()
	}
	servers, subject, auth, err := parseNATSURL(rawURL)
	if err != nil {
		return nil, err
	}
	b := &NATS{
		local:   NewLocal(log),
		subject: subject,
		origin:  apogee.NewID(),
		log:     log,
		closed:  make(chan struct{}),
	}
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	b.nc, err = nats.Connect(servers, append(auth,
		nats.Name("apogee"),
		nats.Timeout(timeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				missed := "events published meanwhile by other servers are missed"
				if b.replays.Load() {
					missed = "JetStream replays the events published meanwhile by other servers"
				}
				log.Warn("lost the connection to NATS; reconnecting ("+missed+")", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("reconnected to NATS; subscribers reload from the store", "server", nc.ConnectedUrlRedacted())
			_ = b.local.Publish(context.Background(), apogee.Event{Type: apogee.EventResync})
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			// A slow consumer lost messages, and any other fault may have:
			// subscribers catch up from the store.
			log.Error("NATS; subscribers reload from the store", "err", err)
			_ = b.local.Publish(context.Background(), apogee.Event{Type: apogee.EventResync})
		}),
		nats.ClosedHandler(func(*nats.Conn) { b.closeOnce.Do(func() { close(b.closed) }) }),
	)...)
	if errors.Is(err, nats.ErrAuthorization) {
		return nil, apogee.Errorf(apogee.EINVALID, "NATS refused the credentials of --events (%v); give its user and password, token, ?creds=FILE or ?nkey=FILE", err)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	if !b.nc.AuthRequired() {
		log.Warn("the NATS server asks for no credentials: anyone who can reach it can publish events to every Apogee server; give NATS users and put them in --events (nats://user:password@host, ?creds=FILE or ?nkey=FILE)",
			"server", b.nc.ConnectedUrlRedacted())
	}
	jsErr := b.consumeStream(ctx, timeout)
	if jsErr == nil {
		return b, nil
	}
	log.Warn("NATS has no JetStream for the events (events other servers publish while this one is disconnected are missed; run nats-server with -js to have them replayed)", "err", jsErr)
	b.sub, err = b.nc.Subscribe(subject+".events.>", b.receive)
	if err == nil {
		// The subscription is registered on the server once the flush
		// returns: events published elsewhere from now on reach us.
		fctx, cancel := context.WithTimeout(ctx, timeout)
		err = b.nc.FlushWithContext(fctx)
		cancel()
	}
	if err != nil {
		b.nc.Close()
		return nil, fmt.Errorf("subscribe to NATS subject %s.events.>: %w", subject, err)
	}
	return b, nil
}

// StreamMaxAge is how long the events stream keeps an event for a server
// that reconnects; StreamMaxMsgs bounds it too.
const (
	StreamMaxAge  = time.Hour
	StreamMaxMsgs = 100_000
)

// StreamName is the JetStream stream of the events under subject
// prefix subject.
func StreamName(subject string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(subject)) + "_EVENTS"
}

// consumeStream reads the events through JetStream when NATS has it:
// a stream (made if missing) keeps every event for StreamMaxAge, and an
// ordered consumer delivers those published from now on. When the
// connection is lost and comes back, the ordered consumer resumes after
// the last event it delivered, so the events other servers published
// meanwhile are replayed, in order, each once (issue 16: live
// notifications missed during an outage). Publishing stays core NATS:
// the stream captures the subjects.
func (b *NATS) consumeStream(ctx context.Context, timeout time.Duration) error {
	js, err := jetstream.New(b.nc)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stream, err := js.CreateOrUpdateStream(sctx, jetstream.StreamConfig{
		Name:        StreamName(b.subject),
		Description: "Apogee's events, kept for servers that reconnect",
		Subjects:    []string{b.subject + ".events.>"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      StreamMaxAge,
		MaxMsgs:     StreamMaxMsgs,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", StreamName(b.subject), err)
	}
	cons, err := stream.OrderedConsumer(sctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{b.subject + ".events.>"},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return fmt.Errorf("ordered consumer: %w", err)
	}
	b.consume, err = cons.Consume(func(m jetstream.Msg) {
		b.receive(&nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, jetstream.ErrConsumerDeleted) {
			b.log.Debug("JetStream consumer", "err", err)
		}
	}))
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	b.replays.Store(true)
	b.log.Info("events through JetStream: a server that reconnects replays the events it missed", "stream", StreamName(b.subject))
	return nil
}

// parseNATSURL splits the query parameters nats.go does not know off
// rawURL: the subject prefix and the credential files, which it turns
// into connection options. User, password and token stay in the URL,
// where nats.go reads them.
func parseNATSURL(rawURL string) (servers, subject string, auth []nats.Option, err error) {
	subject = DefaultSubject
	servers, query, _ := strings.Cut(rawURL, "?")
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return "", "", nil, apogee.Errorf(apogee.EINVALID, "events URL query: %v", err)
		}
		for k := range q {
			if k != "subject" && k != "creds" && k != "nkey" {
				return "", "", nil, apogee.Errorf(apogee.EINVALID, "events URL: unknown parameter %q; the known ones are subject=<prefix>, creds=<file> and nkey=<seed file>", k)
			}
		}
		if s := q.Get("subject"); s != "" {
			subject = s
		}
		if f := q.Get("creds"); f != "" {
			if _, err := os.Stat(f); err != nil {
				return "", "", nil, apogee.Errorf(apogee.EINVALID, "events URL: creds file %s cannot be read: %v", f, err)
			}
			auth = append(auth, nats.UserCredentials(f))
		}
		if f := q.Get("nkey"); f != "" {
			opt, err := nats.NkeyOptionFromSeed(f)
			if err != nil {
				return "", "", nil, apogee.Errorf(apogee.EINVALID, "events URL: nkey seed file %s: %v", f, err)
			}
			auth = append(auth, opt)
		}
	}
	if strings.ContainsAny(subject, " \t*>") || strings.HasPrefix(subject, ".") || strings.HasSuffix(subject, ".") {
		return "", "", nil, apogee.Errorf(apogee.EINVALID, "events URL: subject %q is not a NATS subject prefix like apogee", subject)
	}
	for _, s := range strings.Split(servers, ",") {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls") {
			return "", "", nil, apogee.Errorf(apogee.EINVALID, "events URL: %q is not nats://host:port (several separated by commas)", redactURL(s))
		}
	}
	return servers, subject, auth, nil
}

// receive hands a message from NATS to this process's subscribers.
func (b *NATS) receive(m *nats.Msg) {
	if m.Header.Get(originHeader) == b.origin {
		return // delivered in process by Publish
	}
	e, err := decodeRemoteEvent(m.Data)
	if err != nil {
		b.log.Warn("ignored a malformed event from NATS", "subject", m.Subject, "err", err)
		return
	}
	_ = b.local.Publish(context.Background(), e)
}

// Publish hands e to this process's subscribers and to NATS. While the
// connection is being re-established, nats.go buffers the message.
func (b *NATS) Publish(ctx context.Context, e apogee.Event) error {
	data, err := encodeEvent(e)
	if err != nil {
		return err
	}
	e.Remote = false
	_ = b.local.Publish(ctx, e)
	m := &nats.Msg{Subject: b.subject + ".events." + e.Type, Data: data, Header: nats.Header{}}
	m.Header.Set(originHeader, b.origin)
	if err := b.nc.PublishMsg(m); err != nil {
		return fmt.Errorf("events: publish %s to NATS: %w", e.Type, err)
	}
	return nil
}

// Subscribe returns a channel of the events published from now on, in this
// process or another, until ctx ends or the bus is closed.
func (b *NATS) Subscribe(ctx context.Context) (<-chan apogee.Event, error) {
	return b.local.Subscribe(ctx)
}

// Close drains the connection (messages already received are delivered,
// ones already published are sent), then ends every subscription.
func (b *NATS) Close() error {
	if b.consume != nil {
		b.consume.Stop()
	}
	b.mu.Lock()
	if b.logConsume != nil {
		b.logConsume.Stop()
	}
	b.mu.Unlock()
	err := b.nc.Drain()
	if err == nil || errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionDraining) {
		err = nil
		select {
		case <-b.closed:
		case <-time.After(10 * time.Second):
			b.nc.Close()
			err = errors.New("events: NATS did not drain within 10s")
		}
	}
	b.local.Close()
	return err
}

// redactURL hides the password of a URL for error messages.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(malformed URL)"
}
