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

	run state_of
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<<"$output")" = created ]
	pid="$(jq -r .pid <<<"$output")"
	[ "$pid" -gt 0 ]
	[ -d "/proc/$pid" ]
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
	run runtime state "$CT"
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<<"$output")" = stopped ]

	runtime delete "$CT"
	run runtime state "$CT"
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
	[ -d "$ROOT/$CT" ] || [ -n "$(ls -A "$ROOT")" ]
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
	run runtime state "$CT"
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
	run runtime state "$CT"
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
