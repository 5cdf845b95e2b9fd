#!/usr/bin/env bats
# shellcheck disable=SC2016 # $ in single quotes is jq's or the hook's shell's, never this one's
# shellcheck disable=SC2030,SC2031 # bats runs setup, the test and teardown in one process
# shellcheck disable=SC2154 # $stderr is set by bats' run
# Commands that meet each other: a hook that asks for its own container's
# state or kills it, state and list during create and start, two starts, a
# delete during create. No command may wait on another's hooks or waits.

load helpers

setup() {
	setup_bundle
	use_host_dir
}

# host_hook KIND SCRIPT: a hook run on the host by sh -c SCRIPT, with the
# runtime, its root and the container id in its environment.
host_hook() {
	update_config '.hooks[$k] += [{"path": "/bin/sh", "args": ["sh", "-c", $s],
		"env": ["RT=" + $rt, "ROOT=" + $root, "CT=" + $ct, "OUT=" + $out], "timeout": 20}]' \
		--arg k "$1" --arg s "$2" --arg rt "$RUNTIME" --arg root "$ROOT" --arg ct "$CT" --arg out "$HOST_DIR"
}

@test "a createRuntime hook sees its container as creating, with the init's pid, in state and list" {
	skip_if_runc "1.1.5 has no state for a container until its create has finished: state and kill say it does not exist"
	host_hook createRuntime '"$RT" --root "$ROOT" state "$CT" > "$OUT/state.json" 2>"$OUT/state.err"
		"$RT" --root "$ROOT" list --format json > "$OUT/list.json" 2>"$OUT/list.err"'
	create_ct
	cat "$HOST_DIR/state.json" "$HOST_DIR/state.err"
	[ "$(jq -r .status "$HOST_DIR/state.json")" = creating ]
	[ "$(jq -r .pid "$HOST_DIR/state.json")" = "$(state_of | jq -r .pid)" ]
	[ "$(jq -r --arg id "$CT" '.[] | select(.id == $id) | .status' "$HOST_DIR/list.json")" = creating ]
	[ "$(status_of)" = created ]
}

@test "a prestart hook that kills its own container fails create, which leaves nothing" {
	skip_if_runc "1.1.5 has no state for a container until its create has finished: state and kill say it does not exist"
	snapshot_host
	host_hook prestart '"$RT" --root "$ROOT" kill "$CT" KILL; echo "kill: $?" > "$OUT/kill.rc"'
	run --separate-stderr runtime create -b "$BUNDLE" "$CT"
	echo "$stderr"
	[ "$(cat "$HOST_DIR/kill.rc")" = "kill: 0" ]
	[ "$status" -ne 0 ]
	[ -n "$stderr" ]
	assert_nothing_left
}

@test "a poststart hook sees its container running: start holds no lock across its hooks" {
	skip_if_runc "1.1.5 runs poststart hooks during create"
	set_cmd 'sleep 100'
	host_hook poststart '"$RT" --root "$ROOT" state "$CT" > "$OUT/state.json"'
	create_ct
	runtime start "$CT"
	[ "$(jq -r .status "$HOST_DIR/state.json")" = running ]
}

@test "state and list answer at once while start waits on a startContainer hook" {
	update_config '.hooks.startContainer = [{"path": "/bin/sh", "args": ["sh", "-c", "touch /host/hook.started; sleep 3"]}]'
	set_cmd 'sleep 100'
	create_ct
	"$RUNTIME" --root "$ROOT" start "$CT" >"$TEST_DIR/start.out" 2>&1 &
	BG_PIDS+=($!)
	local start_pid=$!
	wait_for_file "$HOST_DIR/hook.started"
	local t0 t1
	t0=$(date +%s%N)
	[ "$(status_of)" = created ]
	runtime list
	t1=$(date +%s%N)
	echo "state and list took $(((t1 - t0) / 1000000)) ms"
	[ $(((t1 - t0) / 1000000)) -lt 1500 ]
	# A second start while the first is handing over is refused, at once.
	run --separate-stderr runtime start "$CT"
	echo "$stderr"
	[ "$status" -ne 0 ]
	if ! is_runc; then
		[[ "$stderr" == *"another start is under way"* ]]
	fi
	wait "$start_pid"
	[ "$(status_of)" = running ]
}

@test "the init waiting for start holds exec.fifo and nothing else of the state directory" {
	set_cmd 'sleep 100'
	create_ct
	local pid fd target held=()
	pid="$(state_of | jq -r .pid)"
	for fd in /proc/"$pid"/fd/*; do
		target="$(readlink "$fd")" || continue
		if [[ "$target" == "$ROOT/"* ]]; then held+=("${target#"$ROOT/"}"); fi
	done
	echo "the init holds, under the state root: ${held[*]}"
	[ "${held[*]}" = "$CT/exec.fifo" ]
	runtime start "$CT"
	[ "$(status_of)" = running ]
}

@test "a start failure far longer than a pipe holds reaches start whole up to a cut, at once" {
	skip_if_runc "1.1.5 prints the whole of the hook's output"
	# The hook runs in the container and fails with 100 KiB on stderr: more than the pipe the init
	# reports through could take unread.
	update_config '.hooks.startContainer = [{"path": "/bin/sh",
		"args": ["sh", "-c", "yes 0123456789abcdef | head -c 102400 >&2; exit 1"], "timeout": 20}]'
	create_ct
	local t0 t1
	t0=$(date +%s%N)
	run --separate-stderr runtime start "$CT"
	t1=$(date +%s%N)
	echo "start: status $status, ${#stderr} bytes of stderr, in $(((t1 - t0) / 1000000)) ms"
	echo "${stderr:0:300}"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"error running startContainer hook #0: exit status 1"* ]]
	[[ "$stderr" == *"0123456789abcdef"*"..."* ]]
	[ "${#stderr}" -lt 8192 ]
	[ $(((t1 - t0) / 1000000)) -lt 10000 ]
	# The failed hook ends the container (runtime-spec lifecycle, step 7): start removed it.
	[ -z "$(status_of)" ]
}

@test "delete without --force refuses a container being created; with it, it waits for the create, then removes the container" {
	skip_if_runc "1.1.5 has no state for a container until its create has finished: state and kill say it does not exist"
	snapshot_host
	host_hook createRuntime 'touch "$OUT/hook.started"; while [ ! -e "$OUT/go" ]; do sleep 0.05; done'
	"$RUNTIME" --root "$ROOT" create -b "$BUNDLE" "$CT" >"$TEST_DIR/create.out" 2>&1 &
	BG_PIDS+=($!)
	local create_pid=$! delete_pid
	wait_for_file "$HOST_DIR/hook.started"
	[ "$(status_of)" = creating ]
	run --separate-stderr runtime delete "$CT"
	echo "$stderr"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *creating* ]]
	[ "$(status_of)" = creating ]
	run --separate-stderr runtime pause "$CT"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"still being created"* ]]
	# Until its init has its config, only the create knows the init: delete --force lets the
	# create finish rather than remove a container the create would then finish making.
	"$RUNTIME" --root "$ROOT" delete --force "$CT" >"$TEST_DIR/delete.out" 2>&1 &
	BG_PIDS+=($!)
	delete_pid=$!
	sleep 0.5
	kill -0 "$delete_pid" || fail "delete --force did not wait for the create: $(cat "$TEST_DIR/delete.out")"
	[ "$(status_of)" = creating ]
	touch "$HOST_DIR/go"
	wait_rc "$create_pid"
	cat "$TEST_DIR/create.out"
	[ "$RC" -eq 0 ]
	wait_rc "$delete_pid"
	cat "$TEST_DIR/delete.out"
	[ "$RC" -eq 0 ]
	assert_nothing_left
}

@test "delete --force kills a create stuck for 10 s, and removes its container; a new create of the id works" {
	skip_if_runc "1.1.5 has no state for a container until its create has finished"
	snapshot_host
	update_config '.process.args = ["sleep", "1000"]'
	cp "$BUNDLE/config.json" "$TEST_DIR/plain.json"
	host_hook createRuntime 'touch "$OUT/hook.started"; while [ ! -e "$OUT/go" ]; do sleep 0.05; done'
	"$RUNTIME" --root "$ROOT" create -b "$BUNDLE" "$CT" >"$TEST_DIR/create.out" 2>&1 &
	BG_PIDS+=($!)
	local create_pid=$! pid t0 t1
	wait_for_file "$HOST_DIR/hook.started"
	# The hook outlives the create killed below; let go, it ends itself.
	on_teardown "touch $HOST_DIR/go"
	[ "$(status_of)" = creating ]
	t0=$(date +%s%N)
	run --separate-stderr runtime delete --force "$CT"
	t1=$(date +%s%N)
	echo "delete: status $status in $(((t1 - t0) / 1000000)) ms: $stderr"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"killing the create still making the container"*"pid=$create_pid"* ]]
	[ $(((t1 - t0) / 1000000)) -ge 10000 ] && [ $(((t1 - t0) / 1000000)) -lt 20000 ]
	wait_rc "$create_pid"
	[ "$RC" -eq 137 ]
	[ -z "$(status_of)" ]
	# The id is free: a second create, without the hook, makes the container again, and the
	# stuck hook, let go, touches nothing of it.
	cp "$TEST_DIR/plain.json" "$BUNDLE/config.json"
	create_ct
	pid="$(state_of | jq -r .pid)"
	touch "$HOST_DIR/go"
	sleep 0.2
	[ "$(state_of | jq -r .pid)" = "$pid" ]
	[ "$(status_of)" = created ]
	runtime start "$CT"
	[ "$(status_of)" = running ]
	grep -qx "$pid" "/sys/fs/cgroup/pids/$CT/cgroup.procs" || [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]
	runtime delete --force "$CT"
	assert_nothing_left
}

@test "a create killed with SIGKILL leaves a stopped container that delete removes" {
	skip_if_runc "1.1.5 has no state for a container until its create has finished: state and kill say it does not exist"
	snapshot_host
	host_hook createRuntime 'echo $$ > "$OUT/hook.pid"; touch "$OUT/hook.started"; exec sleep 100'
	"$RUNTIME" --root "$ROOT" create -b "$BUNDLE" "$CT" >"$TEST_DIR/create.out" 2>&1 &
	local create_pid=$!
	wait_for_file "$HOST_DIR/hook.started"
	[ "$(status_of)" = creating ]
	kill -KILL "$create_pid"
	wait "$create_pid" || true
	[ "$(status_of)" = stopped ]
	[ "$(state_of | jq -r '.pid // 0')" = 0 ]
	# The hook outlives the create that ran it; it is ours to end.
	kill -KILL "$(cat "$HOST_DIR/hook.pid")"
	runtime delete "$CT"
	assert_nothing_left
}

@test "a create into a cgroup frozen beforehand fails at once, naming it, and leaves the cgroup alone" {
	[ -d /sys/fs/cgroup/freezer ] || skip "no v1 freezer hierarchy"
	local cg="/nbt-frozen-$CT" dir="/sys/fs/cgroup/freezer/nbt-frozen-$CT"
	mkdir "$dir"
	on_teardown "echo THAWED > $dir/freezer.state; rmdir $dir"
	echo FROZEN >"$dir/freezer.state"
	update_config '.linux.cgroupsPath = $cg' --arg cg "$cg"
	run --separate-stderr timeout 20 "$RUNTIME" --root "$ROOT" create -b "$BUNDLE" "$CT"
	echo "$stderr"
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ]
	[[ "$stderr" == *"unexpectedly frozen"* ]]
	[ -d "$dir" ]
	[ "$(cat "$dir/freezer.state")" = FROZEN ]
	run runtime state "$CT"
	[ "$status" -ne 0 ]
}

@test "an exec'd process killed before it execs is a failure that says so, not a start" {
	skip_if_runc "1.1.5 reports such an exec as started"
	set_cmd 'sleep 1000'
	run_detached
	runtime pause "$CT"
	# The freezer's list: the init joins the freezer hierarchy first and stops there, before
	# it reaches the others (ps reads the pids hierarchy).
	local freezer before new=""
	freezer="$(find /sys/fs/cgroup/freezer -type d -name "*$CT*" | head -n 1)"
	[ -n "$freezer" ] || skip "no v1 freezer cgroup for the container"
	before="$(sort "$freezer/cgroup.procs")"
	# The exec'd process's init joins the frozen cgroup and stops there, before it execs.
	"$RUNTIME" --root "$ROOT" exec --ignore-paused "$CT" true >"$TEST_DIR/exec.out" 2>"$TEST_DIR/exec.err" &
	local exec_pid=$!
	BG_PIDS+=("$exec_pid")
	for _ in $(seq 100); do
		new="$(comm -13 <(echo "$before") <(sort "$freezer/cgroup.procs"))"
		[ -n "$new" ] && break
		sleep 0.1
	done
	cat "$TEST_DIR/exec.err"
	[ -n "$new" ] || fail "the exec'd process never joined the container's cgroup"
	kill -KILL "$new"
	runtime resume "$CT"
	wait_rc "$exec_pid"
	cat "$TEST_DIR/exec.err"
	[ "$RC" -ne 0 ]
	grep -q "ended before it could exec: killed by signal SIGKILL" "$TEST_DIR/exec.err"
	[ "$(status_of)" = running ]
}

@test "exec joins a container with a user namespace of its own and a network namespace made before it by ip netns" {
	skip_if_runc "1.1.5 joins the user namespace first, then may not join the host-owned network namespace (EPERM)"
	local ns="nbt-$CT"
	ip netns add "$ns"
	on_teardown "ip netns delete $ns"
	ip -n "$ns" link add nbtveth0 type veth peer name nbtveth1
	add_userns
	# sysfs can only be mounted by the owner of the network namespace's user namespace: /sys is
	# bound from the host instead, as podman does for such containers (runc has no fallback).
	update_config '.linux.namespaces |= map(if .type == "network" then .path = $p else . end)
		| .mounts |= map(if .destination == "/sys" then {"destination": "/sys", "type": "bind",
			"source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]} else . end)' --arg p "/run/netns/$ns"
	set_cmd 'sleep 1000'
	run_detached
	local pid
	pid="$(state_of | jq -r .pid)"
	run --separate-stderr runtime exec "$CT" sh -c 'for n in net user pid; do readlink /proc/self/ns/$n; done; cat /proc/net/dev'
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(readlink "/proc/$pid/ns/net")" ]
	[ "${lines[1]}" = "$(readlink "/proc/$pid/ns/user")" ]
	[ "${lines[2]}" = "$(readlink "/proc/$pid/ns/pid")" ]
	[[ "$output" == *nbtveth0* ]]
	# Root in the container's user namespace, which is 100000 on the host.
	runtime exec -d "$CT" sleep 999
	local sleeper
	sleeper="$(runtime ps --format json "$CT" | jq -r '.[]' | while read -r p; do
		[ "$(tr '\0' ' ' <"/proc/$p/cmdline")" = "sleep 999 " ] && echo "$p"; done)"
	[ -n "$sleeper" ]
	[ "$(awk '/^Uid:/ {print $2}' "/proc/$sleeper/status")" = 100000 ]
}

@test "exec into a container whose init has exited fails, naming it, and joins nothing" {
	set_cmd 'touch /host/started; sleep 1000'
	run_detached
	wait_for_file "$HOST_DIR/started"
	local pid
	pid="$(state_of | jq -r .pid)"
	kill -KILL "$pid"
	wait_for_status "$CT" stopped
	run --separate-stderr runtime exec "$CT" true
	[ "$status" -ne 0 ]
	echo "$stderr"
	if ! is_runc; then
		[[ "$stderr" == *"stopped"* || "$stderr" == *"not running"* ]]
	fi
}
