package sandbox

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Egress. A program with Spec.Network runs in a network namespace of its
// own (its gate is cloned into it) and reaches the internet through
// slirp4netns, a user-space NAT: slirp4netns makes a tap device in the
// namespace (10.0.2.100, gateway 10.0.2.2, DNS 10.0.2.3) and opens the
// program's connections as sockets of its own on the host. Since those
// sockets come from the host's stack, what the program may reach is
// decided inside its namespace, before it runs and where it cannot undo
// it: nftables rules set by the server (root) in the namespace, while the
// program runs without CAP_NET_ADMIN there. They reject
//
//   - the slirp network itself but its DNS (10.0.2.2 is the host's
//     loopback; slirp4netns also runs with --disable-host-loopback),
//   - every private, shared, link-local (169.254.0.0/16: the cloud
//     metadata address), loopback, multicast and reserved range of IPv4
//     and IPv6 (blockedNets),
//   - every address of the machine itself (read at each start),
//
// except the ranges the admin allows (WithAllowNet). The program's own
// loopback stays its own. slirp4netns was measured against pasta here
// (docs/security.md): 31 ms to a configured interface and 3.3 MiB of
// memory; Debian 12's pasta could not attach to a namespace as root.

// blockedNets are never reachable from a sandbox, unless allowed.
var blockedNets = []string{
	"0.0.0.0/8",          // "this network"
	"10.0.0.0/8",         // private (and slirp's 10.0.2.0/24)
	"100.64.0.0/10",      // shared address space (carrier-grade NAT)
	"127.0.0.0/8",        // loopback
	"169.254.0.0/16",     // link-local: cloud metadata (169.254.169.254)
	"172.16.0.0/12",      // private
	"192.0.0.0/24",       // IETF protocol assignments
	"192.168.0.0/16",     // private
	"198.18.0.0/15",      // benchmarking
	"224.0.0.0/4",        // multicast
	"240.0.0.0/4",        // reserved, broadcast
	"::/127",             // unspecified, loopback
	"::ffff:0:0/96",      // IPv4-mapped
	"64:ff9b::/96",       // NAT64: would reach IPv4 ranges above
	"64:ff9b:1::/48",     // local-use NAT64
	"fc00::/7",           // unique local
	"fe80::/10",          // link-local
	"ff00::/8",           // multicast
	"2001:db8::/32",      // documentation
	"fec0::/10",          // site-local (deprecated)
	"100::/64",           // discard
	"2002::/16",          // 6to4: embeds IPv4 addresses
	"2001::/32",          // Teredo: embeds IPv4 addresses
	"::/96",              // IPv4-compatible (deprecated)
	"fd00:ec2::254/128",  // AWS IPv6 metadata (inside fc00::/7; named)
	"169.254.169.254/32", // metadata (inside 169.254/16; named)
}

// slirpDNS is where slirp4netns answers DNS, forwarding to the host's
// resolver.
const slirpDNS = "10.0.2.3"

// ParseAllowNet parses --sandbox-allow-net values: CIDRs or addresses.
func ParseAllowNet(vals []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range vals {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return nil, fmt.Errorf("sandbox: allowed network %q is not a CIDR (such as 10.1.0.0/16) or an address", v)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// WithAllowNet lets sandboxed programs reach these ranges, which are
// otherwise blocked (a package mirror on the private network, say).
func WithAllowNet(nets ...netip.Prefix) Option {
	return func(c *config) { c.allowNet = append(c.allowNet, nets...) }
}

// ruleset is the nftables ruleset of a sandbox's namespace.
func ruleset(allow []netip.Prefix, own []netip.Addr) string {
	var allow4, allow6, deny4, deny6 []string
	add := func(p netip.Prefix, v4, v6 *[]string) {
		if p.Addr().Is4() {
			*v4 = append(*v4, p.String())
		} else {
			*v6 = append(*v6, p.String())
		}
	}
	for _, p := range allow {
		add(p, &allow4, &allow6)
	}
	for _, s := range blockedNets {
		add(netip.MustParsePrefix(s), &deny4, &deny6)
	}
	for _, a := range own {
		add(netip.PrefixFrom(a, a.BitLen()), &deny4, &deny6)
	}
	set := func(name, typ string, elems []string) string {
		s := "\tset " + name + " {\n\t\ttype " + typ + "; flags interval; auto-merge;\n"
		if len(elems) > 0 {
			s += "\t\telements = { " + strings.Join(elems, ", ") + " }\n"
		}
		return s + "\t}\n"
	}
	var b strings.Builder
	b.WriteString("table inet apogee {\n")
	b.WriteString(set("allow4", "ipv4_addr", allow4))
	b.WriteString(set("allow6", "ipv6_addr", allow6))
	b.WriteString(set("deny4", "ipv4_addr", deny4))
	b.WriteString(set("deny6", "ipv6_addr", deny6))
	b.WriteString(`	chain output {
		type filter hook output priority 0; policy accept;
		oifname "lo" accept
		ip daddr ` + slirpDNS + ` meta l4proto { tcp, udp } th dport 53 accept
		ip daddr @allow4 accept
		ip6 daddr @allow6 accept
		ip daddr @deny4 meta l4proto tcp reject with tcp reset
		ip daddr @deny4 reject with icmpx type admin-prohibited
		ip6 daddr @deny6 meta l4proto tcp reject with tcp reset
		ip6 daddr @deny6 reject with icmpx type admin-prohibited
	}
}
`)
	return b.String()
}

// ownAddrs are the addresses of the machine's interfaces, as the server
// sees them.
func ownAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out, nil
}

// network gives the run's namespace its egress: the firewall first, then
// slirp4netns, which is put in the run's cgroup (so it ends with the run,
// and with KillOrphans for an instance's).
func (p *proc) network() error {
	own, err := ownAddrs()
	if err != nil {
		return fmt.Errorf("sandbox: reading the machine's addresses: %w", err)
	}
	nft := exec.Command(p.r.cfg.nftPath, "-f", "-")
	nft.Env = []string{}
	nft.Stdin = strings.NewReader(ruleset(p.r.cfg.allowNet, own))
	var out bytes.Buffer
	nft.Stdout, nft.Stderr = &out, &out
	if err := startIn(p.netns, p.r.hostNetns, nft); err != nil {
		return fmt.Errorf("sandbox: firewall: %w", err)
	}
	if err := nft.Wait(); err != nil {
		return fmt.Errorf("sandbox: firewall: nft: %w: %s", err, strings.TrimSpace(out.String()))
	}

	readyR, readyW, err := pipe()
	if err != nil {
		return err
	}
	defer readyR.Close()
	var errOut bytes.Buffer
	slirp := exec.Command(p.r.cfg.slirpPath,
		"--configure", "--mtu=65520", "--disable-host-loopback",
		"--enable-sandbox", "--enable-seccomp", "--ready-fd=3",
		strconv.Itoa(p.cmd.Process.Pid), "tap0")
	slirp.Env = []string{}
	slirp.ExtraFiles = []*os.File{readyW}
	slirp.Stdout, slirp.Stderr = io.Discard, &capped{w: &errOut, n: 4096}
	slirp.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if !p.l.detached {
		slirp.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	err = slirp.Start()
	readyW.Close()
	if err != nil {
		return fmt.Errorf("sandbox: starting slirp4netns: %w", err)
	}
	p.helpers = append(p.helpers, slirp.Process)
	exited := make(chan struct{})
	p.wg.Go(func() {
		slirp.Wait()
		close(exited)
	})
	if p.cg != nil {
		if err := p.cg.add(slirp.Process.Pid); err != nil {
			return err
		}
	}
	readyR.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	if _, err := readyR.Read(b[:]); err != nil {
		slirp.Process.Kill()
		<-exited
		return fmt.Errorf("sandbox: slirp4netns did not set up the network (%v): %s", err, strings.TrimSpace(errOut.String()))
	}
	return nil
}

// capped writes at most n bytes to w, then drops the rest.
type capped struct {
	w io.Writer
	n int
}

func (c *capped) Write(p []byte) (int, error) {
	if c.n > 0 {
		k := min(len(p), c.n)
		c.w.Write(p[:k])
		c.n -= k
	}
	return len(p), nil
}

// resolvConf is the /etc/resolv.conf of a program with egress: slirp's
// DNS, which forwards to the host's resolver (itself out of reach).
func resolvConf() (string, error) {
	dir := filepath.Join(os.TempDir(), "apogee-sandbox")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "resolv.conf")
	want := "nameserver " + slirpDNS + "\n"
	if b, err := os.ReadFile(path); err == nil && string(b) == want {
		return path, nil
	}
	tmp, err := os.CreateTemp(dir, "resolv-*")
	if err != nil {
		return "", err
	}
	tmp.WriteString(want)
	tmp.Chmod(0o644)
	tmp.Close()
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return path, nil
}
