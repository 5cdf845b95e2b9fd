#!/usr/bin/env bats
# Stress through an engine: `podman run --rm` with nebulon as its runtime,
# many in parallel. Every run must succeed; the throughput is reported.

load ../engines/helpers

RUNS="${NBT_STRESS_PODMAN_RUNS:-200}"
PARALLEL="${NBT_STRESS_PODMAN_PARALLEL:-16}"

setup_file() {
	podman_setup_file
}

teardown_file() {
	podman_teardown_file
}

# one_run N: podman run --rm of a container that prints N; its result in $E/run-N.
one_run() {
	local out
	out="$(timeout -k 5 120 podman --root "$E/storage" --runroot "$E/run" --runtime nebulon \
		run --rm "$IMAGE" echo "run $1" 2>&1)"
	echo "$? $out" >"$E/run-$1"
}

@test "$RUNS podman run --rm with nebulon, $PARALLEL at a time: every one succeeds" {
	local i t0 t1 ms failed
	t0=$(date +%s%N)
	for ((i = 0; i < RUNS; i++)); do
		one_run "$i" &
		if ((i % PARALLEL == PARALLEL - 1)); then
			wait
		fi
	done
	wait
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	echo "# $RUNS podman run --rm, $PARALLEL at a time, in $((ms / 1000)).$((ms % 1000 / 100)) s: $((RUNS * 1000 / ms)).$((RUNS * 10000 / ms % 10)) runs/s" >&3
	failed="$(for ((i = 0; i < RUNS; i++)); do
		[ "$(cat "$E/run-$i")" = "0 run $i" ] || echo "run $i: $(cat "$E/run-$i")"
	done)"
	[ -z "$failed" ] || fail "$(echo "$failed" | wc -l) failed: $(echo "$failed" | head -5)"
	[ "$(grep -c -e ' create ' -e '^create ' "$E/calls.nebulon")" -ge "$RUNS" ] || fail "nebulon did not run them all"
	[ -z "$(podman --root "$E/storage" --runroot "$E/run" ps -aq)" ] || fail "containers left"
}
