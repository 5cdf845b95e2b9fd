#!/usr/bin/env bats
# linux.seccomp: actions, errnoRet, argument conditions, flags, unknown
# names, the filter on exec'd processes, when it is loaded, and refusals.
# The user-notification listener is tested in seccomp_notify.bats.

load helpers

setup() {
	setup_bundle
	update_config '.root.readonly = false'
}

# seccomp JSON: set linux.seccomp.
seccomp() {
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.seccomp = $s' --argjson s "$1"
}

# deny_mkdir ACTION [EXTRA_JSON]: defaultAction ALLOW, mkdir and mkdirat get
# ACTION (EXTRA_JSON merged into the rule).
deny_mkdir() {
	seccomp "$(jq -n --arg a "$1" --argjson x "${2:-{\}}" '{defaultAction: "SCMP_ACT_ALLOW",
		syscalls: [{names: ["mkdir", "mkdirat"], action: $a} + $x]}')"
}

@test "seccomp: SCMP_ACT_ERRNO returns EPERM by default, errnoRet when given; other syscalls run" {
	deny_mkdir SCMP_ACT_ERRNO
	ct_run 'mkdir /a; echo "rc=$?"; touch /f && echo touched; grep -E "^(Seccomp|Seccomp_filters):" /proc/self/status'
	[ "$status" -eq 0 ]
	[[ "$output" == *"mkdir: can't create directory '/a': Operation not permitted"* ]]
	[[ "$output" == *"rc=1"*"touched"* ]]
	[[ "$output" == *"Seccomp:"*"2"* ]]

	deny_mkdir SCMP_ACT_ERRNO '{"errnoRet": 28}'
	ct_run 'mkdir /a'
	[[ "$output" == *"No space left on device"* ]]
	[ ! -d "$BUNDLE/rootfs/a" ]
}

@test "seccomp: a filter that denies what the init needs after loading it fails create clearly and leaves nothing" {
	skip_if_runc "1.1.5 loads the filter after create has returned: its start fails instead"
	# Everything is denied, execve and the init's own writes included.
	seccomp '{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1}'
	refused '*linux.seccomp*' create -b "$BUNDLE" "$CT"
}

@test "seccomp: SCMP_ACT_KILL_PROCESS, KILL_THREAD, KILL and TRAP end the process with SIGSYS" {
	local a
	for a in SCMP_ACT_KILL_PROCESS SCMP_ACT_KILL_THREAD SCMP_ACT_KILL SCMP_ACT_TRAP; do
		deny_mkdir "$a"
		set_cmd 'mkdir /a'
		run runtime run -b "$BUNDLE" "$CT"
		echo "$a: status $status"
		# 128 + SIGSYS (31)
		[ "$status" -eq 159 ]
		[ ! -d "$BUNDLE/rootfs/a" ]
	done
}

@test "seccomp: SCMP_ACT_LOG and SCMP_ACT_ALLOW rules let the syscall run" {
	seccomp '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_LOG"}]}'
	update_config '.linux.seccomp.defaultAction = "SCMP_ACT_ALLOW" | .linux.seccomp.syscalls += [{"names": ["rmdir"], "action": "SCMP_ACT_ALLOW"}]'
	ct_run 'mkdir /a && echo made'
	[ "$status" -eq 0 ]
	[[ "$output" == *made* ]]
	[ -d "$BUNDLE/rootfs/a" ]
}

@test "seccomp: argument conditions: EQ and MASKED_EQ on chmod's mode" {
	# fchmodat(dirfd, path, mode): mode is argument 2; chmod(path, mode): 1.
	seccomp '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
		{"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 2, "value": 511, "op": "SCMP_CMP_EQ"}]},
		{"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 511, "op": "SCMP_CMP_EQ"}]},
		{"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22, "args": [{"index": 2, "value": 2, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}]},
		{"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22, "args": [{"index": 1, "value": 2, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}]}]}'
	ct_run 'touch /f; chmod 755 /f && echo 755-ok; chmod 777 /f || echo 777-denied; chmod 642 /f || echo o+w-denied; stat -c %a /f'
	[ "$status" -eq 0 ]
	[[ "$output" == *"755-ok"* ]]
	[[ "$output" == *"777-denied"* ]]
	[[ "$output" == *"Invalid argument"*"o+w-denied"* ]]
	[ "$(tail -n 1 <<<"$output")" = 755 ]
}

@test "seccomp: conditions on one argument are alternatives, on several arguments all must hold" {
	# Two conditions on arg 2: mode 0777 or 0700 is denied.
	seccomp '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
		{"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "args": [
			{"index": 2, "value": 511, "op": "SCMP_CMP_EQ"}, {"index": 2, "value": 448, "op": "SCMP_CMP_EQ"}]},
		{"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "args": [
			{"index": 1, "value": 511, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 448, "op": "SCMP_CMP_EQ"}]}]}'
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	ct_run 'touch /f; for m in 777 700 755; do chmod $m /f && echo "$m ok" || echo "$m denied"; done'
	[[ "$output" == *"777 denied"*"700 denied"*"755 ok"* ]]
	# Conditions on both arguments of kill(pid, sig): only kill(1, 0) is denied.
	seccomp '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
		{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [
			{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}]}'
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	ct_run 'sleep 100 & p=$!; kill -0 1 && echo "1,0 ok" || echo "1,0 denied";
		kill -0 $p && echo "p,0 ok"; kill -CONT 1 && echo "1,CONT ok"; kill $p'
	[[ "$output" == *"1,0 denied"*"p,0 ok"*"1,CONT ok"* ]]
}

@test "seccomp: a syscall name this architecture lacks is skipped; the rest of the rule applies" {
	seccomp '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
		{"names": ["no_such_syscall", "arm_fadvise64_64", "mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}'
	ct_run 'mkdir /a'
	[ "$status" -ne 0 ]
	[[ "$output" == *"Operation not permitted"* ]]
}

@test "seccomp: flags LOG and SPEC_ALLOW and extra architectures are accepted" {
	skip_if_runc "1.1.5: seccomp flags are not yet supported by runc"
	seccomp '{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
		"flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}'
	ct_run 'mkdir /a; grep ^Seccomp: /proc/self/status'
	[[ "$output" == *"Operation not permitted"* ]]
	[[ "$output" == *"Seccomp:"*"2"* ]]
}

@test "seccomp: the filter is loaded after the runtime's own setup: its mounts, hostname, user and capabilities" {
	update_config '.process.noNewPrivileges = true | .process.user = {"uid": 1000, "gid": 1000, "additionalGids": [10]}
		| .hostname = "sandboxed"'
	seccomp '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mount", "umount2", "pivot_root",
		"sethostname", "setgroups", "setresuid", "setresgid", "capset", "chdir", "prctl", "keyctl", "unshare", "setns", "close_range"],
		"action": "SCMP_ACT_ERRNO"}]}'
	ct_run 'id; hostname; grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status'
	[ "$status" -eq 0 ]
	[[ "$output" == *"uid=1000 gid=1000 groups=10"* ]]
	[[ "$output" == *"sandboxed"* ]]
	[[ "$output" == *"NoNewPrivs:"*"1"*"Seccomp:"*"2"* ]]
}

@test "seccomp: a filter that denies getcwd, as the conformance suite's does, still lets the container start" {
	seccomp '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]}'
	ct_run 'echo started; cat /proc/self/status | grep ^Seccomp:'
	[ "$status" -eq 0 ]
	[[ "$output" == *started*"Seccomp:"*"2"* ]]
}

@test "seccomp: without noNewPrivileges the filter is loaded while privileged and no_new_privs stays off" {
	update_config '.process.noNewPrivileges = false'
	deny_mkdir SCMP_ACT_ERRNO
	ct_run 'mkdir /a; grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status'
	[[ "$output" == *"Operation not permitted"* ]]
	[[ "$output" == *"NoNewPrivs:"*"0"*"Seccomp:"*"2"* ]]
}

@test "seccomp: an exec'd process gets the container's filter" {
	deny_mkdir SCMP_ACT_ERRNO '{"errnoRet": 28}'
	use_host_dir
	set_cmd 'touch /host/ready; exec sleep 1000'
	run_detached
	wait_for_file "$HOST_DIR/ready"
	run runtime exec "$CT" sh -c 'mkdir /b; grep ^Seccomp: /proc/self/status'
	[[ "$output" == *"No space left on device"* ]]
	[[ "$output" == *"Seccomp:"*"2"* ]]
	[ ! -d "$BUNDLE/rootfs/b" ]
}

# seccomp_refused PATTERN JSON: create with linux.seccomp = JSON is refused
# (see refused).
seccomp_refused() {
	seccomp "$2"
	refused "$1" create -b "$BUNDLE" "$CT"
}

@test "seccomp: an unknown action, operator, architecture or flag fails create, naming the field" {
	seccomp_refused '*linux.seccomp.syscalls\[0\].action*SCMP_ACT_NOPE*' \
		'{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOPE"}]}'
	seccomp_refused '*linux.seccomp.defaultAction*SCMP_ACT_NOPE*' '{"defaultAction": "SCMP_ACT_NOPE"}'
	seccomp_refused '*linux.seccomp.syscalls\[1\].args\[0\].op*SCMP_CMP_NOPE*' \
		'{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
		{"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 1, "op": "SCMP_CMP_NOPE"}]}]}'
	seccomp_refused '*linux.seccomp.architectures\[0\]*SCMP_ARCH_NOPE*' '{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_NOPE"]}'
	seccomp_refused '*linux.seccomp.flags\[0\]*NOPE*' '{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]}'
}

@test "seccomp: SCMP_ACT_NOTIFY without a listenerPath fails create, naming the field" {
	seccomp_refused '*linux.seccomp*listenerPath*' \
		'{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}'
}

@test "features reports seccomp enabled with every action, operator and the flags this kernel has" {
	skip_if_runc "1.1.5 reports no seccomp flags"
	run runtime features
	[ "$status" -eq 0 ]
	local s
	s="$(jq -c .linux.seccomp <<<"$output")"
	[ "$(jq -r .enabled <<<"$s")" = true ]
	for a in SCMP_ACT_KILL SCMP_ACT_KILL_PROCESS SCMP_ACT_KILL_THREAD SCMP_ACT_TRAP SCMP_ACT_ERRNO \
		SCMP_ACT_TRACE SCMP_ACT_ALLOW SCMP_ACT_LOG SCMP_ACT_NOTIFY; do
		jq -e --arg a "$a" '.actions | index($a)' <<<"$s" >/dev/null || fail "actions lacks $a"
	done
	for o in SCMP_CMP_NE SCMP_CMP_LT SCMP_CMP_LE SCMP_CMP_EQ SCMP_CMP_GE SCMP_CMP_GT SCMP_CMP_MASKED_EQ; do
		jq -e --arg o "$o" '.operators | index($o)' <<<"$s" >/dev/null || fail "operators lacks $o"
	done
	jq -e '.archs | index("SCMP_ARCH_X86_64")' <<<"$s" >/dev/null
	for f in SECCOMP_FILTER_FLAG_LOG SECCOMP_FILTER_FLAG_SPEC_ALLOW SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV; do
		jq -e --arg f "$f" '.knownFlags | index($f)' <<<"$s" >/dev/null || fail "knownFlags lacks $f"
		jq -e --arg f "$f" '.supportedFlags | index($f)' <<<"$s" >/dev/null || fail "supportedFlags lacks $f (kernel $(uname -r))"
	done
}
