#!/usr/bin/env bats
# What the kubelet does to running containers through the CRI: exec sync (exec probes), exec
# with a terminal, attach, logs, stats, resource updates, and the exit an OOM kill reports. Each
# on nebulon and on runc, compared.

load helpers

teardown() {
	teardown_pods
}

exec_sync() {
	local pod c
	pod="$(run_pod exec "$1")" || return 1
	c="$(run_ctr "$pod" c -- sleep 1000)" || return 1
	cx "$c" sh -c 'echo to-stdout; echo to-stderr >&2'
	echo "rc=$?"
	# A failing probe: crictl reports the command's exit code and its stderr.
	cri exec -s "$c" sh -c 'echo to-stdout; echo to-stderr >&2; exit 3' 2>&1 | grep -o 'exited with 3: to-stderr'
	cx "$c" sh -c 'exit 3'
	echo "rc=$?"
	# A probe that outlives its timeout.
	cri exec -s --timeout 1 "$c" sleep 30 2>&1 | grep -o 'timeout 1s exceeded' | head -n 1
	cx "$c" id -u
}

@test "exec sync, as exec probes use it: output, exit codes, a timeout" {
	compare exec_sync
	[ "$output" = "to-stdout
to-stderr
rc=0
exited with 3: to-stderr
exited with 3
rc=1
timeout 1s exceeded
0" ]
}

exec_tty() {
	local pod c
	pod="$(run_pod tty "$1")" || return 1
	c="$(run_ctr "$pod" c -- sleep 1000)" || return 1
	in_pty "$TOOLS/crictl --config $E/crictl.yaml exec -it $c sh -c 'tty; [ -t 0 ] && echo stdin is a terminal; exit 4'; echo rc=\$?" |
		sed 's/.*command terminated with \(exit code [0-9]*\).*/\1/'
}

@test "exec -it: a terminal, and the exit status" {
	compare exec_tty
	[ "$output" = "/dev/pts/0
stdin is a terminal
exit code 4
rc=1" ]
}

attach_logs() {
	local pod c log
	pod="$(run_pod attach "$1")" || return 1
	# shellcheck disable=SC2016 # the container's shell expands it
	c="$(run_ctr "$pod" c '.stdin = true | .stdin_once = true' -- \
		sh -c 'echo started; read -r line; echo "got $line"; sleep 0.2; echo to-stderr >&2; exit 2')" || return 1
	# What attach shows of the container's output after it attached: its answer.
	echo hello | cri attach -i "$c" 2>/dev/null | grep got
	wait_exited "$c" && exit_of "$c"
	echo "crictl logs:"
	cri logs "$c" 2>&1
	# CRI's log format: TIME STREAM TAG MESSAGE, one full (F) line each; TIME is RFC 3339.
	log="$E/logs/attach-$1/c.log"
	cut -d' ' -f2- "$log"
	awk '$1 !~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9](\.[0-9]+)?(Z|[+-][0-9][0-9]:[0-9][0-9])$/ {print "bad time: " $0}' "$log"
}

@test "attach to a container's stdin; its logs in CRI's format; its exit code" {
	compare attach_logs
	[ "$output" = "got hello
exit 2 Error
crictl logs:
started
got hello
to-stderr
stdout F started
stdout F got hello
stderr F to-stderr" ]
}

# The container's limits, read in its cgroup: v1's files, or v2's with what `unified` set.
read_limits() {
	cx "$1" sh -c 'cd /sys/fs/cgroup
		if [ -f memory.max ]; then cat memory.max cpu.weight memory.high memory.swap.max
		else cat memory/memory.limit_in_bytes cpu/cpu.shares; fi'
}

resources() {
	local pod c res='{memory_limit_in_bytes: 67108864, cpu_shares: 512}'
	# On cgroup v2 the kubelet sets memory QoS (KEP-2570) and swap (KEP-2400) through unified.
	[ -f /sys/fs/cgroup/cgroup.controllers ] &&
		res='{memory_limit_in_bytes: 67108864, cpu_shares: 512, unified: {"memory.high": "50331648", "memory.swap.max": "0"}}'
	pod="$(run_pod res "$1")" || return 1
	c="$(run_ctr "$pod" c ".linux.resources = $res" -- sleep 1000)" || return 1
	read_limits "$c"
	cri update --memory 134217728 --cpu-share 256 "$c" >/dev/null
	read_limits "$c"
	cri inspect "$c" | jq -r '.status.resources.linux | "crictl shows \(.memoryLimitInBytes) \(.cpuShares)"'
	cri stats -o json --id "$c" | jq -r '.stats[] | "memory in use: \(.memory.workingSetBytes.value > 0)"'
	cri statsp -o json --id "$pod" | jq -r '.stats[] | "pod stats: \(.attributes.metadata.name == "res-'"$1"'")"'
}

@test "container resources: set at create, crictl update, read back in the cgroup; stats" {
	compare resources
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		# cpu.weight is cpu.shares converted as runc 1.3 and later convert it: 512 -> 59, 256 -> 35.
		[ "$output" = "67108864
59
50331648
0
134217728
35
50331648
0
crictl shows 134217728 256
memory in use: true
pod stats: true" ]
	else
		[ "$output" = "67108864
512
134217728
256
crictl shows 134217728 256
memory in use: true
pod stats: true" ]
	fi
}

oom() {
	local pod c
	pod="$(run_pod oom "$1")" || return 1
	# The process the OOM killer takes is a child, and the container's first process exits with
	# its status a moment later: had the killed process been the last one, systemd could remove
	# the cgroup before containerd's shim read the oom_kill count in its memory.events, and
	# containerd would report the exit without OOMKilled: a race of containerd's and systemd's,
	# seen once with nebulon in the systemd guest, where a run of the same pod by hand then
	# gave OOMKilled on nebulon and on runc.
	# shellcheck disable=SC2016 # the container's shell expands it
	c="$(run_ctr "$pod" c '.linux.resources = {memory_limit_in_bytes: 16777216}' -- \
		sh -c 'sh -c "x=0123456789; while :; do x=\$x\$x; done"; s=$?; sleep 1; exit $s')" || return 1
	wait_exited "$c" && exit_of "$c"
}

@test "a container that outgrows its memory limit is reported OOMKilled, exit 137" {
	compare oom
	[ "$output" = "exit 137 OOMKilled" ]
}
