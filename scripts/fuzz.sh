#!/usr/bin/env bash
# Runs every Go fuzz target of the repository (the parsers of untrusted
# input: manifest paths, ZIP uploads, _redirects, _headers, netlify.toml,
# vercel.json, Host and Range headers…), one after another, each for a
# while. Targets are found by their declaration, so a new one runs
# without being listed here.
#
#   bash scripts/fuzz.sh                      # each target 60 s
#   bash scripts/fuzz.sh 10m                  # each target 10 minutes
#   bash scripts/fuzz.sh 30s 'ExtractZip|Host' # only targets whose name matches
#   FUZZ_PARALLEL=1 bash scripts/fuzz.sh 10m  # one worker (default: one per CPU)
#
# A target that finds a failure writes the input to its package's
# testdata/fuzz/<Target>/ and the script goes on with the others, then
# lists the failures and exits 1. Fix the code, keep the input there (it
# is then a regression test that plain `go test` runs) and commit both.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh
ensure_go

fuzztime=${1:-60s}
only=${2:-.}

targets=$(grep -rE --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . |
	sed -E 's|^\./||; s|^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*).*|\1 \2|; s|^[^/ ]*_test\.go:func (Fuzz[A-Za-z0-9_]*).*|. \1|' |
	grep -E " .*(${only})" | sort)
if [ -z "$targets" ]; then
	say "no fuzz target matches ${only}"
	exit 1
fi

failed=()
n=0
while read -r dir name; do
	n=$((n + 1))
	say "fuzz ${dir}: ${name} for ${fuzztime}"
	fuzz() {
		go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" ${FUZZ_PARALLEL:+-parallel "$FUZZ_PARALLEL"} "./${dir#./}" 2>&1 | grep -vE '^fuzz: elapsed: '
	}
	if ! out=$(fuzz); then
		# Go's fuzzing engine reports "context deadline exceeded" when the
		# time runs out while it still sets up its workers (a loaded
		# machine, a short time), with no failing input: run it again.
		if grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written' <<<"$out"; then
			say "fuzz ${dir}: ${name} ran out of time while starting; again"
			out=$(fuzz) || failed+=("${dir} ${name}")
		else
			failed+=("${dir} ${name}")
		fi
	fi
	printf '%s\n' "$out"
done <<<"$targets"

if [ ${#failed[@]} -gt 0 ]; then
	say "fuzzing found failures in: ${failed[*]}; their inputs are in each package's testdata/fuzz/"
	exit 1
fi
say "fuzzed ${n} targets, ${fuzztime} each: no failures"
