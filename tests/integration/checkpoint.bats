#!/usr/bin/env bats
# checkpoint and restore on the build host, whose kernel (6.18) Debian's CRIU 3.17 cannot start
# on ("Failed to fill self vdso symtable"): what needs no CRIU run, features and refusals. The
# checkpoints and restores themselves are tests/cgroupv2/checkpoint_linux_test.go's, in a guest
# with a kernel CRIU runs on.

load helpers

@test "features says checkpoint and restore are there, as runc's does" {
	run --separate-stderr "$RUNTIME" features
	# shellcheck disable=SC2154 # set by bats' run
	[ "$status" -eq 0 ] || fail "features failed: $stderr"
	[ "$(jq -r '.annotations["org.opencontainers.runc.checkpoint.enabled"]' <<<"$output")" = true ] ||
		fail "no org.opencontainers.runc.checkpoint.enabled=true in $output"
	# runc lists it from 1.2 on; the runc 1.1 of these machines has no such list.
	is_runc || jq -e '.potentiallyUnsafeConfigAnnotations | index("org.criu.config")' <<<"$output" >/dev/null ||
		fail "org.criu.config is not among the potentially unsafe annotations"
}

@test "restore from a missing image directory: an error naming it, nothing made" {
	skip_if_runc "runc makes the missing image directory, then fails on its descriptors.json"
	refused "*--image-path*$TEST_DIR/none*no such file or directory*" \
		restore -d --image-path "$TEST_DIR/none" -b "$BUNDLE" "$CT"
	[ ! -e "$TEST_DIR/none" ] || fail "restore made the image directory"
}

@test "checkpoint where CRIU cannot run: CRIU's error, the container untouched" {
	skip_if_runc "checks nebulon's message"
	command -v criu >/dev/null || skip "criu is not installed"
	if criu check >/dev/null 2>&1; then
		skip "CRIU runs on this kernel (tests/cgroupv2 checkpoints for real)"
	fi
	set_cmd 'sleep 600'
	run_detached
	run --separate-stderr runtime checkpoint --image-path "$TEST_DIR/ck" "$CT"
	echo "status $status, stderr: $stderr"
	[ "$status" -ne 0 ] || fail "checkpoint succeeded"
	# CRIU answers its version, then fails as its dump starts: the error quotes CRIU's log.
	[[ "$stderr" == *"criu failed"*"CRIU's log $TEST_DIR/ck/dump.log"*"Error ("* ]] ||
		fail "the error does not quote CRIU's log"
	[ "$(status_of)" = running ] || fail "the container is $(status_of) after the failed checkpoint"
	runtime exec "$CT" true || fail "exec into the container failed after the failed checkpoint"
}

@test "restore --lsm-profile of an unknown LSM: an error naming it, nothing made" {
	skip_if_runc "runc hands any --lsm-profile to CRIU"
	command -v criu >/dev/null || skip "criu is not installed"
	mkdir "$TEST_DIR/ck"
	refused "*--lsm-profile*bogus*apparmor or selinux*" \
		restore -d --lsm-profile bogus --lsm-mount-context system_u:object_r:container_file_t:s0 \
		--image-path "$TEST_DIR/ck" -b "$BUNDLE" "$CT"
}

@test "checkpoint with a bad --work-path: an error naming it, no image directory made" {
	skip_if_runc "runc makes the image directory first"
	command -v criu >/dev/null || skip "criu is not installed"
	set_cmd 'sleep 600'
	run_detached
	run --separate-stderr runtime checkpoint --work-path "$TEST_DIR/no/such/work" --image-path "$TEST_DIR/ck" "$CT"
	echo "status $status, stderr: $stderr"
	[ "$status" -ne 0 ] || fail "checkpoint succeeded"
	[[ "$stderr" == *"--work-path"*"$TEST_DIR/no/such/work"*"no such file or directory"* ]] ||
		fail "the error does not name --work-path"
	[ ! -e "$TEST_DIR/ck" ] || fail "checkpoint made the image directory"
	[ "$(status_of)" = running ] || fail "the container is $(status_of) after the refused checkpoint"
}

@test "restore with linux.netDevices: an error naming it, nothing made" {
	skip_if_runc "runc's restore skips linux.netDevices"
	command -v criu >/dev/null || skip "criu is not installed"
	mkdir "$TEST_DIR/ck"
	update_config '.linux.netDevices = {"lo": {}}'
	refused "*linux.netDevices*restore cannot move interfaces*" \
		restore -d --image-path "$TEST_DIR/ck" -b "$BUNDLE" "$CT"
}

@test "refused checkpoints: an error naming the flag or state, no image directory, the container untouched" {
	skip_if_runc "checks nebulon's messages"
	command -v criu >/dev/null || skip "criu is not installed"
	set_cmd 'sleep 600'
	create_ct
	run --separate-stderr runtime checkpoint --image-path "$TEST_DIR/ck" "$CT"
	echo "created: status $status, stderr: $stderr"
	[ "$status" -ne 0 ] || fail "checkpoint of a created container succeeded"
	[[ "$stderr" == *"cannot be checkpointed in the created state"* ]] || fail "the error does not name the created state"
	runtime start "$CT" || fail "start failed"
	local args
	for args in "--manage-cgroups-mode hard" "--page-server nowhere" "--status-fd 1" "--empty-ns pid"; do
		# shellcheck disable=SC2086 # a flag and its value
		run --separate-stderr runtime checkpoint --image-path "$TEST_DIR/ck" $args "$CT"
		echo "$args: status $status, stderr: $stderr"
		[ "$status" -ne 0 ] || fail "checkpoint $args succeeded"
		[[ "$stderr" == *"${args%% *}"* ]] || fail "checkpoint $args: the error does not name ${args%% *}"
	done
	[ ! -e "$TEST_DIR/ck" ] || fail "a refused checkpoint made the image directory"
	[ "$(status_of)" = running ] || fail "the container is $(status_of) after the refused checkpoints"
}
