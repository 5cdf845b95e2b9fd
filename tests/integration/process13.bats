#!/usr/bin/env bats
# process fields of runtime-spec 1.3: process.scheduler, process.ioPriority,
# process.execCPUAffinity, linux.personality and linux.memoryPolicy, each
# seen from inside the container and from the host, for the init and for an
# exec'd process; and their refusals, which leave nothing behind.

load helpers

# start_sleeper: run the container detached as `sleep 1000`; sets INIT_PID.
start_sleeper() {
	update_config '.process.args = ["sleep", "1000"]'
	run_detached
	INIT_PID="$(state_of | jq -r .pid)"
	[[ "$INIT_PID" =~ ^[1-9][0-9]*$ ]] || fail "no init pid: '$INIT_PID'"
}

# stat_fields PID: "policy rt_priority nice" of /proc/PID/stat (fields 41, 40, 19).
stat_fields() {
	awk '{print $41, $40, $19}' "/proc/$1/stat"
}

# --- process.scheduler -------------------------------------------------------

@test "scheduler SCHED_RR priority 10: the container's process and an exec'd one run under it" {
	skip_if_runc "1.1.5 has no process.scheduler (runc 1.2)"
	# With RT group scheduling (cgroup v1 cpu), real-time tasks need a budget in their cgroup.
	update_config '.process.scheduler = {"policy": "SCHED_RR", "priority": 10}
		| .linux.resources.cpu.realtimeRuntime = 10000 | .linux.resources.cpu.realtimePeriod = 1000000'
	start_sleeper
	[ "$(stat_fields "$INIT_PID")" = "2 10 0" ]
	chrt -p "$INIT_PID" | grep -q 'SCHED_RR'
	chrt -p "$INIT_PID" | grep -q 'priority: 10'
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	run --separate-stderr runtime exec "$CT" awk '{print $41, $40}' /proc/self/stat
	# shellcheck disable=SC2154 # set by bats' run
	[ "$status" -eq 0 ] || fail "exec: $stderr"
	[ "$output" = "2 10" ]
}

@test "scheduler SCHED_BATCH nice 7, seen inside and from the host" {
	skip_if_runc "1.1.5 has no process.scheduler (runc 1.2)"
	update_config '.process.scheduler = {"policy": "SCHED_BATCH", "nice": 7}'
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	ct_run 'awk "{print \$41, \$19}" /proc/self/stat'
	[ "$status" -eq 0 ]
	[ "$output" = "3 7" ]
}

@test "scheduler SCHED_IDLE, seen from the host" {
	skip_if_runc "1.1.5 has no process.scheduler (runc 1.2)"
	update_config '.process.scheduler = {"policy": "SCHED_IDLE"}'
	start_sleeper
	[ "$(stat_fields "$INIT_PID" | cut -d' ' -f1)" = 5 ]
	chrt -p "$INIT_PID" | grep -q 'SCHED_IDLE'
}

@test "scheduler SCHED_DEADLINE with reset-on-fork: runtime, deadline and period from the host" {
	skip_if_runc "1.1.5 has no process.scheduler (runc 1.2)"
	update_config '.process.scheduler = {"policy": "SCHED_DEADLINE", "runtime": 10000000,
		"deadline": 30000000, "period": 100000000, "flags": ["SCHED_FLAG_RESET_ON_FORK"]}'
	start_sleeper
	run chrt -p "$INIT_PID"
	echo "$output"
	grep -q 'SCHED_DEADLINE|SCHED_RESET_ON_FORK' <<<"$output"
	grep -q 'runtime/deadline/period parameters: 10000000/30000000/100000000' <<<"$output"
}

# --- process.ioPriority ------------------------------------------------------

@test "ioPriority IOPRIO_CLASS_IDLE: ionice inside and from the host" {
	skip_if_runc "1.1.5 has no process.ioPriority (runc 1.2)"
	update_config '.process.ioPriority = {"class": "IOPRIO_CLASS_IDLE", "priority": 0}'
	start_sleeper
	[ "$(ionice -p "$INIT_PID")" = idle ]
	run --separate-stderr runtime exec "$CT" sh -c 'ionice -p $$'
	[ "$status" -eq 0 ] || fail "exec: $stderr"
	[[ "$output" == idle* ]] || fail "ionice inside: $output"
}

@test "ioPriority IOPRIO_CLASS_BE 3: ionice inside and from the host" {
	skip_if_runc "1.1.5 has no process.ioPriority (runc 1.2)"
	update_config '.process.ioPriority = {"class": "IOPRIO_CLASS_BE", "priority": 3}'
	start_sleeper
	[ "$(ionice -p "$INIT_PID")" = "best-effort: prio 3" ]
	ct2="$CT-2"
	set_cmd 'ionice -p $$'
	run --separate-stderr runtime run --bundle "$BUNDLE" "$ct2"
	[ "$status" -eq 0 ]
	[ "$output" = "best-effort: prio 3" ]
}

# --- linux.personality -------------------------------------------------------

@test "personality LINUX32: uname -m is a 32-bit machine, for the init and an exec'd process" {
	skip_if_runc "1.1.5 has no linux.personality (runc 1.2)"
	[ "$(uname -m)" = x86_64 ] || skip "needs an x86_64 host (LINUX32 shows i686)"
	update_config '.linux.personality = {"domain": "LINUX32"}'
	start_sleeper
	[ "$(cat "/proc/$INIT_PID/personality")" = 00000008 ]
	run --separate-stderr runtime exec "$CT" uname -m
	[ "$status" -eq 0 ] || fail "exec: $stderr"
	[ "$output" = i686 ]
}

@test "personality LINUX: uname -m is the host's" {
	skip_if_runc "1.1.5 has no linux.personality (runc 1.2)"
	update_config '.linux.personality = {"domain": "LINUX"}'
	ct_run 'uname -m'
	[ "$status" -eq 0 ]
	[ "$output" = "$(uname -m)" ]
}

# --- process.execCPUAffinity -------------------------------------------------

@test "execCPUAffinity final: an exec'd process runs on those CPUs, the init on all of the cgroup's" {
	skip_if_runc "1.1.5 has no process.execCPUAffinity (runc 1.3)"
	[ "$(nproc --all)" -ge 2 ] || skip "needs two CPUs"
	update_config '.process.execCPUAffinity = {"initial": "0", "final": "1"}'
	start_sleeper
	all="$(grep Cpus_allowed_list /proc/self/status | cut -f2)"
	# runtime-spec config.md: not applicable to the container's init.
	[ "$(grep Cpus_allowed_list "/proc/$INIT_PID/status" | cut -f2)" = "$all" ]
	run --separate-stderr runtime exec "$CT" grep Cpus_allowed_list /proc/self/status
	[ "$status" -eq 0 ] || fail "exec: $stderr"
	[ "$(cut -f2 <<<"$output")" = 1 ]
	run --separate-stderr runtime exec -d --pid-file "$TEST_DIR/exec.pid" "$CT" sleep 100
	[ "$status" -eq 0 ]
	taskset -p -c "$(cat "$TEST_DIR/exec.pid")" | grep -q 'list: 1$'
}

@test "execCPUAffinity from exec's --process: final 0" {
	skip_if_runc "1.1.5 has no process.execCPUAffinity (runc 1.3)"
	start_sleeper
	jq '.process | .args = ["grep", "Cpus_allowed_list", "/proc/self/status"]
		| .execCPUAffinity = {"final": "0"}' "$BUNDLE/config.json" >"$TEST_DIR/process.json"
	run --separate-stderr runtime exec --process "$TEST_DIR/process.json" "$CT"
	[ "$status" -eq 0 ] || fail "exec: $stderr"
	[ "$(cut -f2 <<<"$output")" = 0 ]
}

@test "execCPUAffinity naming a CPU the host lacks fails the exec and leaves nothing" {
	skip_if_runc "1.1.5 has no process.execCPUAffinity (runc 1.3)"
	start_sleeper
	jq '.process | .args = ["true"] | .execCPUAffinity = {"final": "1000"}' \
		"$BUNDLE/config.json" >"$TEST_DIR/process.json"
	exec_fails 'execCPUAffinity.final' --process "$TEST_DIR/process.json" "$CT"
}

# --- linux.memoryPolicy ------------------------------------------------------

@test "memoryPolicy MPOL_BIND node 0: numa_maps of the init (host) and of an exec'd process" {
	skip_if_runc "1.1.5 has no linux.memoryPolicy (runc 1.4)"
	[ -e /proc/self/numa_maps ] || skip "kernel without NUMA"
	update_config '.linux.memoryPolicy = {"mode": "MPOL_BIND", "nodes": "0"}'
	start_sleeper
	grep -q ' bind:0 ' "/proc/$INIT_PID/numa_maps"
	if grep -q ' default ' "/proc/$INIT_PID/numa_maps"; then fail "init has mappings under the default policy"; fi
	run --separate-stderr runtime exec "$CT" cat /proc/self/numa_maps
	[ "$status" -eq 0 ] || fail "exec: $stderr"
	grep -q ' bind:0 ' <<<"$output"
}

@test "memoryPolicy MPOL_INTERLEAVE with MPOL_F_STATIC_NODES, seen inside" {
	skip_if_runc "1.1.5 has no linux.memoryPolicy (runc 1.4)"
	[ -e /proc/self/numa_maps ] || skip "kernel without NUMA"
	update_config '.linux.memoryPolicy = {"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}'
	ct_run 'cat /proc/self/numa_maps'
	[ "$status" -eq 0 ]
	grep -q ' interleave=static:0 ' <<<"$output"
}

@test "memoryPolicy MPOL_PREFERRED node 0, seen inside" {
	skip_if_runc "1.1.5 has no linux.memoryPolicy (runc 1.4)"
	[ -e /proc/self/numa_maps ] || skip "kernel without NUMA"
	update_config '.linux.memoryPolicy = {"mode": "MPOL_PREFERRED", "nodes": "0"}'
	ct_run 'cat /proc/self/numa_maps'
	[ "$status" -eq 0 ]
	grep -q ' prefer:0 ' <<<"$output"
}

@test "memoryPolicy on a node the host lacks fails create and leaves nothing" {
	skip_if_runc "1.1.5 has no linux.memoryPolicy (runc 1.4)"
	[ ! -e /sys/devices/system/node/node63 ] || skip "host has node 63"
	update_config '.linux.memoryPolicy = {"mode": "MPOL_BIND", "nodes": "63"}'
	refused '*linux.memoryPolicy*set_mempolicy*' create --bundle "$BUNDLE" "$CT"
}

# --- refusals ----------------------------------------------------------------

@test "refused, naming the field, with nothing left: bad scheduler, ioPriority, personality, memoryPolicy, execCPUAffinity" {
	skip_if_runc "1.1.5 ignores these fields"
	cp "$BUNDLE/config.json" "$TEST_DIR/good.json"
	while IFS='|' read -r field jqexpr; do
		cp "$TEST_DIR/good.json" "$BUNDLE/config.json"
		update_config "$jqexpr"
		refused "*$field*" create --bundle "$BUNDLE" "$CT" || fail "config $jqexpr"
	done <<'CONFIGS'
process.scheduler.policy|.process.scheduler = {"policy": "SCHED_FOO"}
process.scheduler.priority|.process.scheduler = {"policy": "SCHED_FIFO", "priority": 100}
process.scheduler.nice|.process.scheduler = {"policy": "SCHED_OTHER", "nice": 20}
process.scheduler.flags|.process.scheduler = {"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_FOO"]}
process.scheduler|.process.scheduler = {"policy": "SCHED_DEADLINE", "runtime": 50, "deadline": 10}
process.ioPriority.class|.process.ioPriority = {"class": "IOPRIO_CLASS_NONE", "priority": 0}
process.ioPriority.priority|.process.ioPriority = {"class": "IOPRIO_CLASS_BE", "priority": 8}
linux.personality.domain|.linux.personality = {"domain": "LINUX64"}
linux.personality.flags|.linux.personality = {"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}
linux.memoryPolicy.mode|.linux.memoryPolicy = {"mode": "MPOL_FOO"}
linux.memoryPolicy.nodes|.linux.memoryPolicy = {"mode": "MPOL_BIND"}
linux.memoryPolicy.nodes|.linux.memoryPolicy = {"mode": "MPOL_BIND", "nodes": "1-0"}
linux.memoryPolicy.flags|.linux.memoryPolicy = {"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_FOO"]}
process.execCPUAffinity.final|.process.execCPUAffinity = {"final": "0-x"}
process.execCPUAffinity.initial|.process.execCPUAffinity = {"initial": "99999"}
CONFIGS
}

@test "a real-time policy in a cgroup without a real-time budget fails create, saying why" {
	skip_if_runc "1.1.5 has no process.scheduler (runc 1.2)"
	[ -e /sys/fs/cgroup/cpu/cpu.rt_runtime_us ] || skip "no RT group scheduling"
	update_config '.process.scheduler = {"policy": "SCHED_FIFO", "priority": 1}'
	refused '*process.scheduler SCHED_FIFO*realtimeRuntime*operation not permitted*' create --bundle "$BUNDLE" "$CT"
}

@test "a scheduler the kernel refuses (SCHED_ISO) fails create and leaves nothing" {
	skip_if_runc "1.1.5 has no process.scheduler (runc 1.2)"
	update_config '.process.scheduler = {"policy": "SCHED_ISO"}'
	refused '*process.scheduler*sched_setattr*' create --bundle "$BUNDLE" "$CT"
}

# --- behaviours scripts written for runc rely on ----------------------------

@test "an unknown capability is warned about and ignored; the known ones are applied" {
	update_config '.process.capabilities = {"bounding": ["CAP_KILL", "CAP_FOO"],
		"effective": ["CAP_KILL", "CAP_FOO"], "permitted": ["CAP_KILL", "CAP_FOO"]}'
	set_cmd 'grep -E "^Cap(Bnd|Eff):" /proc/self/status'
	run --separate-stderr runtime run --bundle "$BUNDLE" "$CT"
	echo "status $status, stdout: $output, stderr: $stderr"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *warn*'ignoring unknown or unavailable capabilities'*CAP_FOO* ]]
	[ "$(awk '/^CapBnd:/ {print $2}' <<<"$output")" = "$(cap_mask CAP_KILL)" ]
	[ "$(awk '/^CapEff:/ {print $2}' <<<"$output")" = "$(cap_mask CAP_KILL)" ]
}

@test "an ambient capability missing from the inheritable set is warned about, not raised" {
	update_config '.process.user = {"uid": 1000, "gid": 1000}
		| .process.capabilities = {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
			"permitted": ["CAP_KILL"], "inheritable": [], "ambient": ["CAP_KILL"]}'
	set_cmd 'grep -E "^CapAmb:" /proc/self/status'
	run --separate-stderr runtime run --bundle "$BUNDLE" "$CT"
	echo "status $status, stdout: $output, stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$(awk '{print $2}' <<<"$output")" = 0000000000000000 ]
	is_runc || [[ "$stderr" == *warn*'ambient capability not raised: CAP_KILL is not in the inheritable set'* ]]
}

@test "an empty HOME in process.env is set from the user's passwd entry, as a missing one is" {
	update_config '.process.env = ["PATH=/bin", "HOME="]'
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	ct_run 'echo "[$HOME]"'
	[ "$status" -eq 0 ]
	[ "$output" = "[/root]" ]
}

@test "exec failures read as runc's: exec: \"x\": ... for a program not found, exec <path>: ... for execve" {
	printf '\177ELFgarbage' >"$BUNDLE/rootfs/bin/badfmt"
	chmod 0755 "$BUNDLE/rootfs/bin/badfmt"
	update_config '.process.args = ["/bin/badfmt"]'
	run --separate-stderr runtime run --bundle "$BUNDLE" "$CT"
	echo "run: status $status, stderr: $stderr"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *'exec /bin/badfmt: exec format error'* ]]
	runtime delete -f "$CT"
	update_config '.process.args = ["nosuch"]'
	run --separate-stderr runtime run --bundle "$BUNDLE" "$CT"
	[ "$status" -ne 0 ]
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	[[ "$stderr" == *'exec: \"nosuch\": executable file not found in $PATH'* ]] || fail "run: $stderr"
	runtime delete -f "$CT" 2>/dev/null || true
	start_sleeper
	exec_fails 'exec /bin/badfmt: exec format error' "$CT" /bin/badfmt
	# The log quotes the message: its " are \".
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	exec_fails 'exec: \\?"nosuch\\?": executable file not found in \$PATH' "$CT" nosuch
}

@test "user.* sysctls are set in a container with its own user namespace, not on the host" {
	skip_if_runc "1.1.5 refuses user.* sysctls"
	add_userns
	chown -R 100000:200000 "$BUNDLE/rootfs"
	host="$(cat /proc/sys/user/max_user_namespaces)"
	update_config '.linux.sysctl = {"user.max_user_namespaces": "7"}'
	ct_run 'cat /proc/sys/user/max_user_namespaces'
	[ "$status" -eq 0 ]
	[ "$output" = 7 ]
	[ "$(cat /proc/sys/user/max_user_namespaces)" = "$host" ]
}

@test "user.* sysctls without a user namespace of the container's own are refused" {
	skip_if_runc "1.1.5 words it differently"
	update_config '.linux.sysctl = {"user.max_user_namespaces": "7"}'
	refused '*linux.sysctl.user.max_user_namespaces*user namespace*' create --bundle "$BUNDLE" "$CT"
}
