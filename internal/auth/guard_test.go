package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

// clock is a settable time for a Guard.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// anyone has an account for every email, each with the password "right
// password" hashed with cheap parameters: the guard's tests count
// checks, not their cost.
type anyone map[string]*apogee.User

var cheapHash, _ = hashWith(Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, "right password")

func (a anyone) UserByEmail(_ context.Context, email string) (*apogee.User, error) {
	if u, ok := a[email]; ok {
		return u, nil
	}
	return &apogee.User{ID: email, Email: email, Password: cheapHash}, nil
}

func guardWorld(t *testing.T, cfg GuardConfig) (*Guard, anyone, *clock) {
	t.Helper()
	us := anyone{}
	c := &clock{now: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	cfg.Now = c.Now
	return NewGuard(cfg), us, c
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := apogee.ErrorCode(err); got != code {
		t.Fatalf("%s: %v (code %q), want code %q", what, err, got, code)
	}
}

func TestGuardLocksAPairAfterItsFailures(t *testing.T) {
	g, us, c := guardWorld(t, GuardConfig{})
	ctx := context.Background()
	for i := range DefaultPerPair {
		_, err := g.SignIn(ctx, us, "192.0.2.1:5555", "a@example.com", fmt.Sprint("guess ", i))
		wantCode(t, "wrong password", err, apogee.EUNAUTHORIZED)
	}
	_, err := g.SignIn(ctx, us, "192.0.2.1:6666", "A@example.com ", "right password")
	wantCode(t, "right password while locked", err, apogee.ETOOMANY)
	if d := apogee.RetryAfter(err); d < DefaultGuardWindow-time.Second || d > DefaultGuardWindow {
		t.Errorf("Retry-After %v, want about %v", d, DefaultGuardWindow)
	}
	// Another address may still sign in to the account, and this address
	// to another account.
	if u, err := g.SignIn(ctx, us, "192.0.2.2", "a@example.com", "right password"); err != nil || u.ID != "a@example.com" {
		t.Fatalf("another address: %v, %v", u, err)
	}
	if _, err := g.SignIn(ctx, us, "192.0.2.1", "b@example.com", "right password"); err != nil {
		t.Fatalf("another account: %v", err)
	}
	c.add(DefaultGuardWindow)
	if _, err := g.SignIn(ctx, us, "192.0.2.1", "a@example.com", "right password"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	// A right sign-in forgets the pair's failures.
	for range DefaultPerPair - 1 {
		g.SignIn(ctx, us, "192.0.2.1", "a@example.com", "wrong")
	}
	if _, err := g.SignIn(ctx, us, "192.0.2.1", "a@example.com", "right password"); err != nil {
		t.Fatal(err)
	}
	if _, err := g.SignIn(ctx, us, "192.0.2.1", "a@example.com", "wrong"); apogee.ErrorCode(err) != apogee.EUNAUTHORIZED {
		t.Fatalf("after a right sign-in the count starts again, got %v", err)
	}
}

func TestGuardLimits(t *testing.T) {
	tests := []struct {
		name string
		cfg  GuardConfig
		// try returns the address and account of attempt i.
		try      func(i int) (addr, account string)
		max      int
		blocked  [2]string // an attempt refused once the limit is reached
		allowed  [2]string // and one still allowed
		unlocked time.Duration
	}{
		{
			name:    "per address, many accounts",
			cfg:     GuardConfig{PerPair: 100, PerAddress: 20, PerAccount: 100},
			try:     func(i int) (string, string) { return "198.51.100.7", fmt.Sprintf("u%d@example.com", i) },
			max:     20,
			blocked: [2]string{"198.51.100.7:1", "a@example.com"},
			allowed: [2]string{"198.51.100.8", "a@example.com"},
		},
		{
			name:    "per account, many addresses",
			cfg:     GuardConfig{PerPair: 100, PerAddress: 100, PerAccount: 20},
			try:     func(i int) (string, string) { return fmt.Sprintf("203.0.113.%d", i), "a@example.com" },
			max:     20,
			blocked: [2]string{"203.0.113.200", "a@example.com"},
			allowed: [2]string{"203.0.113.200", "b@example.com"},
		},
		{
			name:    "an IPv6 /64 is one address",
			cfg:     GuardConfig{PerPair: 100, PerAddress: 20, PerAccount: 100},
			try:     func(i int) (string, string) { return fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1), fmt.Sprintf("u%d", i) },
			max:     20,
			blocked: [2]string{"2001:db8:1:2:ffff::1", "a@example.com"},
			allowed: [2]string{"2001:db8:1:3::1", "a@example.com"},
		},
		{
			name:    "an IPv4-mapped address is its IPv4 address",
			cfg:     GuardConfig{PerPair: 5},
			try:     func(i int) (string, string) { return "[::ffff:192.0.2.9]:80", "a@example.com" },
			max:     5,
			blocked: [2]string{"192.0.2.9", "a@example.com"},
			allowed: [2]string{"192.0.2.10", "a@example.com"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, us, c := guardWorld(t, tt.cfg)
			ctx := context.Background()
			for i := range tt.max {
				addr, acct := tt.try(i)
				_, err := g.SignIn(ctx, us, addr, acct, "wrong")
				wantCode(t, fmt.Sprint("attempt ", i), err, apogee.EUNAUTHORIZED)
			}
			_, err := g.SignIn(ctx, us, tt.blocked[0], tt.blocked[1], "right password")
			wantCode(t, "past the limit", err, apogee.ETOOMANY)
			if _, err := g.SignIn(ctx, us, tt.allowed[0], tt.allowed[1], "right password"); err != nil {
				t.Fatalf("%v should not be held back: %v", tt.allowed, err)
			}
			c.add(DefaultGuardWindow)
			if _, err := g.SignIn(ctx, us, tt.blocked[0], tt.blocked[1], "right password"); err != nil {
				t.Fatalf("after the window: %v", err)
			}
		})
	}
}

// countingUsers counts the lookups, one per password check.
type countingUsers struct {
	anyone
	n atomic.Int64
}

func (c *countingUsers) UserByEmail(ctx context.Context, email string) (*apogee.User, error) {
	c.n.Add(1)
	return c.anyone.UserByEmail(ctx, email)
}

func TestGuardParallelAttemptsStayWithinTheLimit(t *testing.T) {
	g, us, _ := guardWorld(t, GuardConfig{Hashes: 2, Wait: time.Minute})
	cu := &countingUsers{anyone: us}
	var wg sync.WaitGroup
	var refused atomic.Int64
	for i := range 64 {
		wg.Go(func() {
			_, err := g.SignIn(context.Background(), cu, "192.0.2.1", "a@example.com", fmt.Sprint("guess ", i))
			if apogee.ErrorCode(err) == apogee.ETOOMANY {
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	if n := cu.n.Load(); n != DefaultPerPair {
		t.Errorf("%d passwords checked of 64 parallel guesses, want %d (the pair's limit)", n, DefaultPerPair)
	}
	if refused.Load() != 64-DefaultPerPair {
		t.Errorf("%d refused, want %d", refused.Load(), 64-DefaultPerPair)
	}
}

// blockingUsers holds every password check until release is closed.
type blockingUsers struct {
	anyone
	entered chan struct{}
	release chan struct{}
}

func (b *blockingUsers) UserByEmail(ctx context.Context, email string) (*apogee.User, error) {
	b.entered <- struct{}{}
	<-b.release
	return b.anyone.UserByEmail(ctx, email)
}

func TestGuardBoundsChecksAtOnce(t *testing.T) {
	g, us, _ := guardWorld(t, GuardConfig{Hashes: 2, Wait: 50 * time.Millisecond})
	bu := &blockingUsers{anyone: us, entered: make(chan struct{}, 2), release: make(chan struct{})}
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			g.SignIn(context.Background(), bu, fmt.Sprintf("192.0.2.%d", i), "a@example.com", "wrong")
		})
	}
	<-bu.entered
	<-bu.entered
	// Both slots are taken: a third waits, then is refused unchecked.
	_, err := g.SignIn(context.Background(), bu, "192.0.2.99", "b@example.com", "right password")
	wantCode(t, "third check at once", err, apogee.ETOOMANY)
	if d := apogee.RetryAfter(err); d != time.Second {
		t.Errorf("Retry-After %v, want 1s", d)
	}
	// A caller that gives up stops waiting.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.SignIn(ctx, bu, "192.0.2.98", "b@example.com", "right password"); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled wait: %v", err)
	}
	close(bu.release)
	wg.Wait()
	// The refused attempts were not counted as failures: b signs in.
	bu.entered = make(chan struct{}, 1)
	if _, err := g.SignIn(context.Background(), bu, "192.0.2.99", "b@example.com", "right password"); err != nil {
		t.Fatal(err)
	}
}

func TestGuardDisabledIsNotAFailure(t *testing.T) {
	g, us, _ := guardWorld(t, GuardConfig{PerPair: 2})
	now := time.Now()
	us["a@example.com"] = &apogee.User{ID: "a", Email: "a@example.com", Password: cheapHash, DisabledAt: &now}
	for range 5 {
		_, err := g.SignIn(context.Background(), us, "192.0.2.1", "a@example.com", "right password")
		if !errors.Is(err, ErrDisabled) {
			t.Fatalf("disabled account: %v, want ErrDisabled", err)
		}
	}
}
