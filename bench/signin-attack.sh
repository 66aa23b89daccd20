#!/usr/bin/env bash
# bench/signin-attack.sh: does a sign-in attack move sites' latency? (issue
# 10, item 3). It builds apogee, starts `apogee server` with a deployed
# 5 KB site, and measures the site's latency with wrk (--latency, p50 and
# p99) twice: alone, then while bench/signinattack sends wrong sign-ins
# to POST /api/v1/auth/login from 64 connections, each from its own
# loopback address (so the per-address limit does not end the attack; the
# per-account limit and the bound on password checks at once must hold).
# It prints both latencies, what the attack got, and the server's peak
# memory (VmHWM) before and after the attack.
#
# Environment (all optional):
#   DURATION=10s         each measurement's length
#   CONNECTIONS=8 THREADS=1   wrk's -c and -t for the site
#   ATTACKERS=64         the attack's connections
#   APOGEE_BIN=path      use this binary instead of building one
#
# Only 127.0.0.1 (and other loopback addresses as the attack's sources)
# is ever targeted. Every process started here is stopped on exit.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-8}
THREADS=${THREADS:-1}
ATTACKERS=${ATTACKERS:-64}
ROUNDS=1 WARMUP=1s CORES=all

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bench=signin-attack
. bench/lib.sh
bench_tools
bench_tmp

mkdir -p "$tmp/www"
head -c 5120 /dev/urandom | base64 -w 76 | head -c 5120 >"$tmp/www/index.html"

bench_apogee
say "building the attacker"
go build -o "$tmp/signinattack" ./bench/signinattack
data=$tmp/data
cli admin create-user --data "$data" --email "$email" --password "$password" --admin
port=$(free_port)
"$apogee" server --data "$data" --listen "127.0.0.1:$port" --domain localhost --log-level error >"$tmp/apogee.log" 2>&1 &
pids+=($!)
apogee_pid=$!
wait_http "http://127.0.0.1:$port/healthz"
cli login --server "http://127.0.0.1:$port" --email "$email" --password "$password"
cli projects create bench
cli deploy "$tmp/www" --project bench --prod
wait_http "http://127.0.0.1:$port/" bench.localhost

# latency prints wrk's p50 and p99 of the site.
latency() {
	local out
	out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$1" --latency -H 'Host: bench.localhost' "http://127.0.0.1:$port/")
	if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
		say "wrk reported errors:"
		printf '%s\n' "$out" >&2
		exit 1
	fi
	awk '/^ +50%/ {p50 = $2} /^ +99%/ {p99 = $2} /^Requests\/sec:/ {rps = $2} END {printf "p50 %s  p99 %s  %s req/s\n", p50, p99, rps}' <<<"$out"
}
hwm() { awk '/^VmHWM:/ {printf "%.0f MiB\n", $2 / 1024}' "/proc/$apogee_pid/status"; }

wrk -t1 -c4 -d1s -H 'Host: bench.localhost' "http://127.0.0.1:$port/" >/dev/null # warm-up
say "$(nproc) cores; wrk -t$THREADS -c$CONNECTIONS -d$DURATION on a 5 KB page"
printf 'site alone:             %s\n' "$(latency "$DURATION")"
printf 'server memory peak:     %s\n' "$(hwm)"
secs=${DURATION%s}
"$tmp/signinattack" -server "http://127.0.0.1:$port" -c "$ATTACKERS" -sources "$ATTACKERS" -d "$((secs + 2))s" >"$tmp/attack.out" &
attack_pid=$!
pids+=($attack_pid)
sleep 1 # let the attack reach full speed before measuring
printf 'site under the attack:  %s\n' "$(latency "$DURATION")"
wait "$attack_pid"
printf 'attack:                 %s\n' "$(cat "$tmp/attack.out")"
printf 'server memory peak:     %s\n' "$(hwm)"
