#!/usr/bin/env bats
# shellcheck disable=SC2154 # $stderr is set by bats' run
# The runtime killed with SIGKILL at every moment of create, start, exec and
# delete. The delay before the kill is swept from before the runtime has done
# anything to after it is done; after each kill, `list` still works and shows
# only sound entries, `delete --force` cleans up, and no process, cgroup,
# mount or state directory is left.

load helpers

# The delays swept, in milliseconds. A create takes 30 to 80 ms here.
DELAYS="${NBT_FAULT_DELAYS:-0 3 6 10 15 22 32 50 80 130}"

# killed_at MS ARGS...: the runtime with ARGS in the background, SIGKILLed MS
# milliseconds later if it still runs.
killed_at() {
	local ms="$1" pid
	shift
	"$RUNTIME" --root "$ROOT" "$@" </dev/null >/dev/null 2>&1 3>&- &
	pid=$!
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# list_is_sound: list succeeds and each entry has a status the spec knows.
list_is_sound() {
	run --separate-stderr runtime list --format json
	[ "$status" -eq 0 ] || fail "list failed: $stderr" || return 1
	jq -e '(. // []) | all(.[]; .status | IN("creating", "created", "running", "stopped", "paused"))' \
		<<<"$output" >/dev/null || fail "list shows an unsound entry: $output" || return 1
}

# recover WHEN: after a kill, list is sound, delete --force removes whatever
# is left (or finds nothing), and nothing of the container remains.
recover() {
	list_is_sound || fail "$1" || return 1
	run --separate-stderr runtime delete --force "$CT"
	[ "$status" -eq 0 ] || [[ "$stderr" == *"does not exist"* ]] ||
		fail "$1: delete --force: $stderr" || return 1
	assert_nothing_left || fail "$1" || return 1
}

@test "create killed at any moment: delete --force leaves nothing" {
	set_cmd 'sleep 1000'
	snapshot_host
	local ms
	for ms in $DELAYS; do
		killed_at "$ms" create -b "$BUNDLE" "$CT"
		recover "create killed after ${ms}ms"
	done
}

@test "start killed at any moment: delete --force leaves nothing" {
	set_cmd 'sleep 1000'
	snapshot_host
	local ms
	for ms in $DELAYS; do
		runtime create -b "$BUNDLE" "$CT"
		killed_at "$ms" start "$CT"
		recover "start killed after ${ms}ms"
	done
}

@test "exec killed at any moment: the container runs on, takes another exec, and delete --force leaves nothing" {
	set_cmd 'sleep 1000'
	snapshot_host
	local ms
	for ms in $DELAYS; do
		run_detached
		killed_at "$ms" exec "$CT" sleep 1000
		list_is_sound
		[ "$(status_of)" = running ] || fail "exec killed after ${ms}ms: container $(status_of)"
		run runtime exec "$CT" echo still-here
		[ "$output" = still-here ] || fail "exec killed after ${ms}ms: the next exec says $output"
		recover "exec killed after ${ms}ms"
	done
}

@test "delete killed at any moment: delete --force leaves nothing" {
	set_cmd 'sleep 1000'
	snapshot_host
	local ms
	for ms in $DELAYS; do
		run_detached
		killed_at "$ms" delete --force "$CT"
		recover "delete killed after ${ms}ms"
	done
}
