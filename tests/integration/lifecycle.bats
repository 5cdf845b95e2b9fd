#!/usr/bin/env bats
# OCI runtime-spec runtime.md: lifecycle, state, and operations in the wrong state.

load helpers

# A container whose user process proves it ran (writes /host/started) and
# then waits until the host asks it to stop.
setup_waiting_container() {
	use_host_dir
	set_cmd 'echo ran > /host/started; while [ ! -e /host/stop ]; do sleep 0.1; done'
}

@test "create leaves the container created with a live pid and the user process not yet run" {
	setup_waiting_container
	create_ct

	run --separate-stderr state_of
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<<"$output")" = created ]
	pid="$(jq -r .pid <<<"$output")"
	[ "$pid" -gt 0 ]
	# The pid is the container's init: alive, in the container's pid namespace.
	[ -d "/proc/$pid" ]
	[ "$(readlink "/proc/$pid/ns/pid")" != "$(readlink /proc/self/ns/pid)" ]
	sleep 0.5
	[ ! -e "$HOST_DIR/started" ]
}

@test "start runs the user process: created -> running -> stopped" {
	setup_waiting_container
	create_ct
	[ "$(status_of)" = created ]

	runtime start "$CT"
	wait_for_file "$HOST_DIR/started"
	[ "$(cat "$HOST_DIR/started")" = ran ]
	[ "$(status_of)" = running ]

	touch "$HOST_DIR/stop"
	wait_for_status "$CT" stopped
	run --separate-stderr runtime state "$CT"
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<<"$output")" = stopped ]

	runtime delete "$CT"
	run --separate-stderr runtime state "$CT"
	[ "$status" -ne 0 ]
}

@test "state reports ociVersion, id, status, pid, absolute bundle and the config's annotations" {
	setup_waiting_container
	update_config '.annotations = {"org.example.key": "value-1", "other": "x y"}'
	# A relative bundle path must be reported absolute.
	(cd "$TEST_DIR" && runtime create --bundle bundle --pid-file "$TEST_DIR/pid" "$CT")

	run --separate-stderr runtime state "$CT"
	[ "$status" -eq 0 ]
	echo "$output" | jq -e . >/dev/null
	[[ "$(jq -r .ociVersion <<<"$output")" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]]
	[ "$(jq -r .id <<<"$output")" = "$CT" ]
	[ "$(jq -r .status <<<"$output")" = created ]
	[ "$(jq -r .pid <<<"$output")" = "$(cat "$TEST_DIR/pid")" ]
	[ "$(jq -r .bundle <<<"$output")" = "$BUNDLE" ]
	[ "$(jq -c .annotations <<<"$output")" = '{"org.example.key":"value-1","other":"x y"}' ]

	runtime start "$CT"
	wait_for_file "$HOST_DIR/started"
	run --separate-stderr runtime state "$CT"
	[ "$(jq -r .status <<<"$output")" = running ]
	[ "$(jq -r .pid <<<"$output")" = "$(cat "$TEST_DIR/pid")" ]
}

@test "start of a running container fails and leaves it running" {
	setup_waiting_container
	run_detached
	wait_for_file "$HOST_DIR/started"
	pid="$(state_of | jq -r .pid)"
	rm "$HOST_DIR/started"

	run --separate-stderr runtime start "$CT"
	[ "$status" -ne 0 ]
	# shellcheck disable=SC2154 # set by bats' run
	[[ "$stderr" == *running* ]]
	sleep 0.3
	[ ! -e "$HOST_DIR/started" ] # the process was not run a second time
	[ "$(status_of)" = running ]
	[ "$(state_of | jq -r .pid)" = "$pid" ]
}

@test "start of a stopped container fails and does not run the process again" {
	use_host_dir
	set_cmd 'echo x >> /host/runs'
	run_detached
	wait_for_status "$CT" stopped

	run --separate-stderr runtime start "$CT"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *stopped* ]]
	[ "$(cat "$HOST_DIR/runs")" = x ]
	[ "$(status_of)" = stopped ]
}

@test "kill of a stopped container fails with 'not running' and leaves it stopped" {
	run_detached
	wait_for_status "$CT" stopped

	run --separate-stderr runtime kill "$CT" KILL
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"not running"* ]]
	[ "$(status_of)" = stopped ]
	runtime delete "$CT"
}

@test "delete of a running container without --force fails and leaves it running" {
	setup_waiting_container
	run_detached
	wait_for_file "$HOST_DIR/started"
	pid="$(state_of | jq -r .pid)"

	run --separate-stderr runtime delete "$CT"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"not stopped"* ]]
	[ "$(status_of)" = running ]
	kill -0 "$pid"
	run --separate-stderr runtime list -q
	[ "$output" = "$CT" ]
}

@test "create with an id that already exists fails and leaves the first container intact" {
	setup_waiting_container
	create_ct
	pid="$(state_of | jq -r .pid)"

	run --separate-stderr runtime create --bundle "$BUNDLE" "$CT"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"already exists"* ]]

	[ "$(status_of)" = created ]
	[ "$(state_of | jq -r .pid)" = "$pid" ]
	kill -0 "$pid"
	# The first container still starts and runs its process.
	runtime start "$CT"
	wait_for_file "$HOST_DIR/started"
}

@test "delete of a stopped container removes it from state and list" {
	run_detached
	wait_for_status "$CT" stopped
	runtime delete "$CT"

	run --separate-stderr runtime state "$CT"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"does not exist"* ]]
	run --separate-stderr runtime list -q
	[ -z "$output" ]
	[ -z "$(test_cgroups)" ]
	# The id can be reused.
	run_detached
	wait_for_status "$CT" stopped
}

@test "delete --force of a running container kills it and removes every trace" {
	setup_waiting_container
	run_detached
	wait_for_file "$HOST_DIR/started"
	pid="$(state_of | jq -r .pid)"
	[ -n "$(test_cgroups)" ]

	runtime delete --force "$CT"
	run --separate-stderr runtime state "$CT"
	[ "$status" -ne 0 ]
	wait_for_exit "$pid"
	[ -z "$(test_cgroups)" ]
	[ -z "$(ls -A "$ROOT")" ]
}

@test "delete --force of a created container never runs the user process" {
	setup_waiting_container
	create_ct
	runtime delete --force "$CT"
	sleep 0.3
	[ ! -e "$HOST_DIR/started" ]
	run --separate-stderr runtime state "$CT"
	[ "$status" -ne 0 ]
}

@test "delete --force of a container that does not exist succeeds" {
	run --separate-stderr runtime delete --force nosuchcontainer
	[ "$status" -eq 0 ]
	run --separate-stderr runtime delete nosuchcontainer
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"does not exist"* ]]
}

@test "operations on a container that does not exist fail with 'does not exist'" {
	for op in "state" "start" "kill" "delete"; do
		run --separate-stderr runtime $op nosuchcontainer
		[ "$status" -ne 0 ]
		[[ "$stderr" == *"does not exist"* ]]
	done
}

@test "kill of a created container stops it without running the user process" {
	setup_waiting_container
	create_ct
	runtime kill "$CT" KILL
	wait_for_status "$CT" stopped
	[ ! -e "$HOST_DIR/started" ]
	run runtime start "$CT"
	[ "$status" -ne 0 ]
	[ ! -e "$HOST_DIR/started" ]
}

# Concurrency: commands on one container are serialised by the runtime.

@test "10 parallel delete --force and kill on one running container all finish and leave nothing" {
	set_cmd 'exec sleep 100'
	snapshot_host
	run_detached
	pid="$(state_of | jq -r .pid)"
	pids=()
	for i in $(seq 10); do
		(RUNTIME_TIMEOUT=30 runtime delete --force "$CT" >/dev/null 2>&1 && rc=0 || rc=$?; echo "$rc" >"$TEST_DIR/del.$i") 3>&- &
		pids+=($!)
		(RUNTIME_TIMEOUT=30 runtime kill "$CT" KILL >/dev/null 2>&1 && rc=0 || rc=$?; echo "$rc" >"$TEST_DIR/kill.$i") 3>&- &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	# No command hung (timeout exits 124) or crashed (>= 128).
	for f in "$TEST_DIR"/del.* "$TEST_DIR"/kill.*; do
		rc="$(cat "$f")"
		[ "$rc" -le 1 ] || fail "$(basename "$f") exited $rc"
	done
	# At least one delete succeeded; every delete --force of a missing
	# container succeeds too.
	cat "$TEST_DIR"/del.* | grep -qx 0
	wait_for_exit "$pid"
	run --separate-stderr runtime state "$CT"
	[ "$status" -ne 0 ]
	assert_nothing_left
}

@test "10 parallel creates of one id: exactly one wins and its container is intact" {
	skip_if_runc "1.1.5 races: losers fail but delete the winner's state dir, orphaning its init"
	use_host_dir
	set_cmd 'echo ran > /host/started; exec sleep 100'
	pids=()
	for i in $(seq 10); do
		(RUNTIME_TIMEOUT=30 runtime create --bundle "$BUNDLE" "$CT" >/dev/null 2>"$TEST_DIR/err.$i" && rc=0 || rc=$?; echo "$rc" >"$TEST_DIR/create.$i") 3>&- &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	cat "$TEST_DIR"/create.* "$TEST_DIR"/err.* >&2
	[ "$(cat "$TEST_DIR"/create.* | grep -cx 0)" -eq 1 ]
	[ "$(cat "$TEST_DIR"/create.* | grep -cvx 0)" -eq 9 ]
	run --separate-stderr runtime list -q
	[ "$output" = "$CT" ]
	[ "$(status_of)" = created ]
	pid="$(state_of | jq -r .pid)"
	kill -0 "$pid"
	# Exactly one init is in the container's cgroup.
	[ "$(wc -l <"$(test_cgroups | grep /pids/ | head -n1)/cgroup.procs")" -eq 1 ]
	runtime start "$CT"
	wait_for_file "$HOST_DIR/started"
	[ "$(status_of)" = running ]
}

@test "parallel state and list calls during create and delete always see valid JSON" {
	set_cmd 'exec sleep 100'
	# state either fails (no container) or prints a JSON object; list always
	# prints JSON.
	(for _ in $(seq 30); do
		if out="$(runtime state "$CT" 2>/dev/null)"; then
			jq -e '.id' <<<"$out" >/dev/null || echo "bad state json: $out" >>"$TEST_DIR/bad"
		fi
		out="$(runtime list --format json 2>/dev/null)"
		[ -n "$out" ] && jq . <<<"$out" >/dev/null || echo "bad list json: $out" >>"$TEST_DIR/bad"
	done) 3>&- &
	reader=$!
	for i in 1 2 3; do
		run_detached
		runtime delete --force "$CT"
	done
	wait "$reader"
	[ ! -e "$TEST_DIR/bad" ] || fail "$(cat "$TEST_DIR/bad")"
}

@test "list shows creating during create; a create killed part way leaves a stopped container that delete removes" {
	skip_if_runc "1.1.5 shows no creating status and leaves an undeletable state dir"
	update_config '.hooks.createRuntime = [{"path": "/bin/sleep", "args": ["sleep", "3"]}]'
	snapshot_host
	"$RUNTIME" --root "$ROOT" create --bundle "$BUNDLE" "$CT" >/dev/null 2>&1 </dev/null &
	create_pid=$!
	# shellcheck disable=SC2030 # bats runs setup, the test and teardown in one process: nothing is lost
	BG_PIDS+=("$create_pid")
	for _ in $(seq 50); do
		[ "$(runtime list --format json | jq -r '.[0].status // empty')" = creating ] && break
		sleep 0.1
	done
	[ "$(runtime list --format json | jq -r '.[0].status')" = creating ]
	kill -KILL "$create_pid"
	wait "$create_pid" || true
	wait_for_status "$CT" stopped
	runtime delete "$CT"
	assert_nothing_left
}

@test "kill --all in a cgroup the container did not create spares the other processes there" {
	local cg="/sys/fs/cgroup/pids/nbt-shared-$$"
	mkdir "$cg"
	on_teardown "rmdir $cg"
	sleep 100 &
	host_pid=$!
	# shellcheck disable=SC2031 # bats runs setup, the test and teardown in one process: nothing is lost
	BG_PIDS+=("$host_pid")
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.cgroupsPath = $p | .process.args = ["sleep", "100"]' --arg p "/nbt-shared-$$"
	run_detached
	# The host process joins after create, which refuses a cgroup that is not empty.
	echo "$host_pid" >"$cg/cgroup.procs"
	runtime kill --all "$CT" KILL
	wait_for_status "$CT" stopped
	kill -0 "$host_pid"
	runtime delete "$CT"
	[ -d "$cg" ]
}
