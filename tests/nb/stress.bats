#!/usr/bin/env bats
# nb under load: 200 containers from one image, each created, run attached and removed, 8 at
# a time. None may fail, and none may leave anything behind. The throughput is printed.

load helpers

setup() {
	setup_store_with_image
}

# worker N: creates, runs (attached, which must exit 0) and removes N containers one after
# another; each failure is a line in $TEST_DIR/failures.
worker() {
	local i id out
	for ((i = 0; i < $1; i++)); do
		if ! id="$(nb create bb true 2>&1)"; then
			echo "create: $id" >>"$TEST_DIR/failures"
			continue
		fi
		if ! out="$(nb run "$id" 2>&1)"; then
			echo "run $id: $out" >>"$TEST_DIR/failures"
		fi
		if ! out="$(nb rm "$id" 2>&1)"; then
			echo "rm $id: $out" >>"$TEST_DIR/failures"
		fi
	done
}

@test "200 containers, 8 at a time: no failure, nothing left behind" {
	local total=200 parallel=8 w t0 us left
	: >"$TEST_DIR/failures"
	t0="${EPOCHREALTIME/./}"
	for ((w = 0; w < parallel; w++)); do
		worker $((total / parallel)) 3>&- &
	done
	wait
	us=$((${EPOCHREALTIME/./} - t0))
	echo "# $total containers (create, run, rm), $parallel at a time: $((us / 1000)) ms, $((total * 1000000000 / us / 1000)).$(printf '%03d' $((total * 1000000000 / us % 1000))) containers/s" >&3
	left="$(cat "$TEST_DIR/failures")"
	[ -z "$left" ] || fail "$(wc -l <"$TEST_DIR/failures") failures: $(head -5 "$TEST_DIR/failures")"
	[ -z "$(nb ps -aq)" ] || fail "containers left: $(nb ps -aq)"
	left="$(ls -A "$STORE/containers")"
	[ -z "$left" ] || fail "container directories left: $left"
	left="$(awk -v store="$STORE/" 'index($5, store) == 1 {print $5}' /proc/self/mountinfo)"
	[ -z "$left" ] || fail "mounts left: $left"
	if [ -d "$STORE/runtime" ]; then
		left="$(ls -A "$STORE/runtime")"
		[ -z "$left" ] || fail "runtime state left: $left"
	fi
}
