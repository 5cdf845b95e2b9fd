#!/usr/bin/env bash
# Harness for the rootless suite: nebulon run by an unprivileged user the suite makes (useradd,
# with /etc/subuid and /etc/subgid ranges and an XDG_RUNTIME_DIR), on a host where nothing
# delegates cgroups to it. The runtime integration suite's helpers make the bundles and check for
# leftovers; `runtime` is redefined to run nebulon as that user, with no --root: the default,
# $XDG_RUNTIME_DIR/nebulon, is what is tested.
#
#   bats tests/rootless        # as root; $repo/bin/nebulon, or RUNTIME=

load ../integration/helpers
load ../lib/testuser

RL_USER=nbrootless
# The user's subordinate ids (/etc/subuid, /etc/subgid): host ids 300000-365535.
RL_SUB_START=300000
RL_SUB_COUNT=65536
# The build, copied to a directory of its own, owned by root, mode 0755: the user runs an
# installed nebulon, which the protection of the binary relies on (see the CVE-2019-5736 tests).
RL_BUILD="$RUNTIME"

# rl_remove_user: the user and all it left (remove_test_user).
rl_remove_user() { remove_test_user "$RL_USER" "$RL_SUB_START" "$RL_SUB_COUNT"; }

setup_file() {
	[ "$(id -u)" -eq 0 ] || skip "needs root: makes the unprivileged user the tests run as"
	[ -x "$RL_BUILD" ] || skip "runtime $RL_BUILD not built (set RUNTIME=)"
	command -v runuser >/dev/null || skip "needs runuser (util-linux)"
	RL_UID="$(add_test_user "$RL_USER" "$RL_SUB_START" "$RL_SUB_COUNT")" || fail "useradd $RL_USER"
	RL_GID="$(id -g "$RL_USER")"
	RL_XDG="/run/user/$RL_UID"
	RL_BIN_DIR="$(mktemp -d /tmp/nebulon-rlbin.XXXXXX)"
	chmod 0755 "$RL_BIN_DIR"
	install -m 0755 -o root -g root "$RL_BUILD" "$RL_BIN_DIR/nebulon"
	export RL_UID RL_GID RL_XDG RL_BIN_DIR
}

teardown_file() {
	rl_remove_user
	[ -z "${RL_BIN_DIR:-}" ] || rm -rf "$RL_BIN_DIR"
}

setup() {
	[ -n "${RL_UID:-}" ] || skip "setup_file did not make the user"
	RUNTIME="$RL_BIN_DIR/nebulon"
	TEST_DIR="$(mktemp -d /tmp/nebulon-rl.XXXXXX)"
	chmod 0755 "$TEST_DIR"
	# shellcheck disable=SC2034 # ROOT and CT are read by the integration suite's helpers
	ROOT="$RL_XDG/nebulon"
	BUNDLE="$TEST_DIR/bundle"
	HOST_DIR="$TEST_DIR/host"
	# shellcheck disable=SC2034
	CT="nbrl${BATS_TEST_NUMBER}-$$"
	# shellcheck disable=SC2034 # CLEANUP and BG_PIDS are read by run_cleanups (integration helpers)
	CLEANUP=()
	# shellcheck disable=SC2034
	BG_PIDS=()
	mkdir -p "$BUNDLE" "$HOST_DIR" "$TEST_DIR/io"
	cp -a "$(template_rootfs)" "$BUNDLE/rootfs"
	rm -f "$BUNDLE/rootfs/.done"
	chown -R "$RL_UID:$RL_GID" "$BUNDLE" "$TEST_DIR/io"
	as_user "$RUNTIME" spec --rootless --bundle "$BUNDLE" || fail "spec --rootless failed"
	update_config '.process.terminal = false | .process.args = ["true"]'
}

teardown() {
	[ -n "${TEST_DIR:-}" ] || return 0
	local id
	for id in $(runtime list -q 2>/dev/null); do
		runtime delete --force "$id" >/dev/null 2>&1
	done
	run_cleanups
	rm -rf "$TEST_DIR"
}

# as_user CMD...: CMD as the user, with the environment a login gives it (and no more): HOME,
# USER, PATH, XDG_RUNTIME_DIR. Bounded, so a hung command fails the test.
as_user() {
	runuser -u "$RL_USER" -- env -i HOME="/home/$RL_USER" USER="$RL_USER" LOGNAME="$RL_USER" \
		PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin XDG_RUNTIME_DIR="$RL_XDG" \
		timeout -k 5 "$RUNTIME_TIMEOUT" "$@"
}

# runtime ARGS...: nebulon ARGS as the user, default --root; stdout and stderr through files, as
# the integration suite's runtime() does, so a detached container never holds a bats pipe.
runtime() {
	local out err rc
	out="$(mktemp -p "$TEST_DIR/io")"
	err="$(mktemp -p "$TEST_DIR/io")"
	chown "$RL_UID" "$out" "$err"
	as_user "$RUNTIME" "$@" >"$out" 2>"$err" </dev/null 3>&-
	rc=$?
	cat "$out"
	cat "$err" >&2
	return $rc
}

# map_subids: uids and gids 0 the user's own, 1-65536 its subordinate range (newuidmap).
map_subids() {
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.uidMappings = [{"containerID": 0, "hostID": $u, "size": 1},
			{"containerID": 1, "hostID": $s, "size": $n}]
		| .linux.gidMappings = [{"containerID": 0, "hostID": $g, "size": 1},
			{"containerID": 1, "hostID": $s, "size": $n}]' \
		--argjson u "$RL_UID" --argjson g "$RL_GID" --argjson s "$RL_SUB_START" --argjson n "$RL_SUB_COUNT"
}

# user_host_dir: $HOST_DIR at /host, writable by the container.
user_host_dir() {
	use_host_dir
	chown "$RL_UID:$RL_GID" "$HOST_DIR"
}
