#!/usr/bin/env bats
# shellcheck disable=SC2317 # the tests' step functions are called through sweep
# nb killed (SIGKILL) at every stage of create, run, rm, image import and pull: a sweep of delays
# from the command's start to past its end. After each kill the next nb commands work, and
# nothing is half-visible: every container directory has its metadata, and every overlay
# mount, runtime state directory and cgroup left belongs to a container nb ps -a lists.

load helpers
load registry

setup() {
	setup_store_with_image
	SEEN_IDS=()
	# kill_after sleeps by a read that times out on this fifo, which nobody writes: a sleep(1)
	# would cost a fork and an exec, milliseconds here, on top of every delay.
	mkfifo "$TEST_DIR/sleep.fifo"
	exec {SLEEP_FD}<>"$TEST_DIR/sleep.fifo"
}

teardown() {
	if [ -n "${SLEEP_FD:-}" ]; then exec {SLEEP_FD}>&-; fi
	stop_registry
	teardown_store
}

# kill_after US ARGS...: starts nb ARGS on the test's store, SIGKILLs it US microseconds later
# (if it still runs) and reaps it. $killed says whether it was still running.
kill_after() {
	local us="$1" pid
	shift
	"$NB" --root "$STORE" "$@" </dev/null >/dev/null 2>&1 3>&- &
	pid=$!
	if ((us > 0)); then
		read -r -t "$(printf '%d.%06d' $((us / 1000000)) $((us % 1000000)))" -u "$SLEEP_FD" || true
	fi
	killed=false
	if kill -9 "$pid" 2>/dev/null; then
		killed=true
	fi
	wait "$pid" 2>/dev/null || true
}

# time_nb ARGS...: runs nb ARGS (which must succeed) and sets $took_us to how long it took.
time_nb() {
	local t0="${EPOCHREALTIME/./}"
	"$NB" --root "$STORE" "$@" >/dev/null || fail "nb $* failed"
	took_us=$((${EPOCHREALTIME/./} - t0))
}

# sweep_delays US: STEPS+1 delays, from 0 to 130% of US microseconds (a killed command is
# slower than an undisturbed one: its start races the kill).
STEPS=20
sweep_delays() {
	local i
	for ((i = 0; i <= STEPS; i++)); do echo $((i * $1 * 13 / (10 * STEPS))); done
}

# sweep WHAT US STEP: runs the function STEP with each delay of sweep_delays US; STEP kills the
# command at that delay (kill_after, which sets $killed) and checks what is left. The sweep must
# kill the command mid-way in at least a quarter of its steps: one that does not ran past the
# command's end (the command ran faster than measured) and is run again to half its bound, at
# most twice, before the test fails.
sweep() {
	local what=$1 bound=$2 step=$3 try us kills=0
	for try in 1 2 3; do
		kills=0
		for us in $(sweep_delays "$bound"); do
			"$step" "$us"
			if $killed; then kills=$((kills + 1)); fi
		done
		echo "# $what: killed mid-command in $kills of $((STEPS + 1)) steps to 130% of ${bound}us (try $try)" >&3
		[ "$kills" -lt $((STEPS / 4)) ] || return 0
		bound=$((bound / 2))
	done
	fail "$what was killed mid-command only $kills times in a sweep to 130% of $((bound * 2))us: the sweep misses it"
}

# store_mounts: the mount points under the test's store, one a line.
store_mounts() {
	awk -v store="$STORE/" 'index($5, store) == 1 {print $5}' /proc/self/mountinfo
}

# assert_whole: nb ps -a works, and all that is left under the store belongs to a container it
# lists: directories (each with metadata.json), overlay mounts, runtime state.
assert_whole() {
	local ids d m id
	ids="$(nb ps -aq)" || fail "nb ps -a failed after the kill"
	nb image ls >/dev/null || fail "nb image ls failed after the kill"
	for id in $ids; do SEEN_IDS+=("$id"); done
	for d in "$STORE"/containers/*; do
		[ -e "$d" ] || continue
		[ -f "$d/metadata.json" ] || fail "$d has no metadata.json: a half-made container nb ps left"
		grep -qxF "$(basename "$d")" <<<"$ids" || fail "$(basename "$d") is in the store but not in nb ps -a"
	done
	while read -r m; do
		[ -n "$m" ] || continue
		id="${m#"$STORE/containers/"}"
		id="${id%%/*}"
		grep -qxF "$id" <<<"$ids" || fail "mount $m belongs to no container nb ps -a lists"
	done <<<"$(store_mounts)"
	for d in "$STORE"/runtime/*; do
		[ -e "$d" ] || continue
		# ID:creating:RAND and ID:deleting:RAND are the runtime's temporary names of ID's state,
		# which a kill left; they go with ID (assert_all_gone).
		id="$(basename "$d")"
		id="${id%%:*}"
		grep -qxF "$id" <<<"$ids" || fail "runtime state $d belongs to no container nb ps -a lists"
	done
}

# assert_all_gone: after removing every container, the store holds none, no mount, no runtime
# state, no image work dir, and no container the test saw has a cgroup left.
assert_all_gone() {
	local id left
	for id in $(nb ps -aq); do
		nb rm -f "$id" >/dev/null || fail "nb rm -f $id failed"
	done
	[ -z "$(nb ps -aq)" ] || fail "containers left after rm -f of all"
	left="$(store_mounts)"
	[ -z "$left" ] || fail "mounts left under the store: $left"
	left="$(ls -A "$STORE/containers")"
	[ -z "$left" ] || fail "container directories left: $left"
	if [ -d "$STORE/runtime" ]; then
		left="$(ls -A "$STORE/runtime")"
		[ -z "$left" ] || fail "runtime state left: $left"
	fi
	left="$(ls -A "$STORE/images/tmp")"
	[ -z "$left" ] || fail "image work dirs left: $left"
	for id in "${SEEN_IDS[@]}"; do
		left="$(find /sys/fs/cgroup -maxdepth 3 -type d -name "$id" 2>/dev/null)"
		[ -z "$left" ] || fail "cgroups left for $id: $left"
	done
}

# assert_works: a container can still be created, run and removed.
assert_works() {
	local id
	id="$(nb create bb sh -c 'echo alive')" || fail "nb create failed"
	run nb run "$id"
	[ "$status" -eq 0 ] || fail "nb run exited $status: $output"
	[ "$output" = alive ] || fail "nb run printed: $output"
	nb rm "$id" >/dev/null || fail "nb rm failed"
}

@test "nb create killed at every stage leaves a whole container or none, overlay included" {
	step() {
		kill_after "$1" create bb true
		assert_whole
	}
	time_nb create bb true
	sweep "nb create" "$took_us" step
	assert_works
	assert_all_gone
}

@test "nb run killed at every stage: the container stays listed, can run again and be removed" {
	local id
	step() {
		local id status_now
		id="$(nb create bb true)"
		# shellcheck disable=SC2030,SC2031 # bats runs setup, the test and teardown in one process
		SEEN_IDS+=("$id")
		kill_after "$1" run "$id"
		assert_whole
		grep -qxF "$id" <<<"$(nb ps -aq)" || fail "container $id vanished after nb run was killed"
		status_now="$(nb inspect "$id" | jq -r '.[0].status')"
		if [ "$status_now" != running ]; then
			run nb run "$id"
			[ "$status" -eq 0 ] || fail "running $id again (it was $status_now) exited $status: $output"
		fi
		nb rm -f "$id" >/dev/null || fail "nb rm -f $id failed"
		[ ! -e "$STORE/runtime/$id" ] || fail "runtime state of $id left after rm"
	}
	id="$(nb create bb true)"
	time_nb run "$id"
	nb rm "$id" >/dev/null
	sweep "nb run" "$took_us" step
	assert_works
	assert_all_gone
}

@test "nb rm killed at every stage leaves the container whole or gone, never half" {
	local id i fastest=
	step() {
		local id
		id="$(nb create bb true)"
		# shellcheck disable=SC2030,SC2031 # bats runs setup, the test and teardown in one process
		SEEN_IDS+=("$id")
		nb run "$id" || fail "nb run $id failed"
		kill_after "$1" rm "$id"
		assert_whole
		if grep -qxF "$id" <<<"$(nb ps -aq)"; then
			nb rm "$id" >/dev/null || fail "removing $id again failed"
		fi
		[ ! -e "$STORE/containers/$id" ] || fail "$id's directory left after rm"
	}
	# rm's time varies most (a runtime delete, an overlay unmount): the sweep's bound is the
	# fastest of three.
	for i in 1 2 3; do
		id="$(nb create bb true)"
		nb run "$id" || fail "nb run $id failed"
		time_nb rm "$id"
		if [ -z "$fastest" ] || [ "$took_us" -lt "$fastest" ]; then fastest=$took_us; fi
	done
	sweep "nb rm" "$fastest" step
	assert_works
	assert_all_gone
}

@test "nb image import killed at every stage: the image is whole or absent, the next import works" {
	step() {
		local id
		kill_after "$1" image import "$TEST_DIR/rootfs.tar" bb
		assert_whole
		# A whole image, named or (killed between its rename and its tag) not: inspectable
		# and removable.
		for id in $(nb image ls -q); do
			nb image inspect "$id" >/dev/null || fail "image $id is listed but cannot be inspected"
			nb image rm -f "$id" >/dev/null || fail "nb image rm $id failed"
		done
		[ -z "$(ls -A "$STORE/images/tmp")" ] || fail "nb image ls left a killed import's work dir"
	}
	nb image rm bb >/dev/null
	time_nb image import "$TEST_DIR/rootfs.tar" bb
	nb image rm bb >/dev/null
	sweep "nb image import" "$took_us" step
	nb image import "$TEST_DIR/rootfs.tar" bb >/dev/null || fail "importing after the kills failed"
	assert_works
	assert_all_gone
}

@test "nb pull killed at every stage: the image is whole or absent, no layer is left without it" {
	need_registry
	start_registry
	nb push bb "$REG/bb:1" >/dev/null
	step() {
		local images layers
		kill_after "$1" pull "$REG/bb:1"
		assert_whole
		# bb and the pulled image have a layer each (push writes bb's out anew): after nb
		# image ls (assert_whole's), no layer is stored that no image uses.
		images="$(nb image ls -q | wc -l)"
		layers="$(layer_count "$STORE")"
		[ "$layers" = "$images" ] || fail "$layers layers stored for $images images: $(ls "$STORE/images/layers")"
		if nb image inspect "$REG/bb:1" >/dev/null 2>&1; then
			nb image rm "$REG/bb:1" >/dev/null || fail "nb image rm of the pulled image failed"
		fi
		[ -z "$(ls -A "$STORE/images/tmp")" ] || fail "nb image ls left a killed pull's work dir"
	}
	time_nb pull "$REG/bb:1"
	nb image rm "$REG/bb:1" >/dev/null
	sweep "nb pull" "$took_us" step
	nb pull "$REG/bb:1" >/dev/null || fail "pulling after the kills failed"
	run nb run "$(nb create "$REG/bb:1" echo pulled)"
	[ "$output" = pulled ] || fail "the image pulled after the kills runs: $output"
	assert_works
	assert_all_gone
}

@test "nb image rm racing nb create: no container is left on a removed image" {
	local id img
	for _ in 1 2 3 4 5 6; do
		nb create bb true >/dev/null 2>&1 3>&- &
	done
	nb image rm bb >/dev/null 2>&1 3>&- &
	wait || true
	for id in $(nb ps -aq); do
		# shellcheck disable=SC2030,SC2031 # bats runs setup, the test and teardown in one process
		SEEN_IDS+=("$id")
		img="$(nb inspect "$id" | jq -r '.[0].image_id')"
		nb image inspect "$img" >/dev/null || fail "container $id uses image $img, which was removed"
	done
	assert_whole
	assert_all_gone
}
