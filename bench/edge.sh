#!/usr/bin/env bash
# bench/edge.sh: Apogee's edge against nginx, serving the same 5 KB
# index.html over keep-alive HTTP/1.1 on 127.0.0.1, driven by wrk.
#
# It builds the apogee binary, makes a throwaway data folder and config
# home, starts nginx and `apogee server`, deploys the folder through the
# CLI (admin create-user, login, projects create, deploy --prod), checks
# that both serve the same bytes, warms both up and then runs wrk against
# each, alternating, ROUNDS times. It prints Requests/sec of each (the
# median when ROUNDS > 1) and the ratio apogee/nginx; the target is 0.9.
#
# Fairness: both servers get the same core budget. By default (CORES=all)
# nginx runs `worker_processes auto` (one worker per core) and apogee Go's
# default GOMAXPROCS (one P per core): how each runs out of the box. With
# CORES=1, nginx runs one worker and apogee GOMAXPROCS=1, which leaves
# wrk a core of its own on a 2-core machine. wrk competes with the server
# for the same cores either way. nginx gets sendfile, access_log off and
# keep-alive with no request limit (Go's server has none) and otherwise
# its defaults (no open_file_cache). Neither logs requests.
#
# Environment (all optional):
#   DURATION=10s CONNECTIONS=64 THREADS=2   wrk's -d, -c, -t
#   ROUNDS=1          measured rounds per server, alternating
#   WARMUP=2s         wrk run per server before measuring
#   CORES=all         or 1: the core budget of each server (see above)
#   SIZE=5120         bytes of index.html
#   RULES=0           1: the deployment carries a vercel.json (21 redirects,
#                     header rules that apply to /) and nginx gets the same
#                     rules (return 308, add_header), so both do the work
#   APOGEE_BIN=path   use this binary instead of building one
#
# Only 127.0.0.1 is ever targeted. Every process started here is stopped
# on exit.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-1}
WARMUP=${WARMUP:-2s}
CORES=${CORES:-all}
case $CORES in
all) nginx_workers=auto apogee_procs=${GOMAXPROCS:-} ;;
1) nginx_workers=1 apogee_procs=1 ;;
*) echo "edge.sh: CORES is all or 1, not $CORES" >&2; exit 2 ;;
esac
SIZE=${SIZE:-5120}
RULES=${RULES:-0}
case $RULES in 0 | 1) ;; *) echo "edge.sh: RULES is 0 or 1, not $RULES" >&2; exit 2 ;; esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

say() { printf 'edge.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# Tools: install what is missing with apt-get.
need=()
command -v wrk >/dev/null || need+=(wrk)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need+=(nginx)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	say "installing ${need[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
nginx_bin=/usr/sbin/nginx
[ -x "$nginx_bin" ] || nginx_bin=$(command -v nginx)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/apogee-edge-bench.XXXXXX")
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

# free_port prints a TCP port on 127.0.0.1 that nothing listens on.
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

# wait_http URL [HOST]: until URL answers.
wait_http() {
	for _ in $(seq 200); do
		if curl -fsS -o /dev/null ${2:+-H "Host: $2"} "$1" 2>/dev/null; then
			return
		fi
		sleep 0.05
	done
	die "$1 did not answer; see the logs in $tmp"
}

# The site: one index.html of SIZE bytes, readable by nginx's workers.
mkdir -p "$tmp/www"
head -c "$SIZE" /dev/urandom | base64 -w 76 | head -c "$SIZE" >"$tmp/www/index.html"
chmod 755 "$tmp" "$tmp/www"
chmod 644 "$tmp/www/index.html"

# With RULES=1, routing rules as a migrated site has them, for both
# servers: Apogee reads vercel.json, nginx gets the same in its config.
nginx_rules=""
if [ "$RULES" = 1 ]; then
	redirects=""
	for i in $(seq 0 19); do
		redirects+="{\"source\": \"/old-page-$i\", \"destination\": \"/new-page-$i\"},"
		nginx_rules+="		location = /old-page-$i { return 308 /new-page-$i; }"$'\n'
	done
	cat >"$tmp/www/vercel.json" <<JSON
{
  "redirects": [$redirects {"source": "/blog/:slug", "destination": "/posts/:slug"}],
  "headers": [
    {"source": "/(.*)", "headers": [
      {"key": "X-Frame-Options", "value": "DENY"},
      {"key": "Referrer-Policy", "value": "strict-origin-when-cross-origin"}
    ]},
    {"source": "/assets/(.*)", "headers": [
      {"key": "Cache-Control", "value": "public, max-age=31536000, immutable"}
    ]}
  ]
}
JSON
	chmod 644 "$tmp/www/vercel.json"
	nginx_rules+="		location ~ ^/blog/([^/]+)\$ { return 308 /posts/\$1; }
		add_header X-Frame-Options DENY;
		add_header Referrer-Policy strict-origin-when-cross-origin;
		location /assets/ {
			add_header Cache-Control \"public, max-age=31536000, immutable\";
			add_header X-Frame-Options DENY;
			add_header Referrer-Policy strict-origin-when-cross-origin;
		}"
fi

# Apogee.
apogee=${APOGEE_BIN:-}
if [ -z "$apogee" ]; then
	say "building apogee"
	go build -o "$tmp/apogee" ./cmd/apogee
	apogee=$tmp/apogee
fi
export XDG_CONFIG_HOME=$tmp/config
unset APOGEE_SERVER APOGEE_TOKEN APOGEE_PROJECT
data=$tmp/data
email=bench@example.com
password=bench-password-$RANDOM$RANDOM
# cli runs the apogee CLI with its output in cli.log, shown on failure.
cli() {
	if ! "$apogee" "$@" >>"$tmp/cli.log" 2>&1; then
		cat "$tmp/cli.log" >&2
		die "apogee $1 failed"
	fi
}
cli admin create-user --data "$data" --email "$email" --password "$password" --admin
apogee_port=$(free_port)
GOMAXPROCS=$apogee_procs "$apogee" server --data "$data" --listen "127.0.0.1:$apogee_port" --domain localhost --log-level warn \
	>"$tmp/apogee.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$apogee_port/healthz"
cli login --server "http://127.0.0.1:$apogee_port" --email "$email" --password "$password"
cli projects create bench
cli deploy "$tmp/www" --project bench --prod
wait_http "http://127.0.0.1:$apogee_port/" bench.localhost

# nginx.
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
	sendfile on;
	keepalive_timeout 120s;
	keepalive_requests 1000000000;
	types { text/html html; }
	default_type application/octet-stream;
	client_body_temp_path $tmp/nginx/body;
	proxy_temp_path $tmp/nginx/proxy;
	fastcgi_temp_path $tmp/nginx/fastcgi;
	uwsgi_temp_path $tmp/nginx/uwsgi;
	scgi_temp_path $tmp/nginx/scgi;
	server {
		listen 127.0.0.1:$nginx_port;
		root $tmp/www;
		index index.html;
$nginx_rules
	}
}
EOF
"$nginx_bin" -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" &
pids+=($!)
wait_http "http://127.0.0.1:$nginx_port/"

# Both must serve the same bytes.
curl -fsS -H 'Host: bench.localhost' "http://127.0.0.1:$apogee_port/" | cmp -s - "$tmp/www/index.html" ||
	die "apogee does not serve the deployed index.html"
curl -fsS "http://127.0.0.1:$nginx_port/" | cmp -s - "$tmp/www/index.html" ||
	die "nginx does not serve index.html"
if [ "$RULES" = 1 ]; then
	for who in "apogee http://127.0.0.1:$apogee_port bench.localhost" "nginx http://127.0.0.1:$nginx_port localhost"; do
		read -r name base host <<<"$who"
		curl -fsS -o /dev/null -D - -H "Host: $host" "$base/" | grep -qi '^X-Frame-Options: DENY' ||
			die "$name does not send the header rule's X-Frame-Options"
		loc=$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' -H "Host: $host" "$base/old-page-7")
		case $loc in "308 "*/new-page-7) ;; *) die "$name: /old-page-7 answered $loc, not a 308 to /new-page-7" ;; esac
	done
fi

# cpu_ticks PID...: user+system CPU ticks the processes used so far.
cpu_ticks() {
	local t=0 p
	for p in "$@"; do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$t"
}

# run_wrk NAME DURATION URL HOST PID...: prints Requests/sec and the
# server's CPU microseconds per request (a figure less sensitive than
# req/s to whatever else the machine runs).
run_wrk() {
	local name=$1 d=$2 url=$3 host=$4 out c0 c1
	shift 4
	c0=$(cpu_ticks "$@")
	out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$d" ${host:+-H "Host: $host"} "$url")
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
apogee_pid=${pids[0]}
nginx_pids=("$(cat "$tmp/nginx/nginx.pid")")
mapfile -t -O 1 nginx_pids < <(pgrep -P "${nginx_pids[0]}")
say "warming up ($WARMUP each)"
run_wrk apogee "$WARMUP" "$apogee_url" bench.localhost "$apogee_pid" >/dev/null
run_wrk nginx "$WARMUP" "$nginx_url" "" "${nginx_pids[@]}" >/dev/null

say "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS round(s), ${SIZE}-byte index.html, $(nproc) cores, CORES=$CORES, RULES=$RULES"
a_rps=() n_rps=() a_cpu=() n_cpu=()
for r in $(seq "$ROUNDS"); do
	read -r a ac < <(run_wrk apogee "$DURATION" "$apogee_url" bench.localhost "$apogee_pid")
	read -r n nc < <(run_wrk nginx "$DURATION" "$nginx_url" "" "${nginx_pids[@]}")
	a_rps+=("$a") n_rps+=("$n") a_cpu+=("$ac") n_cpu+=("$nc")
	[ "$ROUNDS" -eq 1 ] || say "round $r: apogee $a req/s (${ac} cpu-us/req), nginx $n req/s (${nc} cpu-us/req)"
done
a=$(printf '%s\n' "${a_rps[@]}" | median)
n=$(printf '%s\n' "${n_rps[@]}" | median)
ac=$(printf '%s\n' "${a_cpu[@]}" | median)
nc=$(printf '%s\n' "${n_cpu[@]}" | median)
ratio=$(awk -v a="$a" -v n="$n" 'BEGIN {printf "%.3f", a/n}')
printf 'apogee %s req/s  (server CPU %s us/request)\n' "$a" "$ac"
printf 'nginx  %s req/s  (server CPU %s us/request)\n' "$n" "$nc"
printf 'ratio  %s (target >= 0.9)\n' "$ratio"
