#!/usr/bin/env bash
# tests/fuzz.sh [TIME] PKG:NAME:EXECS...: Go's native fuzzing of each target, one after the other
# (make fuzz).
#
# Each target runs EXECS executions (-fuzztime EXECSx), sized to take a few seconds on the
# development VM. A count, not a duration: with a duration Go's fuzzing coordinator can fail a
# target that found nothing, with a bare "context deadline exceeded" at the -fuzztime boundary
# (golang/go#75804, fixed in Go 1.27), and a count has no deadline to race. TIME, when given
# (FUZZTIME=5m make fuzz), runs every target for that long instead; a run whose only failure
# is then that race, with no failing input written, is reported as such and the run goes on.
# A real finding always writes its input to testdata/fuzz and fails the run.
#
# A target that does not exist fails the run: `go test -fuzz` passes when no target matches.
set -euo pipefail
GO="${GO:-go}"
time=
if [ $# -gt 0 ] && [[ "$1" != *:* ]]; then
	time="${1:-}"
	shift
fi
[ $# -gt 0 ] || { echo "fuzz: no targets (PKG:NAME:EXECS...)" >&2; exit 1; }
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for t in "$@"; do
	IFS=: read -r pkg name execs <<<"$t"
	[[ "$execs" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: $t: want PKG:NAME:EXECS" >&2; exit 1; }
	listed="$("$GO" test -list "^$name\$" "$pkg")"
	grep -qx "$name" <<<"$listed" || { echo "fuzz: $pkg has no $name" >&2; exit 1; }
	budget="${time:-${execs}x}"
	echo "fuzz: $name in $pkg for $budget"
	# Each new interesting input is minimized before it counts, for up to -fuzzminimizetime
	# (60 s by default), during which the run makes no progress it reports: a 10 s run spent
	# its time minimizing one input. 2 s keeps the time for fuzzing; a crasher is written
	# whole when its minimizing stops short.
	if "$GO" test -run '^$' -fuzz "^$name\$" -fuzztime "$budget" -fuzzminimizetime 2s "$pkg" 2>&1 | tee "$log"; then
		continue
	fi
	if [ -n "$time" ] && grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
		echo "fuzz: $name: stopped by Go's -fuzztime shutdown race (golang/go#75804), no failing input: not a finding"
		continue
	fi
	exit 1
done
