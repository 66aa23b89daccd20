package sandbox

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// The egress policy is tested with real listeners on every forbidden
// kind of address. So that no packet leaves the machine, the test runs
// this binary again in a network namespace of its own (the "host"),
// where the addresses sit on its loopback interface; slirp4netns, started
// from there, reaches them as it would reach the machine's own or its
// network's. Under "none" (the host's network, no protection) every
// listener answers, so the test can fail.
var egressTargets = []struct {
	name, addr string
	allowed    bool // by WithAllowNet in the helper
}{
	{"host loopback", "127.0.0.1", false},
	{"host loopback through the NAT's gateway", "10.0.2.2", false},
	{"private 10/8", "10.99.0.1", false},
	{"private 172.16/12", "172.16.99.1", false},
	{"private 192.168/16", "192.168.99.1", false},
	{"shared 100.64/10", "100.64.99.1", false},
	{"cloud metadata 169.254.169.254", "169.254.169.254", false},
	{"the machine's own public address", "198.51.100.1", false},
	{"a range the admin allowed", "10.98.0.1", true},
}

const egressEnv = "APOGEE_TEST_EGRESS_HELPER"
const egressPort = 8077

// egressHelper runs in the "host" namespace: it puts the addresses on
// its loopback, listens on each, and reports what a program in kind's
// sandbox reached.
func egressHelper(kind string) int {
	fail := func(err error) int { fmt.Println("error", err); return 1 }
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fail(fmt.Errorf("ip: %v %s", err, out))
	}
	var wg sync.WaitGroup
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
		wg.Wait()
	}()
	for _, tg := range egressTargets {
		if tg.addr == "10.0.2.2" {
			continue // slirp's, not the host's
		}
		if tg.addr != "127.0.0.1" {
			if out, err := exec.Command("ip", "addr", "add", tg.addr+"/32", "dev", "lo").CombinedOutput(); err != nil {
				return fail(fmt.Errorf("ip addr add %s: %v %s", tg.addr, err, out))
			}
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", tg.addr, egressPort))
		if err != nil {
			return fail(err)
		}
		lns = append(lns, ln)
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write([]byte("here\n"))
				c.Close()
			}
		})
	}
	sb, err := New(kind, WithCgroupParent("apogee-test/egress-"+kind), WithAllowNet(netip.MustParsePrefix("10.98.0.0/16")))
	if err != nil {
		return fail(err)
	}
	var addrs []string
	for _, tg := range egressTargets {
		addrs = append(addrs, tg.addr)
	}
	script := fmt.Sprintf(`
const net = require("net"), addrs = %q.split(" "), res = {};
let left = addrs.length;
const done = (a, v) => { if (a in res) return; res[a] = v; if (!--left) { console.log("RESULT " + JSON.stringify(res)); process.exit(0) } };
for (const a of addrs) {
	const c = net.connect({port: %d, host: a, timeout: 3000});
	c.on("data", d => { done(a, "reached"); c.destroy() });
	c.on("error", e => done(a, e.code));
	c.on("timeout", () => { done(a, "timeout"); c.destroy() });
}`, strings.Join(addrs, " "), egressPort)
	dir, _ := os.MkdirTemp("", "apogee-egress-")
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	var out, errOut output
	res, err := sb.Run(bgContext(), Spec{
		Argv: []string{"node", "-e", script}, Dir: dir, Env: baseEnv,
		Network: true, Stdout: &out, Stderr: &errOut, Limits: Limits{Wall: 30 * time.Second},
	})
	if err != nil {
		return fail(err)
	}
	fmt.Printf("%s\nexit %+v\nstderr %q\n", out.String(), res, errOut.String())
	return 0
}

func testEgress(t *testing.T, kind string, isolating bool) {
	cmd := exec.Command("unshare", "--net", os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), egressEnv+"="+kind)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	var got map[string]string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if j, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok {
			if err := json.Unmarshal([]byte(j), &got); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got == nil {
		t.Fatalf("no result from the sandbox:\n%s", out)
	}
	for _, tg := range egressTargets {
		t.Run(tg.name, func(t *testing.T) {
			r := got[tg.addr]
			switch {
			case !isolating && tg.addr != "10.0.2.2" && r != "reached":
				t.Errorf("unprotected, %s (%s) did not answer: %s", tg.name, tg.addr, r)
			case isolating && tg.allowed && r != "reached":
				t.Errorf("%s (%s) is allowed but did not answer: %s", tg.name, tg.addr, r)
			case isolating && !tg.allowed && r == "reached":
				t.Errorf("%s (%s) answered a sandboxed program", tg.name, tg.addr)
			case isolating && !tg.allowed && r != "ECONNREFUSED" && r != "ECONNRESET":
				t.Errorf("%s (%s): %s, want refused at once", tg.name, tg.addr, r)
			}
		})
	}
}

func TestEgressBwrap(t *testing.T) {
	t.Parallel()
	requireBwrap(t)
	testEgress(t, "bwrap", true)
}

func TestEgressRunsc(t *testing.T) {
	t.Parallel()
	requireRunsc(t)
	testEgress(t, "runsc", true)
}

func TestEgressNone(t *testing.T) {
	t.Parallel()
	testEgress(t, "none", false)
}

func TestRuleset(t *testing.T) {
	rs := ruleset([]netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}, []netip.Addr{netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("2001:db8::9")})
	for _, want := range []string{
		"elements = { 10.1.0.0/16 }",
		"203.0.113.9/32",
		"2001:db8::9/128",
		"169.254.0.0/16",
		"fc00::/7",
		`oifname "lo" accept`,
		"ip daddr @allow4 accept",
	} {
		if !strings.Contains(rs, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, rs)
		}
	}
	// Allowed before denied.
	if strings.Index(rs, "@allow4 accept") > strings.Index(rs, "@deny4") {
		t.Errorf("deny comes first:\n%s", rs)
	}
}

func TestParseAllowNet(t *testing.T) {
	got, err := ParseAllowNet([]string{"10.1.2.3/16", "192.168.1.5", " "})
	if err != nil || len(got) != 2 || got[0].String() != "10.1.0.0/16" || got[1].String() != "192.168.1.5/32" {
		t.Errorf("%v %v", got, err)
	}
	for _, bad := range []string{"example.com", "10.0.0.0/33", "10.0.0"} {
		if _, err := ParseAllowNet([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
