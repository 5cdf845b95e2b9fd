#!/usr/bin/env bats
# linux.seccomp user notification: the listener fd of every process that
# loads the filter reaches listenerPath with the container process state
# (config-linux.md), and the agent there answers the notified syscalls.

load helpers

AGENT="${SECCOMPAGENT:-$REPO_ROOT/bin/seccompagent}"

setup() {
	setup_bundle
	[ -x "$AGENT" ] || skip "$AGENT not built (make bin/seccompagent)"
	update_config '.root.readonly = false | .annotations = {"org.example.key": "value"}'
	AGENT_DIR="$TEST_DIR/agent"
	mkdir -p "$AGENT_DIR"
	SOCK="$TEST_DIR/agent.sock"
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
		"listenerPath": $sock, "listenerMetadata": "nebulon-test-metadata",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}' --arg sock "$SOCK"
}

# agent_bg FLAGS...: the agent, listening on $SOCK, writing to $AGENT_DIR.
agent_bg() {
	"$AGENT" --state-dir "$AGENT_DIR" --ready-file "$TEST_DIR/agent.ready" "$@" "$SOCK" \
		>"$TEST_DIR/agent.out" 2>"$TEST_DIR/agent.err" </dev/null 3>&- &
	BG_PIDS+=($!)
	wait_for_file "$TEST_DIR/agent.ready"
}

@test "seccomp notify: the init's listener fd reaches listenerPath with the container process state" {
	agent_bg --errno mkdirat=ENOSPC --errno mkdir=ENOSPC
	set_cmd 'mkdir /a; echo "rc=$?"'
	runtime create -b "$BUNDLE" "$CT"
	local st pid
	wait_for_file "$AGENT_DIR/state-1.json"
	st="$(cat "$AGENT_DIR/state-1.json")"
	echo "$st"
	pid="$(state_of | jq -r .pid)"
	[ "$(jq -r '.fds | join(",")' <<<"$st")" = seccompFd ]
	[ "$(cat "$AGENT_DIR/fds-1")" = 1 ]
	[ "$(jq -r .metadata <<<"$st")" = nebulon-test-metadata ]
	[ "$(jq -r .pid <<<"$st")" = "$pid" ]
	[ "$(jq -r .state.id <<<"$st")" = "$CT" ]
	[ "$(jq -r .state.status <<<"$st")" = creating ]
	[ "$(jq -r .state.pid <<<"$st")" = "$pid" ]
	[ "$(jq -r .state.bundle <<<"$st")" = "$BUNDLE" ]
	[ "$(jq -r '.state.annotations["org.example.key"]' <<<"$st")" = value ]
	[ -n "$(jq -r .ociVersion <<<"$st")" ]

	run runtime start "$CT"
	wait_for_status "$CT" stopped
	# The agent answered the container's mkdir (a child of its sh): ENOSPC, and no directory.
	echo "agent log: $(cat "$AGENT_DIR/log")"
	grep -Eq "^mkdir(at)? [0-9]+$" "$AGENT_DIR/log"
	[ ! -d "$BUNDLE/rootfs/a" ]
}

@test "seccomp notify: the agent's answers reach the process: an errno, a success that did nothing, the real call" {
	agent_bg --errno mkdir=EROFS --errno mkdirat=EROFS
	ct_run 'mkdir /a 2>&1; echo "rc=$?"'
	[[ "$output" == *"Read-only file system"*"rc=1"* ]]
	[ ! -d "$BUNDLE/rootfs/a" ]
	kill "${BG_PIDS[-1]}"
	wait "${BG_PIDS[-1]}" || true

	# No answer configured: the call "succeeds" without running.
	rm -f "$TEST_DIR/agent.ready" "$AGENT_DIR"/*
	agent_bg
	ct_run 'mkdir /a && echo "rc=$?"; ls -d /a 2>&1'
	[[ "$output" == *"rc=0"*"No such file or directory"* ]]
	kill "${BG_PIDS[-1]}"
	wait "${BG_PIDS[-1]}" || true

	# --allow: the kernel runs it.
	rm -f "$TEST_DIR/agent.ready" "$AGENT_DIR"/*
	agent_bg --allow mkdir --allow mkdirat
	ct_run 'mkdir /a && ls -d /a'
	[ "$output" = /a ]
	[ -d "$BUNDLE/rootfs/a" ]
}

@test "seccomp notify: an exec'd process's listener fd reaches the agent too, with status running" {
	agent_bg --errno mkdirat=EDQUOT --errno mkdir=EDQUOT
	use_host_dir
	set_cmd 'touch /host/ready; exec sleep 1000'
	run_detached
	wait_for_file "$HOST_DIR/ready"
	wait_for_file "$AGENT_DIR/state-1.json"
	run runtime exec "$CT" sh -c 'mkdir /b 2>&1; echo "rc=$?"'
	echo "$output"
	[[ "$output" == *"Disk quota exceeded"*"rc=1"* ]]
	wait_for_file "$AGENT_DIR/state-2.json"
	local st
	st="$(cat "$AGENT_DIR/state-2.json")"
	[ "$(jq -r .state.status <<<"$st")" = running ]
	[ "$(jq -r .state.pid <<<"$st")" = "$(state_of | jq -r .pid)" ]
	[ "$(jq -r .pid <<<"$st")" != "$(state_of | jq -r .pid)" ]
	[ ! -d "$BUNDLE/rootfs/b" ]
}

@test "seccomp notify with noNewPrivileges and startContainer hooks: the listener reaches the agent at start, after the hooks" {
	skip_if_runc "1.1.5 loads the filter before the startContainer hooks, at create"
	agent_bg --errno mkdirat=ENOSPC --errno mkdir=ENOSPC
	use_host_dir
	update_config '.process.noNewPrivileges = true
		| .hooks.startContainer = [{"path": "/bin/sh", "args": ["sh", "-c", "mkdir /by-hook"]}]'
	set_cmd '(mkdir /by-user 2>/host/user.err); echo "rc=$?" > /host/user.rc'
	runtime create -b "$BUNDLE" "$CT"
	# The filter is not on yet: the agent has a connection, but nothing on it.
	[ ! -e "$AGENT_DIR/state-1.json" ] || fail "the listener reached the agent at create"
	runtime start "$CT"
	wait_for_file "$HOST_DIR/user.rc"
	local st
	st="$(cat "$AGENT_DIR/state-1.json")"
	echo "$st"
	[ "$(cat "$AGENT_DIR/fds-1")" = 1 ]
	[ "$(jq -r .state.status <<<"$st")" = created ]
	[ "$(jq -r .pid <<<"$st")" = "$(jq -r .state.pid <<<"$st")" ]
	[ "$(jq -r .metadata <<<"$st")" = nebulon-test-metadata ]
	# The hook's mkdir ran unfiltered; the process's was answered by the agent.
	[ -d "$BUNDLE/rootfs/by-hook" ]
	[ "$(cat "$HOST_DIR/user.rc")" = rc=1 ]
	grep -q "No space left on device" "$HOST_DIR/user.err"
	[ ! -e "$BUNDLE/rootfs/by-user" ]
	[ ! -e "$AGENT_DIR/state-2.json" ]
}

@test "seccomp notify: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is accepted with a listener" {
	skip_if_runc "1.1.5: seccomp flags are not yet supported by runc"
	grep -q SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV <<<"$(runtime features)" || skip "kernel $(uname -r) lacks it"
	update_config '.linux.seccomp.flags = ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_LOG"]'
	agent_bg --errno mkdir=ENOSPC --errno mkdirat=ENOSPC
	ct_run 'mkdir /a 2>&1; echo "rc=$?"'
	[[ "$output" == *"No space left on device"*"rc=1"* ]]
}

@test "seccomp notify: a listenerPath nobody listens on fails create, naming it, and leaves nothing" {
	snapshot_host
	run --separate-stderr runtime create -b "$BUNDLE" "$CT"
	# shellcheck disable=SC2154 # set by bats' run
	echo "$stderr"
	[ "$status" -ne 0 ]
	if ! is_runc; then
		[[ "$stderr" == *"linux.seccomp.listenerPath"*"$SOCK"* ]]
	fi
	assert_nothing_left
}

@test "seccomp notify of the syscalls the init talks to the runtime with: create and exec hand the listener over, no hang" {
	# The init and an exec'd process's init pass the listener's number over their sync socket
	# after the filter is on, with write(2), which SCMP_ACT_NOTIFY may not name (runc refuses it
	# too); the runtime takes the fd and gives it to the agent before it answers. Every other
	# call the two make on the socket may be notified: the agent has the listener by then.
	local calls='["read", "readv", "writev", "recvmsg", "sendmsg", "recvfrom", "sendto"]'
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.seccomp.syscalls += [{"names": $calls, "action": "SCMP_ACT_NOTIFY"}]' --argjson calls "$calls"
	agent_bg --allow read --allow readv --allow writev --allow recvmsg --allow sendmsg \
		--allow recvfrom --allow sendto
	use_host_dir
	set_cmd 'echo started > /host/ready; exec sleep 1000'
	local t0 t1
	t0=$(date +%s%N)
	timeout 30 "$RUNTIME" --root "$ROOT" create -b "$BUNDLE" "$CT" || fail "create failed or hung (status $?)"
	t1=$(date +%s%N)
	echo "create took $(((t1 - t0) / 1000000)) ms"
	runtime start "$CT"
	wait_for_file "$HOST_DIR/ready"
	[ "$(cat "$HOST_DIR/ready")" = started ]
	run timeout 30 "$RUNTIME" --root "$ROOT" exec "$CT" sh -c 'echo exec ran'
	echo "exec: status $status: $output"
	[ "$status" -eq 0 ]
	[ "$output" = "exec ran" ]
	# The agent got both listeners, and was asked about the calls made after it got them.
	wait_for_file "$AGENT_DIR/state-2.json"
	echo "agent log: $(sort "$AGENT_DIR/log" | uniq -c)"
	grep -Eq "^(read|recvmsg|sendmsg|recvfrom|sendto) [0-9]+$" "$AGENT_DIR/log" || fail "no notified call reached the agent"
}
