#!/usr/bin/env bats
# Rootless podman with nebulon as its runtime (podman --runtime), run by the suite's unprivileged
# user on this host, which delegates no cgroup to it (cgroup v1, no systemd): the container's
# lifecycle, exec and logs, --userns=keep-id, and a memory limit podman drops with a warning,
# as it cannot apply it. The user's podman storage goes with the user (teardown_file).

load helpers

PM_IMAGE=localhost/nbrootless-busybox:latest

setup() {
	[ -n "${RL_UID:-}" ] || skip "setup_file did not make the user"
	command -v podman >/dev/null || skip "podman is not installed (tests/install-deps.sh test)"
	RUNTIME="$RL_BIN_DIR/nebulon"
	TEST_DIR="$(mktemp -d /tmp/nebulon-rlpm.XXXXXX)"
	# The image, once per file: the engine suite's busybox root filesystem, imported into the
	# user's storage (no network).
	if [ ! -e "$BATS_FILE_TMPDIR/imported" ]; then
		"$BATS_TEST_DIRNAME/../engines/mkimage.sh" rootfs "$TEST_DIR/image.tar" || fail "mkimage.sh"
		pm import - "$PM_IMAGE" <"$TEST_DIR/image.tar" >/dev/null || fail "podman import as $RL_USER"
		touch "$BATS_FILE_TMPDIR/imported"
	fi
}

teardown() {
	[ -n "${TEST_DIR:-}" ] || return 0
	pm rm -af -t 0 >/dev/null 2>&1
	rm -rf "$TEST_DIR"
}

teardown_file() {
	# The user's storage and podman's pause process, then the user with its home.
	[ -z "${RL_UID:-}" ] || pm system reset -f >/dev/null 2>&1
	rl_remove_user
	[ -z "${RL_BIN_DIR:-}" ] || rm -rf "$RL_BIN_DIR"
}

# pm ARGS...: podman as the user, on nebulon, without systemd (cgroupfs) and with its events in
# a file (there is no journal to write to).
pm() {
	(cd / && as_user podman --runtime "$RUNTIME" --cgroup-manager cgroupfs --events-backend file "$@")
}

# assert_no_containers: podman knows no container, and nebulon holds none in the state root
# podman gives it.
assert_no_containers() {
	run pm ps -aq
	[ "$status" -eq 0 ] || fail "podman ps -aq: $status $output"
	[ -z "$output" ] || fail "containers left: $output"
	local left
	left="$(find "$RL_XDG" -path '*/nebulon/*' -maxdepth 3 -mindepth 2 -type d 2>/dev/null)"
	[ -z "$left" ] || fail "nebulon state left: $left"
}

@test "rootless podman: run, exec, logs, stop and rm on nebulon, without a cgroup" {
	run pm run --rm --network none "$PM_IMAGE" sh -c 'echo out; exit 3'
	[ "$status" -eq 3 ] && [ "$output" = out ] || fail "run --rm: status $status, output $output"
	run pm run -d --name nbrlpm --network none "$PM_IMAGE" sh -c 'echo hello from nebulon; exec sleep 600'
	[ "$status" -eq 0 ] || fail "run -d: $output"
	run pm inspect --format '{{.OCIRuntime}}' nbrlpm
	[[ "$output" == *nebulon ]] || fail "podman ran the container with runtime $output, want nebulon"
	# The user is root of the container's user namespace; its processes run as the user's ids.
	run pm exec nbrlpm id -u
	[ "$status" -eq 0 ] && [ "$output" = 0 ] || fail "exec id -u: $status $output"
	run pm exec nbrlpm sh -c 'exit 7'
	[ "$status" -eq 7 ] || fail "exec exit status $status, want 7"
	pid="$(pm inspect --format '{{.State.Pid}}' nbrlpm)"
	[ "$(stat -c %u "/proc/$pid")" = "$RL_UID" ] || fail "the init runs as host uid $(stat -c %u "/proc/$pid"), want $RL_UID"
	run pm logs nbrlpm
	[ "$output" = "hello from nebulon" ] || fail "logs: $output"
	pm stop -t 2 nbrlpm >/dev/null || fail "stop"
	run pm inspect --format '{{.State.Status}}' nbrlpm
	[ "$output" = exited ] || fail "after stop: status $output"
	pm rm nbrlpm >/dev/null || fail "rm"
	assert_no_containers
}

@test "rootless podman: --userns=keep-id runs the process as the user's own uid" {
	run pm run --rm --network none --userns=keep-id "$PM_IMAGE" sh -c 'id -u; id -g; cat /proc/self/uid_map'
	[ "$status" -eq 0 ] || fail "run --userns=keep-id: $output"
	local gid
	gid="$(id -g "$RL_USER")"
	[ "${lines[0]} ${lines[1]}" = "$RL_UID $gid" ] || fail "id -u, id -g: ${lines[0]} ${lines[1]}, want $RL_UID $gid"
	# The user's uid is itself inside, and its subordinate ids are mapped around it.
	[[ "$output" == *"$RL_UID "*" 0 "* ]] || fail "uid_map: $output"
	assert_no_containers
}

@test "rootless podman: -m on cgroup v1 is dropped by podman with its warning, and leaves nothing" {
	[ "$(stat -f -c %T /sys/fs/cgroup)" != cgroup2fs ] || skip "cgroup v2 host: rootless podman may apply -m there"
	# podman itself drops resource limits where cgroups v1 delegate none to a user, and says so;
	# the container runs without a cgroup of its own, in the user's.
	run pm run --rm --network none -m 32m "$PM_IMAGE" sh -c 'echo ran; grep memory /proc/self/cgroup'
	echo "$output"
	[ "$status" -eq 0 ] || fail "run -m 32m: status $status"
	[[ "$output" == *"Resource limits are not supported and ignored on cgroups V1 rootless systems"* ]] ||
		fail "no warning that the limit is ignored"
	[[ "$output" == *ran* ]] || fail "the container did not run"
	[[ "$output" != *libpod* ]] || fail "the container has a libpod cgroup: $output"
	assert_no_containers
}
