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
#   ACCESS=on         the edge's access log (request records for analytics):
#                     on (the default server), off (--access-log=false), or
#                     both: two apogee servers, one each way, measured in
#                     the same rounds as nginx, printing the on/off ratio
#                     (the target is at most 3% fewer requests/s with it on)
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
SIZE=${SIZE:-5120}
RULES=${RULES:-0}
case $RULES in 0 | 1) ;; *) echo "edge.sh: RULES is 0 or 1, not $RULES" >&2; exit 2 ;; esac
ACCESS=${ACCESS:-on}
case $ACCESS in on | off | both) ;; *) echo "edge.sh: ACCESS is on, off or both, not $ACCESS" >&2; exit 2 ;; esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bench=edge
. bench/lib.sh
bench_cores
bench_tools
bench_tmp

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
bench_apogee
# start_apogee NAME [FLAGS...]: a server with its own data folder, the
# folder deployed as project bench; sets NAME_port and NAME_pid.
start_apogee() {
	local name=$1 port pid
	shift
	cli admin create-user --data "$tmp/data-$name" --email "$email" --password "$password" --admin
	port=$(free_port)
	GOMAXPROCS=$apogee_procs "$apogee" server --data "$tmp/data-$name" --listen "127.0.0.1:$port" --domain localhost --log-level warn "$@" \
		>"$tmp/apogee-$name.log" 2>&1 &
	pid=$!
	pids+=("$pid")
	wait_http "http://127.0.0.1:$port/healthz"
	cli login --server "http://127.0.0.1:$port" --email "$email" --password "$password"
	cli projects create bench
	cli deploy "$tmp/www" --project bench --prod
	wait_http "http://127.0.0.1:$port/" bench.localhost
	printf -v "${name}_port" '%s' "$port"
	printf -v "${name}_pid" '%s' "$pid"
}
case $ACCESS in
on) start_apogee apogee ;;
off) start_apogee apogee --access-log=false ;;
both)
	start_apogee apogee
	start_apogee quiet --access-log=false
	;;
esac

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

if [ "$ACCESS" != both ]; then
	bench_compare server "${SIZE}-byte index.html, RULES=$RULES, ACCESS=$ACCESS" "http://127.0.0.1:$apogee_port/" bench.localhost "$apogee_pid" "http://127.0.0.1:$nginx_port/"
	exit 0
fi

# ACCESS=both: the access log on, off and nginx in each round, alternating.
curl -fsS -H 'Host: bench.localhost' "http://127.0.0.1:$quiet_port/" | cmp -s - "$tmp/www/index.html" ||
	die "apogee with --access-log=false does not serve the deployed index.html"
nginx_pids=("$(cat "$tmp/nginx/nginx.pid")")
mapfile -t -O 1 nginx_pids < <(pgrep -P "${nginx_pids[0]}")
say "warming up ($WARMUP each)"
run_wrk on "$WARMUP" "http://127.0.0.1:$apogee_port/" bench.localhost "$apogee_pid" >/dev/null
run_wrk off "$WARMUP" "http://127.0.0.1:$quiet_port/" bench.localhost "$quiet_pid" >/dev/null
run_wrk nginx "$WARMUP" "http://127.0.0.1:$nginx_port/" "" "${nginx_pids[@]}" >/dev/null
say "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS round(s), $(nproc) cores, CORES=$CORES, ${SIZE}-byte index.html, RULES=$RULES, access log on and off"
on_rps=() off_rps=() n_rps=() on_cpu=() off_cpu=() n_cpu=()
for r in $(seq "$ROUNDS"); do
	read -r a ac < <(run_wrk on "$DURATION" "http://127.0.0.1:$apogee_port/" bench.localhost "$apogee_pid")
	read -r o oc < <(run_wrk off "$DURATION" "http://127.0.0.1:$quiet_port/" bench.localhost "$quiet_pid")
	read -r n nc < <(run_wrk nginx "$DURATION" "http://127.0.0.1:$nginx_port/" "" "${nginx_pids[@]}")
	on_rps+=("$a") off_rps+=("$o") n_rps+=("$n") on_cpu+=("$ac") off_cpu+=("$oc") n_cpu+=("$nc")
	[ "$ROUNDS" -eq 1 ] || say "round $r: on $a req/s (${ac} cpu-us/req), off $o req/s (${oc} cpu-us/req), nginx $n req/s (${nc} cpu-us/req)"
done
a=$(printf '%s\n' "${on_rps[@]}" | median)
o=$(printf '%s\n' "${off_rps[@]}" | median)
n=$(printf '%s\n' "${n_rps[@]}" | median)
ac=$(printf '%s\n' "${on_cpu[@]}" | median)
oc=$(printf '%s\n' "${off_cpu[@]}" | median)
nc=$(printf '%s\n' "${n_cpu[@]}" | median)
printf 'apogee, access log on   %s req/s  (server CPU %s us/request)\n' "$a" "$ac"
printf 'apogee, access log off  %s req/s  (server CPU %s us/request)\n' "$o" "$oc"
printf 'nginx                   %s req/s  (server CPU %s us/request)\n' "$n" "$nc"
awk -v a="$a" -v o="$o" -v n="$n" -v ac="$ac" -v oc="$oc" 'BEGIN {
	printf "on/off  %.3f req/s, %+.1f%% CPU per request (target: at most 3%% fewer requests/s)\n", a/o, (ac/oc-1)*100
	printf "on/nginx %.3f, off/nginx %.3f\n", a/n, o/n
}'
