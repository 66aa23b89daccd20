#!/usr/bin/env bash
# bench/dns.sh: Apogee's authoritative DNS server against NSD, serving
# the same zone on 127.0.0.1, driven by dnsperf (both from Debian's
# packages, installed when missing).
#
# It builds apogee, makes a throwaway data folder, starts `apogee server
# --dns-listen`, adds the zone example.com and its records through the
# CLI (dns zones add, dns records add), writes the same records as a zone
# file for nsd, checks with dig that both give the same answer, then runs
# dnsperf against each, alternating, ROUNDS times, asking for a mix of the
# zone's names (A, MX, TXT, a name that does not exist). It prints the
# queries per second of each (the median when ROUNDS > 1), each server's
# CPU per query and the ratio apogee/nsd.
#
# Environment (all optional):
#   DURATION=10      seconds of each dnsperf run
#   CLIENTS=4        dnsperf's -c (sockets), THREADS=2 its -T
#   ROUNDS=1         measured rounds per server, alternating
#   CORES=all        or 1: nsd's server-count and apogee's GOMAXPROCS
#   APOGEE_BIN=path  use this binary instead of building one
#
# Only 127.0.0.1 is ever targeted. Every process started here is stopped
# on exit.
set -euo pipefail

DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-4}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-1}
CORES=${CORES:-all}
WARMUP=${WARMUP:-2}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bench=dns
. bench/lib.sh
bench_cores
bench_tools dnsperf:dnsperf dig:bind9-dnsutils
[ -x /usr/sbin/nsd ] || bench_tools nsd:nsd
bench_tmp
nsd_servers=$(nproc)
[ "$CORES" = 1 ] && nsd_servers=1

# Apogee, with the zone made through the CLI as a user makes it.
bench_apogee
cli admin create-user --data "$tmp/data" --email "$email" --password "$password" --admin
http_port=$(free_port)
apogee_dns=$(free_port)
GOMAXPROCS=$apogee_procs "$apogee" server --data "$tmp/data" --listen "127.0.0.1:$http_port" --domain apogee.test \
	--dns-listen "127.0.0.1:$apogee_dns" --dns-edge 192.0.2.1 --dns-nameservers ns1.apogee.test,ns2.apogee.test \
	--log-level warn --build-workers 0 --app-sandbox off >"$tmp/apogee.log" 2>&1 &
apogee_pid=$!
pids+=("$apogee_pid")
wait_http "http://127.0.0.1:$http_port/healthz"
cli login --server "http://127.0.0.1:$http_port" --email "$email" --password "$password"
cli projects create web
cli dns zones add example.com --project web
cli dns records add example.com mail A 192.0.2.25 --ttl 300
cli dns records add example.com @ MX "10 mail.example.com" --ttl 300
cli dns records add example.com @ TXT "v=spf1 mx -all" --ttl 300
cli dns records add example.com blog CNAME web.example.net --ttl 300

# NSD with the same records (its SOA serial need not match).
nsd_port=$(free_port)
mkdir -p "$tmp/nsd"
cat >"$tmp/nsd/example.com.zone" <<ZONE
\$ORIGIN example.com.
\$TTL 300
@    IN SOA ns1.apogee.test. hostmaster.apogee.test. 1 3600 600 604800 300
@    IN NS  ns1.apogee.test.
@    IN NS  ns2.apogee.test.
@    IN A   192.0.2.1
www  IN A   192.0.2.1
mail IN A   192.0.2.25
@    IN MX  10 mail.example.com.
@    IN TXT "v=spf1 mx -all"
blog IN CNAME web.example.net.
ZONE
cat >"$tmp/nsd/nsd.conf" <<CONF
server:
	ip-address: 127.0.0.1@$nsd_port
	server-count: $nsd_servers
	username: ""
	chroot: ""
	zonesdir: "$tmp/nsd"
	zonelistfile: "$tmp/nsd/zone.list"
	xfrdfile: "$tmp/nsd/xfrd.state"
	xfrdir: "$tmp/nsd"
	pidfile: "$tmp/nsd/nsd.pid"
	database: ""
	logfile: "$tmp/nsd/nsd.log"
	verbosity: 0
	rrl-ratelimit: 0
remote-control:
	control-enable: no
zone:
	name: example.com
	zonefile: example.com.zone
CONF
/usr/sbin/nsd -d -c "$tmp/nsd/nsd.conf" >"$tmp/nsd/stdout.log" 2>&1 &
nsd_pid=$!
pids+=("$nsd_pid")

# Both answer the same.
for _ in $(seq 100); do
	dig +short @127.0.0.1 -p "$nsd_port" mail.example.com A 2>/dev/null | grep -q . && break
	sleep 0.05
done
for q in "mail.example.com A" "example.com MX" "example.com TXT" "blog.example.com CNAME" "www.example.com A"; do
	# shellcheck disable=SC2086
	a=$(dig +short @127.0.0.1 -p "$apogee_dns" $q | sort)
	# shellcheck disable=SC2086
	n=$(dig +short @127.0.0.1 -p "$nsd_port" $q | sort)
	[ -n "$a" ] && [ "$a" = "$n" ] || die "$q: apogee answers '$a', nsd '$n'"
done
# shellcheck disable=SC2086
[ "$(dig @127.0.0.1 -p "$apogee_dns" nothing.example.com A | grep -c NXDOMAIN)" = 1 ] || die "apogee does not answer NXDOMAIN"

# The query mix: names that exist (A, MX, TXT, CNAME) and one that does not.
for _ in $(seq 50); do
	printf '%s\n' "mail.example.com A" "example.com MX" "example.com TXT" "blog.example.com A" "www.example.com A" "nothing.example.com A"
done >"$tmp/queries"

# run_dnsperf NAME SECONDS PORT PID...: queries/s and CPU microseconds per query.
run_dnsperf() {
	local name=$1 d=$2 port=$3 out c0 c1
	shift 3
	c0=$(cpu_ticks "$@")
	out=$(dnsperf -s 127.0.0.1 -p "$port" -d "$tmp/queries" -l "$d" -c "$CLIENTS" -T "$THREADS" -q 500 2>&1)
	c1=$(cpu_ticks "$@")
	if ! grep -q 'Queries per second' <<<"$out"; then
		say "$name: dnsperf failed:"
		printf '%s\n' "$out" >&2
		exit 1
	fi
	awk -v c=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" '
		/Queries completed:/ {n = $3}
		/Queries lost:/ {lost = $3}
		/Queries per second:/ {qps = $4}
		END {printf "%s %.1f %s\n", qps, c / hz * 1e6 / n, lost}' <<<"$out"
}

say "warming up (${WARMUP}s each)"
run_dnsperf apogee "$WARMUP" "$apogee_dns" "$apogee_pid" >/dev/null
run_dnsperf nsd "$WARMUP" "$nsd_port" "$nsd_pid" >/dev/null
# nsd forks its server processes (and forks them anew once the zone is
# loaded): each of those running now counts.
mapfile -t nsd_pids < <(pgrep -f "nsd -d -c $tmp/nsd/nsd.conf")
say "dnsperf -c$CLIENTS -T$THREADS -l$DURATION, $ROUNDS round(s), $(nproc) cores, CORES=$CORES, nsd server-count $nsd_servers"
a_qps=() n_qps=() a_cpu=() n_cpu=()
for r in $(seq "$ROUNDS"); do
	read -r a ac al < <(run_dnsperf apogee "$DURATION" "$apogee_dns" "$apogee_pid")
	read -r n nc nl < <(run_dnsperf nsd "$DURATION" "$nsd_port" "${nsd_pids[@]}")
	say "round $r: apogee $a q/s ($ac cpu-us/q, $al lost), nsd $n q/s ($nc cpu-us/q, $nl lost)"
	a_qps+=("$a") n_qps+=("$n") a_cpu+=("$ac") n_cpu+=("$nc")
done
a=$(printf '%s\n' "${a_qps[@]}" | median)
n=$(printf '%s\n' "${n_qps[@]}" | median)
ac=$(printf '%s\n' "${a_cpu[@]}" | median)
nc=$(printf '%s\n' "${n_cpu[@]}" | median)
printf 'apogee  %s queries/s  (server CPU %s us/query)\n' "$a" "$ac"
printf 'nsd     %s queries/s  (server CPU %s us/query)\n' "$n" "$nc"
awk -v a="$a" -v n="$n" 'BEGIN {printf "apogee/nsd  %.3f\n", a / n}'
