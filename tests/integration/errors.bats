#!/usr/bin/env bats
# Bad input and failures during create: each fails with an error naming the
# problem and leaves nothing behind (runtime.md#errors: "as if the
# operation were never attempted").

load helpers

# create_fails WORD [ID]: create must fail, stderr must mention WORD
# (case-insensitive, | separates alternatives), nothing may be left.
create_fails() {
	local words="$1" id="${2-$CT}" w found=
	snapshot_host
	run --separate-stderr runtime create --bundle "$BUNDLE" "$id"
	[ "$status" -ne 0 ] || fail "create $id succeeded"
	[ -n "$stderr" ] || fail "no error message"
	IFS='|' read -ra alts <<<"$words"
	for w in "${alts[@]}"; do
		[[ "${stderr,,}" == *"${w,,}"* ]] && found=1
	done
	[ -n "$found" ] || fail "stderr does not name '$words': $stderr"
	assert_nothing_left
}

@test "container id with a slash is rejected" {
	create_fails "id" "a/b"
	[ ! -e "$ROOT/a" ]
}

@test "container id '..' is rejected" {
	create_fails "id" ".."
}

@test "container id '.' is rejected" {
	create_fails "id" "."
}

@test "empty container id is rejected" {
	create_fails "id" ""
}

@test "container id with a space is rejected" {
	create_fails "id" "a b"
}

@test "container id of 1025 characters is rejected" {
	create_fails "id|long" "$(printf 'a%.0s' $(seq 1025))"
}

@test "an id of letters, digits and _ - + . is accepted" {
	runtime create --bundle "$BUNDLE" "ok_-+.X9"
	[ "$(status_of "ok_-+.X9")" = created ]
}

@test "a missing bundle directory fails, naming the path" {
	# shellcheck disable=SC2030 # bats runs setup, the test and teardown in one process: nothing is lost
	local BUNDLE="$TEST_DIR/no-such-bundle"
	create_fails "no-such-bundle"
}

@test "a missing config.json fails, naming config.json" {
	# shellcheck disable=SC2031 # bats runs setup, the test and teardown in one process: nothing is lost
	rm "$BUNDLE/config.json"
	create_fails "config.json"
}

@test "an unreadable config.json (a directory) fails, naming config.json" {
	# shellcheck disable=SC2031 # bats runs setup, the test and teardown in one process: nothing is lost
	rm "$BUNDLE/config.json"
	# shellcheck disable=SC2031 # bats runs setup, the test and teardown in one process: nothing is lost
	mkdir "$BUNDLE/config.json"
	create_fails "config.json"
}

@test "invalid JSON in config.json fails with a JSON error" {
	# shellcheck disable=SC2031 # bats runs setup, the test and teardown in one process: nothing is lost
	echo '{"ociVersion": "1.0.2", not json}' >"$BUNDLE/config.json"
	create_fails "invalid character|json"
}

@test "truncated config.json fails" {
	# shellcheck disable=SC2031 # bats runs setup, the test and teardown in one process: nothing is lost
	head -c 40 "$BUNDLE/config.json" >"$BUNDLE/c" && mv "$BUNDLE/c" "$BUNDLE/config.json"
	create_fails "EOF|json"
}

@test "a missing rootfs fails, naming the rootfs" {
	# shellcheck disable=SC2031 # bats runs setup, the test and teardown in one process: nothing is lost
	rm -rf "$BUNDLE/rootfs"
	create_fails "rootfs"
}

@test "an unknown namespace type fails, naming it" {
	update_config '.linux.namespaces += [{"type": "foons"}]'
	create_fails "foons"
}

@test "a namespace path that does not exist fails, naming it" {
	update_config '.linux.namespaces |= map(if .type == "network" then .path = "/nonexistent/netns" else . end)'
	create_fails "/nonexistent/netns"
}

@test "a mount with an unknown filesystem type fails, naming the mount" {
	update_config '.mounts += [{"destination": "/badtype-mnt", "type": "nosuchfs", "source": "none"}]'
	create_fails "nosuchfs|badtype-mnt"
}

@test "a bind mount whose source does not exist fails, naming the source" {
	update_config '.mounts += [{"destination": "/m", "type": "bind", "source": "/nonexistent/src", "options": ["bind"]}]'
	create_fails "/nonexistent/src"
}

@test "a missing process fails, naming process" {
	update_config 'del(.process)'
	create_fails "process"
}

@test "a relative process.cwd fails, naming cwd" {
	update_config '.process.cwd = "relative/dir"'
	create_fails "cwd"
}

@test "an unknown rlimit type fails, naming it" {
	update_config '.process.rlimits += [{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}]'
	create_fails "RLIMIT_FOO"
}

@test "a net sysctl without a private network namespace fails, naming the sysctl" {
	update_config '.linux.namespaces |= map(select(.type != "network")) | .linux.sysctl = {"net.ipv4.ip_default_ttl": "33"}'
	host_ttl="$(cat /proc/sys/net/ipv4/ip_default_ttl)"
	create_fails "net.ipv4.ip_default_ttl"
	[ "$(cat /proc/sys/net/ipv4/ip_default_ttl)" = "$host_ttl" ]
}

@test "a hostname without a private uts namespace fails, naming hostname" {
	update_config '.linux.namespaces |= map(select(.type != "uts")) | .hostname = "nope"'
	host="$(hostname)"
	create_fails "hostname|uts"
	[ "$(hostname)" = "$host" ]
}

@test "run of a binary that does not exist fails, naming it, and leaves nothing" {
	update_config '.process.args = ["/no/such/binary"]'
	snapshot_host
	# shellcheck disable=SC2031 # bats runs setup, the test and teardown in one process: nothing is lost
	run --separate-stderr runtime run --bundle "$BUNDLE" "$CT"
	[ "$status" -ne 0 ]
	[[ "$stderr" == */no/such/binary* ]]
	assert_nothing_left
}

@test "create then start of a binary that does not exist fails at one of them, naming it" {
	update_config '.process.args = ["nosuchbinary"]'
	snapshot_host
	# shellcheck disable=SC2031 # bats runs setup, the test and teardown in one process: nothing is lost
	run --separate-stderr runtime create --bundle "$BUNDLE" "$CT"
	if [ "$status" -eq 0 ]; then
		run --separate-stderr runtime start "$CT"
		[ "$status" -ne 0 ]
		runtime delete --force "$CT"
	fi
	[[ "$stderr" == *nosuchbinary* ]]
	assert_nothing_left
}

# These wrap create in a 20s timeout: a runtime that waits forever for a
# dead init fails the test instead of hanging it.
@test "init killed by a createContainer hook (its parent): create fails, does not hang, leaves nothing" {
	# Without a pid namespace the init is not a namespace init, so SIGKILL
	# from a process in its namespace is not ignored.
	update_config '.linux.namespaces |= map(select(.type != "pid"))'
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.hooks.createContainer = [{"path": "/bin/sh", "args": ["sh", "-c", "kill -9 $PPID"]}]'
	snapshot_host
	SECONDS=0
	# shellcheck disable=SC2031 # bats runs setup, the test and teardown in one process: nothing is lost
	RUNTIME_TIMEOUT=20 run --separate-stderr runtime create --bundle "$BUNDLE" "$CT"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ] || fail "create hung (timed out)"
	[ "$SECONDS" -lt 20 ]
	assert_nothing_left
}

@test "init killed from the host by a createRuntime hook: create fails, does not hang, leaves nothing" {
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.hooks.createRuntime = [{"path": "/bin/sh", "args": ["sh", "-c",
		"kill -9 $(sed -n \"s/.*\\\"pid\\\": *\\([0-9]*\\).*/\\1/p\")"]}]'
	snapshot_host
	SECONDS=0
	# shellcheck disable=SC2031 # bats runs setup, the test and teardown in one process: nothing is lost
	RUNTIME_TIMEOUT=20 run --separate-stderr runtime create --bundle "$BUNDLE" "$CT"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ] || fail "create hung (timed out)"
	assert_nothing_left
}

@test "commands without a container id fail" {
	snapshot_host
	for op in start state kill delete; do
		run --separate-stderr runtime $op
		[ "$status" -ne 0 ] || fail "$op without id succeeded"
	done
	# shellcheck disable=SC2031 # bats runs setup, the test and teardown in one process: nothing is lost
	run --separate-stderr runtime create --bundle "$BUNDLE"
	[ "$status" -ne 0 ]
	assert_nothing_left
}

@test "process.terminal true fails, naming the field, instead of silently running without a terminal" {
	skip_if_runc "1.1.5 needs --console-socket for a terminal; nebulon has no terminal support yet"
	update_config '.process.terminal = true'
	create_fails "process.terminal"
}

@test "uid mappings the kernel refuses fail create with the field named, without hanging" {
	update_config '.linux.namespaces += [{"type": "user"}]
		| .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 0}]
		| .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]'
	create_fails "uidMappings|uid_map|mapping"
}

@test "a limit the host cannot honour fails create, naming it, instead of running unlimited" {
	skip_if_runc "1.1.5 skips hugepage sizes the host lacks"
	update_config '.linux.resources.hugepageLimits = [{"pageSize": "3MB", "limit": 1048576}]'
	create_fails "linux.resources.hugepageLimits[0]"
}

@test "a net sysctl aimed at the host's own network namespace through a joined path is refused" {
	update_config '.linux.namespaces |= map(if .type == "network" then .path = "/proc/self/ns/net" else . end)
		| .linux.sysctl = {"net.ipv4.ip_forward": "1"} | .hostname = ""'
	create_fails "sysctl"
}

@test "a hostname aimed at the host's own uts namespace through a joined path is refused" {
	skip_if_runc "1.1.5 would rename the host"
	update_config '.linux.namespaces |= map(if .type == "uts" then .path = "/proc/self/ns/uts" else . end)
		| .hostname = "renamed-host"'
	create_fails "hostname"
	[ "$(hostname)" != renamed-host ]
}
