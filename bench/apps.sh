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

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bench=apps
. bench/lib.sh
bench_cores
bench_tools node:nodejs
bench_tmp

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

bench_compare proxy "one Node instance" "http://127.0.0.1:$apogee_port/" "" "$apogee_pid" "http://127.0.0.1:$nginx_port/"
