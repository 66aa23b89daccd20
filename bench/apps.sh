#!/usr/bin/env bash
# bench/apps.sh: Apogee's app proxy against nginx, each proxying to the
# same Node.js instance over kept-alive HTTP/1.1 on 127.0.0.1, driven by
# wrk.
#
# It starts the test app (internal/apps/runtimetest/testdata/app/app.js,
# a plain node:http server answering 15 bytes) on a loopback port, then
# nginx (upstream keepalive, the X-Forwarded-* headers Apogee sets too)
# and bench/appproxy (internal/appproxy's pool, target and
# ReverseProxy, as the edge uses them), checks both answer what the app
# does, warms both up and runs wrk against each, alternating, ROUNDS
# times. It prints Requests/sec of each (the median when ROUNDS > 1), the
# server CPU per request of each proxy, and the ratio apogee/nginx; the
# target is 0.9.
#
# Fairness: each proxy gets one core's worth (nginx one worker, apogee
# GOMAXPROCS=1) by default (CORES=1), or every core (CORES=all). The app
# itself is single-threaded Node, which often bounds both: the CPU per
# request of each proxy is then the telling figure.
#
# Environment (all optional):
#   DURATION=10s CONNECTIONS=32 THREADS=2   wrk's -d, -c, -t
#   ROUNDS=3          measured rounds per proxy, alternating
#   WARMUP=2s         wrk run per proxy before measuring
#   CORES=1           or all: the core budget of each proxy
#
# Only 127.0.0.1 is ever targeted. Every process started here is stopped
# on exit.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2s}
CORES=${CORES:-1}
case $CORES in
all) nginx_workers=auto apogee_procs=${GOMAXPROCS:-} ;;
1) nginx_workers=1 apogee_procs=1 ;;
*) echo "apps.sh: CORES is all or 1, not $CORES" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

say() { printf 'apps.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

need=()
command -v wrk >/dev/null || need+=(wrk)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need+=(nginx)
command -v curl >/dev/null || need+=(curl)
command -v node >/dev/null || need+=(nodejs)
if [ ${#need[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	say "installing ${need[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
nginx_bin=/usr/sbin/nginx
[ -x "$nginx_bin" ] || nginx_bin=$(command -v nginx)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/apogee-apps-bench.XXXXXX")
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

wait_http() {
	for _ in $(seq 200); do
		if curl -fsS -o /dev/null "$1" 2>/dev/null; then
			return
		fi
		sleep 0.05
	done
	die "$1 did not answer; see the logs in $tmp"
}

# The instance.
app_port=$(free_port)
PORT=$app_port NODE_ENV=production node internal/apps/runtimetest/testdata/app/app.js >"$tmp/app.log" 2>&1 &
pids+=($!)
app_pid=$!
wait_http "http://127.0.0.1:$app_port/"

# Apogee's proxy.
say "building bench/appproxy"
go build -o "$tmp/appproxy" ./bench/appproxy
apogee_port=$(free_port)
GOMAXPROCS=$apogee_procs "$tmp/appproxy" -listen "127.0.0.1:$apogee_port" -backend "127.0.0.1:$app_port" >"$tmp/appproxy.log" 2>&1 &
pids+=($!)
apogee_pid=$!
wait_http "http://127.0.0.1:$apogee_port/"

# nginx, set up as a careful admin would for an app behind it.
nginx_port=$(free_port)
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes $nginx_workers;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_timeout 120s;
	keepalive_requests 1000000000;
	client_body_temp_path $tmp/nginx/body;
	proxy_temp_path $tmp/nginx/proxy;
	fastcgi_temp_path $tmp/nginx/fastcgi;
	uwsgi_temp_path $tmp/nginx/uwsgi;
	scgi_temp_path $tmp/nginx/scgi;
	upstream app {
		server 127.0.0.1:$app_port;
		keepalive 256;
		keepalive_requests 1000000000;
	}
	server {
		listen 127.0.0.1:$nginx_port;
		location / {
			proxy_pass http://app;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host \$host;
			proxy_set_header X-Forwarded-For \$remote_addr;
			proxy_set_header X-Forwarded-Host \$host;
			proxy_set_header X-Forwarded-Proto \$scheme;
			proxy_buffering off;
		}
	}
}
EOF
"$nginx_bin" -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" &
pids+=($!)
wait_http "http://127.0.0.1:$nginx_port/"

want=$(curl -fsS "http://127.0.0.1:$app_port/")
[ "$(curl -fsS "http://127.0.0.1:$apogee_port/")" = "$want" ] || die "apogee's proxy does not answer what the app does"
[ "$(curl -fsS "http://127.0.0.1:$nginx_port/")" = "$want" ] || die "nginx does not answer what the app does"

cpu_ticks() {
	local t=0 p
	for p in "$@"; do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$t"
}

# run_wrk NAME DURATION URL PID...: Requests/sec and the proxy's CPU
# microseconds per request.
run_wrk() {
	local name=$1 d=$2 url=$3 out c0 c1
	shift 3
	c0=$(cpu_ticks "$@")
	out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$d" "$url")
	c1=$(cpu_ticks "$@")
	if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
		say "$name: wrk reported errors:"
		printf '%s\n' "$out" >&2
		exit 1
	fi
	awk -v c=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" '
		/^Requests\/sec:/ {rps = $2}
		/ requests in / {n = $1}
		END {printf "%s %.1f\n", rps, c / hz * 1e6 / n}' <<<"$out"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

apogee_url=http://127.0.0.1:$apogee_port/
nginx_url=http://127.0.0.1:$nginx_port/
nginx_pids=("$(cat "$tmp/nginx/nginx.pid")")
mapfile -t -O 1 nginx_pids < <(pgrep -P "${nginx_pids[0]}")
say "warming up ($WARMUP each)"
run_wrk apogee "$WARMUP" "$apogee_url" "$apogee_pid" >/dev/null
run_wrk nginx "$WARMUP" "$nginx_url" "${nginx_pids[@]}" >/dev/null

say "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS round(s), $(nproc) cores, CORES=$CORES, one Node instance"
a_rps=() n_rps=() a_cpu=() n_cpu=()
for r in $(seq "$ROUNDS"); do
	read -r a ac < <(run_wrk apogee "$DURATION" "$apogee_url" "$apogee_pid")
	read -r n nc < <(run_wrk nginx "$DURATION" "$nginx_url" "${nginx_pids[@]}")
	a_rps+=("$a") n_rps+=("$n") a_cpu+=("$ac") n_cpu+=("$nc")
	[ "$ROUNDS" -eq 1 ] || say "round $r: apogee $a req/s (${ac} cpu-us/req), nginx $n req/s (${nc} cpu-us/req)"
done
a=$(printf '%s\n' "${a_rps[@]}" | median)
n=$(printf '%s\n' "${n_rps[@]}" | median)
ac=$(printf '%s\n' "${a_cpu[@]}" | median)
nc=$(printf '%s\n' "${n_cpu[@]}" | median)
ratio=$(awk -v a="$a" -v n="$n" 'BEGIN {printf "%.3f", a/n}')
printf 'apogee %s req/s  (proxy CPU %s us/request)\n' "$a" "$ac"
printf 'nginx  %s req/s  (proxy CPU %s us/request)\n' "$n" "$nc"
printf 'ratio  %s (target >= 0.9)\n' "$ratio"
