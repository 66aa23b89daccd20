#!/usr/bin/env bash
# Installs what Apogee needs, builds apogee, installs it as
# $PREFIX/bin/apogee and starts `apogee server` in the background with its
# embedded defaults (one process; SQLite and blobs in the data folder),
# then waits until it answers and says where it is.
#
#   APOGEE_DATA    the data folder          (default: ~/.local/share/apogee)
#   APOGEE_LISTEN  the server's address     (default: :8080)
#   PREFIX         where apogee is installed (default: /usr/local)
#
# Every other flag of `apogee server` is an APOGEE_* variable too, and
# extra arguments go to `apogee server`. The server's log is server.log
# and its process id server.pid, both in the data folder.
#
#   bash scripts/run.sh               start it (again: says it runs already)
#   bash scripts/run.sh stop          stop the server it started
#   bash scripts/run.sh --foreground  run it in this terminal instead
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

data=${APOGEE_DATA:-${XDG_DATA_HOME:-$HOME/.local/share}/apogee}
listen=${APOGEE_LISTEN:-:8080}
port=${listen##*:}
host=${listen%:*}
case $host in "" | 0.0.0.0 | "[::]") host=127.0.0.1 ;; esac
host=${host#[}
host=${host%]}
pidfile=$data/server.pid
logfile=$data/server.log

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

# answers: the server at $host:$port says ok on /healthz.
answers() {
	local reply
	{ exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
	printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
	reply=$(head -c 200 <&3 2>/dev/null || true)
	exec 3<&- 3>&-
	[[ $reply == *" 200 "* ]]
}

if [ "${1:-}" = stop ]; then
	if running; then
		kill "$(cat "$pidfile")" && rm -f "$pidfile"
		say "stopped the server of $data"
	else
		say "no server of $data is running"
	fi
	exit 0
fi
foreground=
if [ "${1:-}" = --foreground ]; then
	foreground=1
	shift
fi
if [ -z "$foreground" ] && running; then
	say "Apogee runs already (pid $(cat "$pidfile"), data in $data, log in $logfile): http://localhost:$port"
	say "stop it with: bash scripts/run.sh stop"
	exit 0
fi

# The build sandbox, git for sources, Node.js for JavaScript builds.
apt_install ca-certificates git bubblewrap slirp4netns nftables
ensure_go
ensure_node
mkdir -p bin
build_apogee bin/apogee
apogee=$PWD/bin/apogee
prefix=${PREFIX:-/usr/local}
if mkdir -p "$prefix/bin" 2>/dev/null && [ -w "$prefix/bin" ]; then
	install -m 0755 bin/apogee "$prefix/bin/apogee"
	apogee=$prefix/bin/apogee
	case ":$PATH:" in *":$prefix/bin:"*) ;; *) say "add $prefix/bin to your PATH to run apogee" ;; esac
else
	say "cannot write to $prefix/bin: run $apogee, or put $(dirname "$apogee") on your PATH"
fi

export APOGEE_DATA=$data APOGEE_LISTEN=$listen
if [ -n "$foreground" ]; then
	exec "$apogee" server "$@"
fi
if answers; then
	say "something else answers at $host:$port already; stop it, or choose another address with APOGEE_LISTEN=:9000"
	exit 1
fi
mkdir -p "$data"
nohup "$apogee" server "$@" >>"$logfile" 2>&1 </dev/null &
echo $! >"$pidfile"
for _ in $(seq 600); do
	if answers; then
		say "Apogee runs at http://localhost:$port (pid $(cat "$pidfile"); data in $data; log in $logfile)"
		say "stop it with: bash scripts/run.sh stop"
		exit 0
	fi
	if ! running; then
		rm -f "$pidfile"
		say "the server stopped; its log, $logfile, ends with:"
		tail -n 20 "$logfile" >&2
		exit 1
	fi
	sleep 0.1
done
say "the server did not answer at $host:$port within a minute; see $logfile"
exit 1
