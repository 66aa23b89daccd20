package auth

import (
	"context"
	"errors"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/apogee-dev/apogee"
)

// GuardConfig sets a Guard's limits. Zero fields take the defaults.
type GuardConfig struct {
	// Window is how long a failed sign-in counts (default 15 min).
	Window time.Duration
	// PerPair, PerAddress and PerAccount are the failures allowed inside
	// the window for one account from one address (default 10), from one
	// address to any account (default 100) and to one account from any
	// address (default 50). Past any of them, sign-ins are refused
	// without checking the password until the oldest failure ages out.
	PerPair, PerAddress, PerAccount int
	// Hashes is how many password checks (argon2id: 19 MiB and tens of
	// milliseconds of a core each) run at once (default half the CPUs,
	// at least 1, at most 4).
	Hashes int
	// Wait is how long a sign-in waits for a free check before it is
	// refused with ETOOMANY (default 2 s).
	Wait time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Defaults of GuardConfig.
const (
	DefaultGuardWindow = 15 * time.Minute
	DefaultPerPair     = 10
	DefaultPerAddress  = 100
	DefaultPerAccount  = 50
	DefaultGuardWait   = 2 * time.Second
)

// maxGuardKeys bounds each of a Guard's counters' memory. Past it, keys
// whose failures all aged out are dropped; if none did, a random key is.
const maxGuardKeys = 100_000

// Guard is the one limiter of password sign-ins, whichever way they come
// (the API, the dashboard, git over HTTP): it counts failures per
// account and address, per address and per account in a sliding window,
// and bounds the password checks that run at once, so that an attack
// costs neither memory nor the CPU that sites are served with. Counts are
// in memory: a restart forgets them, and each process of a scaled-out
// platform counts its own. Safe for concurrent use.
type Guard struct {
	cfg   GuardConfig
	slots chan struct{}

	mu       sync.Mutex
	pairs    counter
	addrs    counter
	accounts counter
}

// NewGuard returns a Guard with cfg's limits.
func NewGuard(cfg GuardConfig) *Guard {
	if cfg.Window <= 0 {
		cfg.Window = DefaultGuardWindow
	}
	if cfg.PerPair <= 0 {
		cfg.PerPair = DefaultPerPair
	}
	if cfg.PerAddress <= 0 {
		cfg.PerAddress = DefaultPerAddress
	}
	if cfg.PerAccount <= 0 {
		cfg.PerAccount = DefaultPerAccount
	}
	if cfg.Hashes <= 0 {
		cfg.Hashes = min(max(runtime.GOMAXPROCS(0)/2, 1), 4)
	}
	if cfg.Wait <= 0 {
		cfg.Wait = DefaultGuardWait
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Guard{
		cfg:      cfg,
		slots:    make(chan struct{}, cfg.Hashes),
		pairs:    counter{max: cfg.PerPair, fails: map[string][]time.Time{}},
		addrs:    counter{max: cfg.PerAddress, fails: map[string][]time.Time{}},
		accounts: counter{max: cfg.PerAccount, fails: map[string][]time.Time{}},
	}
}

// SignIn checks email and password as Login does, from the client at
// addr (an IP address, with or without a port), within the guard's
// limits: ETOOMANY, with the wait in its Data (apogee.RetryAfter), when
// too many sign-ins failed, or when too many are being checked at once.
func (g *Guard) SignIn(ctx context.Context, users Users, addr, email, password string) (*apogee.User, error) {
	account := strings.ToLower(strings.TrimSpace(email))
	attempt, err := g.Begin(addr, account)
	if err != nil {
		return nil, err
	}
	if err := g.acquire(ctx); err != nil {
		attempt.Forget()
		return nil, err
	}
	u, err := Login(ctx, users, email, password)
	<-g.slots
	if errors.Is(err, ErrBadLogin) {
		return nil, err // the attempt stays counted as a failure
	}
	if err == nil {
		attempt.Succeeded()
	} else {
		attempt.Forget() // disabled, or the store failed: not a guess
	}
	return u, err
}

// Attempt is one sign-in under way, counted as a failure until it says
// otherwise: so parallel attempts cannot all pass the limit at once.
type Attempt struct {
	g             *Guard
	pair, addr    string
	account       string
	at            time.Time
	done, success bool
}

// Begin counts an attempt of account from addr, or refuses it with
// ETOOMANY if a limit is reached. The attempt stays a failure unless
// Succeeded or Forget is called. Ways in that check credentials other
// than a password (GitHub's sign-in) use it directly, with an account
// name of their own.
func (g *Guard) Begin(addr, account string) (*Attempt, error) {
	a := &Attempt{g: g, addr: addressKey(addr), account: account, at: g.cfg.Now()}
	a.pair = a.addr + "\x00" + account
	g.mu.Lock()
	defer g.mu.Unlock()
	wait := max(g.pairs.full(a.pair, a.at, g.cfg.Window), g.addrs.full(a.addr, a.at, g.cfg.Window),
		g.accounts.full(account, a.at, g.cfg.Window))
	if wait > 0 {
		return nil, apogee.TooMany(wait, "too many failed sign-ins; try again in %s", roundUp(wait))
	}
	g.pairs.add(a.pair, a.at, g.cfg.Window)
	g.addrs.add(a.addr, a.at, g.cfg.Window)
	g.accounts.add(account, a.at, g.cfg.Window)
	return a, nil
}

// Succeeded ends the attempt as a right sign-in: it no longer counts, and
// the failures of this account from this address are forgotten.
func (a *Attempt) Succeeded() {
	a.g.mu.Lock()
	defer a.g.mu.Unlock()
	if a.done {
		return
	}
	a.done = true
	delete(a.g.pairs.fails, a.pair)
	a.g.addrs.remove(a.addr, a.at)
	a.g.accounts.remove(a.account, a.at)
}

// Forget ends the attempt as neither right nor wrong (the check could not
// run): it no longer counts.
func (a *Attempt) Forget() {
	a.g.mu.Lock()
	defer a.g.mu.Unlock()
	if a.done {
		return
	}
	a.done = true
	a.g.pairs.remove(a.pair, a.at)
	a.g.addrs.remove(a.addr, a.at)
	a.g.accounts.remove(a.account, a.at)
}

// acquire takes one of the password-check slots, waiting at most
// cfg.Wait.
func (g *Guard) acquire(ctx context.Context) error {
	select {
	case g.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(g.cfg.Wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-t.C:
		return apogee.TooMany(time.Second, "the server is checking too many sign-ins at once; try again in a second")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// addressKey is the key of a client address: the IP without its port,
// and for IPv6 its /64, which one client usually holds whole.
func addressKey(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		addr = ap.Addr().String()
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.WithZone("").Prefix(64)
		return p.String()
	}
	return ip.String()
}

func roundUp(d time.Duration) time.Duration {
	if d <= time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(time.Minute)
}

// counter keeps the times of the failures of each key inside the window.
// Guard.mu is held for every call.
type counter struct {
	max   int
	fails map[string][]time.Time
}

// recent trims key's failures to those inside the window.
func (c *counter) recent(key string, now time.Time, window time.Duration) []time.Time {
	ts := c.fails[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= window {
		i++
	}
	if i == len(ts) {
		delete(c.fails, key)
		return nil
	}
	ts = ts[i:]
	c.fails[key] = ts
	return ts
}

// full returns how long until key may try again, or 0 if it may now.
func (c *counter) full(key string, now time.Time, window time.Duration) time.Duration {
	ts := c.recent(key, now, window)
	if len(ts) < c.max {
		return 0
	}
	return ts[len(ts)-c.max].Add(window).Sub(now)
}

func (c *counter) add(key string, now time.Time, window time.Duration) {
	if _, ok := c.fails[key]; !ok && len(c.fails) >= maxGuardKeys {
		for k := range c.fails {
			c.recent(k, now, window)
		}
		for k := range c.fails { // still full: drop one at random
			if len(c.fails) < maxGuardKeys {
				break
			}
			delete(c.fails, k)
		}
	}
	c.fails[key] = append(c.recent(key, now, window), now)
}

// remove takes one failure at exactly at off key's list.
func (c *counter) remove(key string, at time.Time) {
	ts := c.fails[key]
	for i := len(ts) - 1; i >= 0; i-- {
		if ts[i].Equal(at) {
			ts = append(ts[:i:i], ts[i+1:]...)
			break
		}
	}
	if len(ts) == 0 {
		delete(c.fails, key)
		return
	}
	c.fails[key] = ts
}
