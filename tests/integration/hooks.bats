#!/usr/bin/env bats
# POSIX-platform hooks (runtime-spec config.md#posix-platform-hooks and
# runtime.md#lifecycle): order, state on stdin, namespaces, args/env,
# timeout, and failure semantics.
#
# Every hook appends one record to a log shared by host and container:
#   KIND|ARGS|ENVIRON|UTS-NS|STATE-JSON
# ENVIRON is the hook's initial environment (/proc/self/environ), space
# separated, so it shows exactly what the runtime passed.
# Host-side hooks write $HOST_DIR/hooks.log; startContainer, which runs
# inside the container after pivot_root, writes /host/hooks.log (the same
# file through the bind mount).

load helpers

# The record: $0 is the hook kind (sh -c SCRIPT KIND ARGS...).
# shellcheck disable=SC2016 # $ is for the shell that runs the script
RECORD='state=$(cat | tr -d "\n")
printf "%s|%s|%s|%s|%s\n" "$0" "$*" "$(tr "\0" " " </proc/$$/environ | sed "s/ $//")" \
	"$(readlink /proc/self/ns/uts)" "$state" >> "$HOOK_LOG"'

setup() {
	setup_bundle
	use_host_dir
	LOG="$HOST_DIR/hooks.log"
	# A busybox copy whose name is not an applet: it only works when the
	# runtime passes args[0] ("sh") as argv[0], as execv(3) does.
	mkdir -p "$TEST_DIR/hookbin" "$BUNDLE/rootfs/in-rootfs-only"
	cp "$BUSYBOX" "$TEST_DIR/hookbin/hookbb"
	cp "$BUSYBOX" "$BUNDLE/rootfs/in-rootfs-only/hookbb"
	set_cmd 'echo "user|$$" >> /host/hooks.log; while [ ! -e /host/stop ]; do sleep 0.1; done'
	export NBT_HOST_ONLY=from-runtime-env
}

# add_hook KIND [SCRIPT [TIMEOUT]]: append a hook that records itself, then
# runs SCRIPT. startContainer hooks use the in-rootfs binary and log path.
add_hook() {
	local kind="$1" script="${2:-true}" timeout="${3:-}" path="$TEST_DIR/hookbin/hookbb" log="$LOG"
	if [ "$kind" = startContainer ]; then
		path=/in-rootfs-only/hookbb
		log=/host/hooks.log
	fi
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.hooks[$k] += [{"path": $p, "args": ["sh", "-c", ($rec + "\n" + $s), $k, "arg one", "arg2"],
		"env": ["HOOK_LOG=" + $l, "HOOK_VAR=hv-" + $k]}
		+ (if $t == "" then {} else {"timeout": ($t | tonumber)} end)]' \
		--arg k "$kind" --arg p "$path" --arg rec "$RECORD" --arg s "$script" --arg l "$log" --arg t "$timeout"
}

# kinds: the KIND column of the log, space separated.
kinds() {
	[ -e "$LOG" ] || return 0
	cut -d'|' -f1 "$LOG" | tr '\n' ' ' | sed 's/ $//'
}

# field KIND N: field N of KIND's (first) record.
field() {
	awk -F'|' -v k="$1" -v n="$2" '$1 == k { print $n; exit }' "$LOG"
}

# hook_state KIND: the state JSON the hook got on stdin.
hook_state() {
	awk -F'|' -v k="$1" '$1 == k { s = $5; for (i = 6; i <= NF; i++) s = s "|" $i; print s; exit }' "$LOG"
}

@test "create runs prestart, createRuntime, createContainer in that order, before the user process" {
	add_hook prestart
	add_hook createRuntime
	add_hook createContainer
	add_hook startContainer
	create_ct
	[ "$(kinds)" = "prestart createRuntime createContainer" ]
	[ "$(status_of)" = created ]
}

@test "start runs startContainer before the user process; delete runs poststop" {
	add_hook createRuntime
	add_hook startContainer
	add_hook poststop
	create_ct
	runtime start "$CT"
	for _ in $(seq 50); do grep -q '^user|' "$LOG" && break; sleep 0.1; done
	[ "$(kinds)" = "createRuntime startContainer user" ]
	touch "$HOST_DIR/stop"
	wait_for_status "$CT" stopped
	[ "$(kinds)" = "createRuntime startContainer user" ] # no poststop before delete
	runtime delete "$CT"
	[ "$(kinds)" = "createRuntime startContainer user poststop" ]
}

@test "all six hooks run in lifecycle order across create, start and delete" {
	skip_if_runc "1.1.5 runs poststart hooks during create, not start"
	for k in poststop poststart startContainer createContainer createRuntime prestart; do add_hook $k; done
	create_ct
	[ "$(kinds)" = "prestart createRuntime createContainer" ]
	runtime start "$CT"
	# poststart runs before start returns; the user process may or may not
	# have written its line by then.
	[[ "$(kinds)" =~ ^"prestart createRuntime createContainer startContainer "(user\ )?poststart$ ]]
	for _ in $(seq 50); do grep -q '^user|' "$LOG" && break; sleep 0.1; done
	runtime delete --force "$CT"
	[[ "$(kinds)" =~ ^"prestart createRuntime createContainer startContainer "(user\ poststart|poststart\ user)" poststop"$ ]]
}

@test "poststart runs after start, not during create, and sees status running" {
	skip_if_runc "1.1.5 runs poststart hooks during create (status created)"
	add_hook poststart
	create_ct
	[ "$(kinds)" = "" ]
	runtime start "$CT"
	grep -q '^poststart|' "$LOG"
	[ "$(hook_state poststart | jq -r .status)" = running ]
	[ "$(hook_state poststart | jq -r .pid)" = "$(state_of | jq -r .pid)" ]
}

@test "hooks get the state on stdin: id, bundle, annotations, status creating/created/stopped" {
	update_config '.annotations = {"hook.test": "yes"}'
	add_hook createRuntime
	add_hook createContainer
	add_hook startContainer
	add_hook poststop
	runtime create --bundle "$BUNDLE" --pid-file "$TEST_DIR/pid" "$CT"
	runtime start "$CT"
	for _ in $(seq 50); do grep -q '^user|' "$LOG" && break; sleep 0.1; done
	runtime delete --force "$CT"
	for k in createRuntime createContainer startContainer poststop; do
		s="$(hook_state $k)"
		[ "$(jq -r .id <<<"$s")" = "$CT" ] || fail "$k id: $s"
		[ "$(jq -r .bundle <<<"$s")" = "$BUNDLE" ] || fail "$k bundle: $s"
		[ "$(jq -r '.annotations["hook.test"]' <<<"$s")" = yes ] || fail "$k annotations: $s"
		[[ "$(jq -r .ociVersion <<<"$s")" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || fail "$k ociVersion: $s"
	done
	[ "$(hook_state createRuntime | jq -r .status)" = creating ]
	[ "$(hook_state createContainer | jq -r .status)" = creating ]
	[ "$(hook_state startContainer | jq -r .status)" = created ]
	[ "$(hook_state poststop | jq -r .status)" = stopped ]
}

@test "hook state pid: the host pid in the runtime namespace, the container pid in the container namespace" {
	add_hook prestart
	add_hook createRuntime
	add_hook createContainer
	add_hook startContainer
	runtime create --bundle "$BUNDLE" --pid-file "$TEST_DIR/pid" "$CT"
	runtime start "$CT"
	for _ in $(seq 50); do grep -q '^startContainer|' "$LOG" && break; sleep 0.1; done
	pid="$(cat "$TEST_DIR/pid")"
	[ "$(hook_state prestart | jq -r .pid)" = "$pid" ]
	[ "$(hook_state createRuntime | jq -r .pid)" = "$pid" ]
	# The container has its own pid namespace, where its process is pid 1.
	[ "$(hook_state createContainer | jq -r .pid)" = 1 ]
	[ "$(hook_state startContainer | jq -r .pid)" = 1 ]
}

@test "createRuntime runs in the runtime namespace, createContainer and startContainer in the container's" {
	update_config '.hostname = "hooked"'
	add_hook createRuntime
	add_hook createContainer
	add_hook startContainer
	create_ct
	pid="$(state_of | jq -r .pid)"
	ct_uts="$(readlink "/proc/$pid/ns/uts")"
	[ "$ct_uts" != "$(readlink /proc/self/ns/uts)" ]
	runtime start "$CT"
	for _ in $(seq 50); do grep -q '^startContainer|' "$LOG" && break; sleep 0.1; done
	[ "$(field createRuntime 4)" = "$(readlink /proc/self/ns/uts)" ]
	[ "$(field createContainer 4)" = "$ct_uts" ]
	[ "$(field startContainer 4)" = "$ct_uts" ]
}

@test "startContainer's path resolves in the container, the others' on the host" {
	# add_hook already uses /in-rootfs-only/hookbb for startContainer, which
	# does not exist on the host; a host-only path must fail there.
	[ ! -e /in-rootfs-only/hookbb ]
	add_hook startContainer
	create_ct
	runtime start "$CT"
	for _ in $(seq 50); do grep -q '^startContainer|' "$LOG" && break; sleep 0.1; done
	[ "$(field startContainer 1)" = startContainer ]
}

@test "hooks get args[0] as argv[0], their args, and exactly their env" {
	add_hook createRuntime
	add_hook poststop
	NBT_HOST_ONLY=leak create_ct
	runtime delete --force "$CT"
	# hookbb only runs `sh` when argv[0] is args[0].
	[ "$(field createRuntime 2)" = "arg one arg2" ]
	# The environment is exactly env: nothing from the runtime's own (no
	# NBT_HOST_ONLY, no PATH).
	[ "$(field createRuntime 3)" = "HOOK_LOG=$LOG HOOK_VAR=hv-createRuntime" ]
	[ "$(field poststop 3)" = "HOOK_LOG=$LOG HOOK_VAR=hv-poststop" ]
}

@test "a startContainer hook without env gets the container process's environment" {
	skip_if_runc "1.1.5 runs it with an empty environment (runc 1.4 gives it the process's, as here)"
	update_config '.process.env = ["PATH=/usr/bin:/bin", "CT_VAR=from-config", "HOME="]
		| .hooks.startContainer = [{"path": "/in-rootfs-only/hookbb",
			"args": ["sh", "-c", "env > /host/hook.env"]}]'
	create_ct
	runtime start "$CT"
	for _ in $(seq 50); do grep -q '^user|' "$LOG" && break; sleep 0.1; done
	echo "hook env: $(cat "$HOST_DIR/hook.env")"
	# The process's environment as it is at exec: the config's, HOME from passwd; and what sh
	# adds itself (SHLVL, PWD).
	[ "$(grep -v -e ^SHLVL= -e ^PWD= "$HOST_DIR/hook.env" | sort | tr '\n' ' ')" = "CT_VAR=from-config HOME=/root PATH=/usr/bin:/bin " ]
	# A hook with env of its own gets exactly that (see above), the host's never.
	! grep -q NBT_HOST_ONLY "$HOST_DIR/hook.env" || fail "the host's environment leaked"
}

@test "with noNewPrivileges, startContainer hooks run before the seccomp filter; the process runs under it" {
	skip_if_runc "1.1.5 (and 1.5) load the filter first: a profile that kills a syscall the hook makes kills the hook"
	update_config '.process.noNewPrivileges = true | .root.readonly = false
		| .linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
			"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}]}'
	add_hook startContainer 'mkdir /host/by-hook'
	set_cmd 'echo "user|$$" >> /host/hooks.log; (mkdir /host/by-user); echo "rc=$?" > /host/user.rc'
	create_ct
	runtime start "$CT"
	wait_for_file "$HOST_DIR/user.rc"
	[ "$(kinds)" = "startContainer user" ]
	[ -d "$HOST_DIR/by-hook" ]
	# The container's own mkdir is killed by SIGSYS: 128 + 31.
	[ "$(cat "$HOST_DIR/user.rc")" = rc=159 ]
	[ ! -e "$HOST_DIR/by-user" ]
}

@test "with noNewPrivileges and a failing startContainer hook, start fails before the filter goes on" {
	skip_if_runc "1.1.5 start exits 0 when a startContainer hook fails"
	update_config '.process.noNewPrivileges = true
		| .linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
			"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}]}'
	add_hook startContainer 'exit 3'
	create_ct
	run --separate-stderr runtime start "$CT"
	[ "$status" -ne 0 ]
	# shellcheck disable=SC2154 # set by bats' run
	[[ "$stderr" == *"error running startContainer hook #0"* ]]
	! grep -q '^user|' "$LOG" || fail "user process ran"
}

@test "a hook that finishes within its timeout succeeds" {
	add_hook createRuntime 'sleep 0.2' 5
	create_ct
	[ "$(kinds)" = createRuntime ]
}

# shellcheck disable=SC2030 # bats runs setup, the test and teardown in one process: nothing is lost
@test "a hook running past its timeout fails create, within the timeout, leaving nothing behind" {
	snapshot_host
	add_hook createRuntime 'sleep 30' 1
	SECONDS=0
	run --separate-stderr runtime create --bundle "$BUNDLE" "$CT"
	[ "$status" -ne 0 ]
	[ "$SECONDS" -lt 10 ]
	[[ "$stderr" == *timeout* || "$stderr" == *"timed out"* ]]
	assert_nothing_left
}

# A failing prestart/createRuntime/createContainer hook: create fails, the
# later hooks do not run, the container is destroyed (runtime.md lifecycle
# steps 3-5 -> 12) and the poststop hooks run (step 13).
# check_failing_create_hook KIND EXPECTED-KINDS
check_failing_create_hook() {
	snapshot_host
	add_hook prestart
	add_hook "$1" "exit 7"
	add_hook createRuntime
	add_hook createContainer
	add_hook poststop
	run --separate-stderr runtime create --bundle "$BUNDLE" "$CT"
	# shellcheck disable=SC2031 # bats runs setup, the test and teardown in one process: nothing is lost
	[ "$status" -ne 0 ] || fail "create succeeded"
	[[ "$stderr" == *hook* ]] || fail "stderr does not mention the hook: $stderr"
	assert_nothing_left
	[ "$(kinds)" = "$2" ] || fail "hooks ran: $(kinds)"
	[ "$(hook_state poststop | jq -r .status)" = stopped ]
}

@test "a failing prestart hook fails create, skips later hooks, runs poststop, leaves nothing" {
	check_failing_create_hook prestart "prestart prestart poststop"
}

@test "a failing createRuntime hook fails create, skips later hooks, runs poststop, leaves nothing" {
	check_failing_create_hook createRuntime "prestart createRuntime poststop"
}

@test "a failing createContainer hook fails create, skips later hooks, runs poststop, leaves nothing" {
	check_failing_create_hook createContainer "prestart createRuntime createContainer poststop"
}

@test "a failing startContainer hook keeps the user process from running" {
	add_hook startContainer 'exit 7'
	create_ct
	runtime start "$CT" || true
	sleep 0.5
	! grep -q '^user|' "$LOG" || fail "user process ran"
	[ "$(status_of)" != running ]
}

@test "a failing startContainer hook fails start, destroys the container and runs poststop" {
	skip_if_runc "1.1.5 start exits 0, leaves the container stopped and runs poststop only at delete"
	snapshot_host
	add_hook startContainer 'exit 7'
	add_hook poststop
	create_ct
	run --separate-stderr runtime start "$CT"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *hook* ]]
	! grep -q '^user|' "$LOG" || fail "user process ran"
	assert_nothing_left
	[ "$(kinds)" = "startContainer poststop" ]
}

@test "a failing poststart hook fails start, stops and destroys the container, skips later poststart hooks, runs poststop" {
	skip_if_runc "1.1.5 runs poststart during create and fails create when it fails"
	snapshot_host
	add_hook poststart 'exit 7'
	add_hook poststart
	add_hook poststop
	set_cmd 'sleep 1000'
	create_ct
	run --separate-stderr runtime start "$CT"
	[ "$status" -ne 0 ] || fail "start succeeded"
	[[ "$stderr" == *"poststart hook #0"* ]] || fail "stderr does not name the hook: $stderr"
	# runtime-spec 1.3, runtime.md#lifecycle step 9: stop, destroy (step 12), poststop (step 13).
	assert_nothing_left
	[ "$(kinds)" = "poststart poststop" ]
}

@test "a failing poststart hook in a config for runtime-spec 1.2 only warns: start succeeds, later poststart hooks run" {
	skip_if_runc "1.1.5 runs poststart during create and fails create when it fails"
	update_config '.ociVersion = "1.2.0"'
	add_hook poststart 'exit 7'
	add_hook poststart
	set_cmd 'sleep 1000'
	create_ct
	run --separate-stderr runtime start "$CT"
	[ "$status" -eq 0 ] || fail "start failed: $stderr"
	[[ "$stderr" == *"poststart hook #0"* ]] || fail "no warning naming the hook: $stderr"
	[ "$(status_of)" = running ]
	[ "$(kinds | tr ' ' '\n' | grep -c poststart)" -eq 2 ]
}

@test "a failing poststop hook only warns: delete succeeds and the container is gone" {
	add_hook poststop 'exit 7'
	run_detached
	run --separate-stderr runtime delete --force "$CT"
	[ "$status" -eq 0 ]
	run --separate-stderr runtime state "$CT"
	[ "$status" -ne 0 ]
	[ -z "$(test_cgroups)" ]
}

@test "after a failing poststop hook the remaining poststop hooks still run" {
	skip_if_runc "1.1.5 stops at the first failing poststop hook"
	add_hook poststop 'exit 7'
	add_hook poststop
	run_detached
	runtime delete --force "$CT"
	[ "$(kinds | tr ' ' '\n' | grep -c poststop)" -eq 2 ]
}

@test "poststop runs after the container is destroyed: its init is gone" {
	# Alive means /proc/PID exists and is not a zombie awaiting its reaper.
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	add_hook poststop 'st=$(awk "{print \$3}" /proc/$(cat '"$TEST_DIR"'/pid)/stat 2>/dev/null)
		echo "alive|$([ -n "$st" ] && [ "$st" != Z ] && echo yes || echo no)" >> "$HOOK_LOG"'
	runtime run -d --bundle "$BUNDLE" --pid-file "$TEST_DIR/pid" "$CT"
	runtime delete --force "$CT"
	[ "$(field alive 2)" = no ]
}
