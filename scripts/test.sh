#!/usr/bin/env bash
# Runs Apogee's whole test suite on a Debian machine, as root, installing
# what the tests need from Debian's packages (and Go from the Go module
# proxy) when it is missing, and starting PostgreSQL when it is not running.
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh ./internal/edge/...   # some packages
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh

# Tools the tests run for real (chromium: the dashboard's browser tests; wrk:
# BenchmarkEdgeRoles, which the benchmark step below runs once).
apt_install ca-certificates curl unzip git postgresql bubblewrap runsc slirp4netns nftables iproute2 util-linux pebble chromium etcd-server wrk
ensure_go
ensure_node

# The Kubernetes runtime's tests run a real kube-apiserver (built from the
# k8s.io/kubernetes module once, then cached) and Debian's etcd.
KUBEBUILDER_ASSETS=$(bash scripts/kube-apiserver.sh)
export KUBEBUILDER_ASSETS

# PostgreSQL: running, with a database "test" the tests may use.
if [ -z "${APOGEE_TEST_POSTGRES:-}" ]; then
	if ! pg_isready -q -h 127.0.0.1 -p 5432; then
		say "starting PostgreSQL"
		cluster=$(ls /etc/postgresql | sort -V | tail -1)
		pg_ctlcluster --skip-systemctl-redirect "$cluster" main start
		for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
	fi
	if psql -h 127.0.0.1 -d test -Atc 'select 1' >/dev/null 2>&1; then
		export APOGEE_TEST_POSTGRES="postgres://$(id -un)@127.0.0.1:5432/test?sslmode=disable"
	else
		# A fresh Debian cluster: peer auth on the socket, no role for us yet.
		if [ "$(id -u)" = 0 ]; then
			runuser -u postgres -- psql -Atqc "select 1 from pg_roles where rolname='$(id -un)'" | grep -q 1 ||
				runuser -u postgres -- createuser -s "$(id -un)"
			runuser -u postgres -- psql -Atqc "select 1 from pg_database where datname='test'" | grep -q 1 ||
				runuser -u postgres -- createdb -O "$(id -un)" test
		fi
		export APOGEE_TEST_POSTGRES="postgres:///test?host=/var/run/postgresql&sslmode=disable"
	fi
fi
say "PostgreSQL for tests: $APOGEE_TEST_POSTGRES"

say "go vet"
go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	say "not gofmt'ed: $unformatted"
	exit 1
fi

say "go test"
# Every sandbox kind must run here: a missing runsc fails rather than skips.
export APOGEE_TEST_RUNSC=1
go test -race -count=1 -timeout 30m "${@:-./...}"

# Every benchmark once, so that the ones the docs quote keep running; the
# figures come from longer runs (see the README's Benchmarks section).
say "benchmarks, once each"
go test -run '^$' -bench . -benchtime 1x "${@:-./...}"

# Every fuzz target for a few seconds beyond its committed corpus (which
# the tests above ran); scripts/fuzz.sh runs them longer. Only with the
# whole suite.
if [ $# -eq 0 ]; then
	say "fuzzing, ${APOGEE_FUZZTIME:-3s} per target"
	bash scripts/fuzz.sh "${APOGEE_FUZZTIME:-3s}"
fi
