# bench/lib.sh: what the wrk scripts beside it share (bench/edge.sh,
# bench/apps.sh). Source it with $bench set to the script's name; it
# reads the environment those scripts document (DURATION, CONNECTIONS,
# THREADS, ROUNDS, WARMUP, CORES).

say() { printf '%s: %s\n' "$bench" "$*" >&2; }
die() {
	say "$*"
	exit 1
}

# bench_cores sets nginx_workers and apogee_procs from CORES: all (each
# server's default: a worker or a P per core) or 1.
bench_cores() {
	case $CORES in
	all) nginx_workers=auto apogee_procs=${GOMAXPROCS:-} ;;
	1) nginx_workers=1 apogee_procs=1 ;;
	*)
		echo "$bench: CORES is all or 1, not $CORES" >&2
		exit 2
		;;
	esac
}

# bench_tools [COMMAND:PACKAGE]...: installs wrk, nginx, curl and the
# other commands named, from Debian's packages, when they are missing,
# and sets nginx_bin.
bench_tools() {
	local need=() x
	command -v wrk >/dev/null || need+=(wrk)
	[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need+=(nginx)
	command -v curl >/dev/null || need+=(curl)
	for x in "$@"; do
		command -v "${x%%:*}" >/dev/null || need+=("${x#*:}")
	done
	if [ ${#need[@]} -gt 0 ]; then
		local sudo=""
		[ "$(id -u)" -eq 0 ] || sudo=sudo
		say "installing ${need[*]}"
		$sudo apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
	fi
	nginx_bin=/usr/sbin/nginx
	[ -x "$nginx_bin" ] || nginx_bin=$(command -v nginx)
}

# bench_tmp makes the scratch folder $tmp; every process whose pid is
# added to pids is stopped, and $tmp removed, on exit.
bench_tmp() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/apogee-$bench.XXXXXX")
	pids=()
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

bench_cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}

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

# cpu_ticks PID...: user+system CPU ticks the processes used so far.
cpu_ticks() {
	local t=0 p
	for p in "$@"; do
		# utime and stime, counted after the command's name, which may
		# hold spaces ("nsd: server 1").
		t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
	done
	echo "$t"
}

# run_wrk NAME DURATION URL HOST PID...: prints Requests/sec and the
# server's CPU microseconds per request (a figure less sensitive than
# req/s to whatever else the machine runs). HOST may be empty.
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

# bench_compare ROLE SETUP APOGEE_URL APOGEE_HOST APOGEE_PID NGINX_URL:
# warms both up, runs wrk against each ROUNDS times, alternating, and
# prints the median Requests/sec and CPU per request of each (ROLE names
# what the CPU is: "server", "proxy") and their ratio. SETUP describes
# the run in its heading. nginx's pids come from $tmp/nginx/nginx.pid.
bench_compare() {
	local role=$1 setup=$2 a_url=$3 a_host=$4 a_pid=$5 n_url=$6
	local nginx_pids a n ac nc r ratio
	nginx_pids=("$(cat "$tmp/nginx/nginx.pid")")
	mapfile -t -O 1 nginx_pids < <(pgrep -P "${nginx_pids[0]}")
	say "warming up ($WARMUP each)"
	run_wrk apogee "$WARMUP" "$a_url" "$a_host" "$a_pid" >/dev/null
	run_wrk nginx "$WARMUP" "$n_url" "" "${nginx_pids[@]}" >/dev/null

	say "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS round(s), $(nproc) cores, CORES=$CORES, $setup"
	local a_rps=() n_rps=() a_cpu=() n_cpu=()
	for r in $(seq "$ROUNDS"); do
		read -r a ac < <(run_wrk apogee "$DURATION" "$a_url" "$a_host" "$a_pid")
		read -r n nc < <(run_wrk nginx "$DURATION" "$n_url" "" "${nginx_pids[@]}")
		a_rps+=("$a") n_rps+=("$n") a_cpu+=("$ac") n_cpu+=("$nc")
		[ "$ROUNDS" -eq 1 ] || say "round $r: apogee $a req/s (${ac} cpu-us/req), nginx $n req/s (${nc} cpu-us/req)"
	done
	a=$(printf '%s\n' "${a_rps[@]}" | median)
	n=$(printf '%s\n' "${n_rps[@]}" | median)
	ac=$(printf '%s\n' "${a_cpu[@]}" | median)
	nc=$(printf '%s\n' "${n_cpu[@]}" | median)
	ratio=$(awk -v a="$a" -v n="$n" 'BEGIN {printf "%.3f", a/n}')
	printf 'apogee %s req/s  (%s CPU %s us/request)\n' "$a" "$role" "$ac"
	printf 'nginx  %s req/s  (%s CPU %s us/request)\n' "$n" "$role" "$nc"
	printf 'ratio  %s (target >= 0.9)\n' "$ratio"
}

# bench_apogee sets apogee to APOGEE_BIN or a binary built from this
# checkout, gives the CLI a config folder of its own in $tmp, and sets
# the account's email and password for cli admin create-user and login.
bench_apogee() {
	apogee=${APOGEE_BIN:-}
	if [ -z "$apogee" ]; then
		say "building apogee"
		go build -o "$tmp/apogee" ./cmd/apogee
		apogee=$tmp/apogee
	fi
	export XDG_CONFIG_HOME=$tmp/config
	unset APOGEE_SERVER APOGEE_TOKEN APOGEE_PROJECT
	email=bench@example.com
	password=bench-password-$RANDOM$RANDOM
}

# cli runs the apogee CLI with its output in $tmp/cli.log, shown on
# failure.
cli() {
	if ! "$apogee" "$@" >>"$tmp/cli.log" 2>&1; then
		cat "$tmp/cli.log" >&2
		die "apogee $1 failed"
	fi
}
