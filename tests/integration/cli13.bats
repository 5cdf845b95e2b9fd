#!/usr/bin/env bats
# runc 1.5's command line and lifecycle rules: flags after the container id,
# run --keep and --no-subreaper, --pidfd-socket, kill without a pid
# namespace, kill --all after the init exited, a cgroup that is not empty,
# v1 cpuset parents without cpus, hook errors, list, ps, exec --cap, Intel
# RDT flags and the global --rootless and --criu.

load helpers

# a container that shares the host's pid namespace: pids in it are host pids.
no_pid_ns() {
	update_config '.linux.namespaces |= map(select(.type != "pid"))'
}

# host_cgroup CONTROLLER: the container's cgroup directory on the host.
host_cgroup() {
	find "/sys/fs/cgroup/$1" -type d -name "$CT" | head -1
}

@test "flags after the container id are the command's: update ID --pids-limit" {
	set_cmd 'exec sleep 100'
	run_detached
	run --separate-stderr runtime update "$CT" --pids-limit 12345
	# shellcheck disable=SC2154 # set by bats' run
	echo "update: $status $stderr"
	[ "$status" -eq 0 ]
	[ "$(cat "$(host_cgroup pids)/pids.max")" = 12345 ]
	run --separate-stderr runtime exec "$CT" cat /sys/fs/cgroup/pids/pids.max
	[ "$output" = 12345 ]
	# What follows exec's command is the command's own, never a flag of exec.
	run --separate-stderr runtime exec "$CT" echo --pids-limit -d
	[ "$status" -eq 0 ]
	[ "$output" = "--pids-limit -d" ]
	run --separate-stderr runtime delete "$CT" --force
	[ "$status" -eq 0 ]
	run --separate-stderr runtime list -q
	[ -z "$output" ]
}

@test "run --keep keeps the stopped container for state and delete" {
	set_cmd 'exit 3'
	snapshot_host
	run --separate-stderr runtime run --keep --bundle "$BUNDLE" "$CT"
	[ "$status" -eq 3 ]
	[ "$(status_of)" = stopped ]
	[ -n "$(test_cgroups)" ] || fail "the kept container has no cgroup"
	runtime delete "$CT"
	assert_nothing_left
}

@test "run --no-subreaper leaves the container's orphans to the host's reaper" {
	no_pid_ns
	use_host_dir
	set_cmd 'sh -c "sleep 100 & echo \$! > /host/orphan"; touch /host/ready; exec sleep 100'
	for flag in "" --no-subreaper; do
		rm -f "$HOST_DIR/ready" "$HOST_DIR/orphan"
		# shellcheck disable=SC2086
		"$RUNTIME" --root "$ROOT" run $flag --bundle "$BUNDLE" "$CT" \
			>"$TEST_DIR/run.out" 2>"$TEST_DIR/run.err" </dev/null 3>&- &
		run_pid=$!
		# shellcheck disable=SC2030 # bats runs setup, the test and teardown in one process: nothing is lost
		BG_PIDS+=("$run_pid")
		wait_for_file "$HOST_DIR/ready"
		orphan="$(cat "$HOST_DIR/orphan")"
		ppid="$(awk '{print $4}' "/proc/$orphan/stat")"
		echo "run $flag: pid $run_pid, orphan $orphan has parent $ppid"
		if [ -z "$flag" ]; then
			[ "$ppid" = "$run_pid" ] || fail "without --no-subreaper run did not reap the orphan"
		else
			[ "$ppid" != "$run_pid" ] || fail "with --no-subreaper run is still the orphan's parent"
		fi
		runtime kill --all "$CT" KILL
		wait "$run_pid" || true
		wait_for_exit "$orphan"
	done
}

# pidfd_receiver SOCK OUT: listen on SOCK; write the message, the pid the
# received pidfd refers to, and "exited" once that process exits, to OUT.
pidfd_receiver() {
	command -v python3 >/dev/null || skip "needs python3 for the pidfd receiver"
	python3 - "$1" "$2" <<'PY' >/dev/null 2>&1 3>&- &
import array, os, select, socket, sys
path, out = sys.argv[1], sys.argv[2]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
open(out + ".listening", "w").close()
conn, _ = srv.accept()
fds = array.array("i")
msg, anc, _, _ = conn.recvmsg(64, socket.CMSG_SPACE(fds.itemsize))
for level, kind, data in anc:
    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
        fds.frombytes(data[:fds.itemsize])
fd = fds[0]
pid = [l.split()[1] for l in open("/proc/self/fdinfo/%d" % fd) if l.startswith("Pid:")][0]
with open(out, "w") as f:
    f.write("%s %s\n" % (msg.decode(), pid))
select.select([fd], [], [], 60)  # a pidfd is readable once its process exits
with open(out, "a") as f:
    f.write("exited\n")
PY
	# shellcheck disable=SC2031 # bats runs setup, the test and teardown in one process: nothing is lost
	BG_PIDS+=("$!")
	wait_for_file "$2.listening"
}

@test "create and exec --pidfd-socket send a pidfd of the init and of the exec'd process" {
	skip_if_runc "1.1.5 has no --pidfd-socket (runc 1.2)"
	set_cmd 'exec sleep 100'
	pidfd_receiver "$TEST_DIR/init.sock" "$TEST_DIR/init.out"
	runtime create --pidfd-socket "$TEST_DIR/init.sock" --bundle "$BUNDLE" "$CT"
	wait_for_file "$TEST_DIR/init.out"
	pid="$(state_of | jq -r .pid)"
	[ "$(head -1 "$TEST_DIR/init.out")" = "standard $pid" ]
	runtime start "$CT"

	pidfd_receiver "$TEST_DIR/exec.sock" "$TEST_DIR/exec.out"
	runtime exec -d --pid-file "$TEST_DIR/exec.pid" --pidfd-socket "$TEST_DIR/exec.sock" "$CT" sleep 100
	wait_for_file "$TEST_DIR/exec.out"
	[ "$(head -1 "$TEST_DIR/exec.out")" = "setns $(cat "$TEST_DIR/exec.pid")" ]
	# The pidfds are live: each turns readable when its process exits.
	kill -KILL "$(cat "$TEST_DIR/exec.pid")"
	for _ in $(seq 50); do grep -q exited "$TEST_DIR/exec.out" && break; sleep 0.1; done
	grep -q exited "$TEST_DIR/exec.out"
	runtime kill "$CT" KILL
	for _ in $(seq 50); do grep -q exited "$TEST_DIR/init.out" && break; sleep 0.1; done
	grep -q exited "$TEST_DIR/init.out"
	runtime delete "$CT"
}

@test "--pidfd-socket naming no socket fails create and leaves nothing" {
	skip_if_runc "1.1.5 has no --pidfd-socket (runc 1.2)"
	refused "*pidfd-socket*$TEST_DIR/none*" create --pidfd-socket "$TEST_DIR/none" --bundle "$BUNDLE" "$CT"
}

@test "kill KILL of a container without a pid namespace kills its exec'd processes too" {
	skip_if_runc "1.1.5 signals only the init; runc 1.2 kills the whole cgroup"
	no_pid_ns
	set_cmd 'exec sleep 100'
	run_detached
	runtime exec -d --pid-file "$TEST_DIR/exec.pid" "$CT" sleep 100
	exec_pid="$(cat "$TEST_DIR/exec.pid")"
	kill -0 "$exec_pid"
	runtime kill "$CT" KILL
	wait_for_exit "$exec_pid"
	wait_for_status "$CT" stopped
	runtime delete "$CT"
}

@test "kill --all 9 after the init exited kills the processes it left (shared pid namespace)" {
	no_pid_ns
	use_host_dir
	set_cmd 'sleep 1000 & echo $! > /host/left; exit 0'
	run_detached
	wait_for_status "$CT" stopped
	left="$(cat "$HOST_DIR/left")"
	kill -0 "$left" || fail "the background sleep is gone already"
	run --separate-stderr runtime kill --all "$CT" 9
	echo "kill --all: $status $stderr"
	[ "$status" -eq 0 ]
	wait_for_exit "$left"
	# Nothing is left to signal now: --all still succeeds, a plain kill is "not running".
	run --separate-stderr runtime kill --all "$CT" 9
	[ "$status" -eq 0 ]
	run --separate-stderr runtime kill "$CT" KILL
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"container not running"* ]]
	runtime delete "$CT"
}

@test "kill of a stopped container says 'container not running', with and without a pid namespace" {
	run_detached
	wait_for_status "$CT" stopped
	for sig in TERM KILL; do
		run --separate-stderr runtime kill "$CT" "$sig"
		[ "$status" -ne 0 ]
		[[ "$stderr" == *"container not running"* ]]
	done
	runtime delete "$CT"
	no_pid_ns
	run_detached
	wait_for_status "$CT" stopped
	for sig in TERM KILL; do
		run --separate-stderr runtime kill "$CT" "$sig"
		[ "$status" -ne 0 ]
		[[ "$stderr" == *"container not running"* ]]
	done
	runtime delete "$CT"
}

@test "create refuses a cgroup that already holds processes, and leaves them alone" {
	skip_if_runc "1.1.5 starts the container in the busy cgroup; runc 1.2 refuses"
	cg="/sys/fs/cgroup/pids/nbt-busy-$CT"
	mkdir "$cg"
	on_teardown "rmdir $cg"
	# shellcheck disable=SC2217 # not input: detaches sleep from bats' stdin
	sleep 100 </dev/null >/dev/null 2>&1 3>&- &
	busy=$!
	BG_PIDS+=("$busy")
	echo "$busy" >"$cg/cgroup.procs"
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.cgroupsPath = $p' --arg p "/nbt-busy-$CT"
	snapshot_host
	run --separate-stderr runtime create --bundle "$BUNDLE" "$CT"
	echo "create: $status $stderr"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"cgroup is not empty"* ]]
	kill -0 "$busy"
	grep -qx "$busy" "$cg/cgroup.procs"
	assert_nothing_left
	kill -KILL "$busy"
}

@test "a v1 cpuset cgroup under a parent with empty cpus and mems gets them from the nearest ancestor" {
	[ -d /sys/fs/cgroup/cpuset ] || skip "no cgroup v1 cpuset hierarchy"
	parent="/sys/fs/cgroup/cpuset/nbt-cpuset-$CT"
	mkdir "$parent"
	on_teardown "rmdir $parent"
	echo 0 >"$parent/cgroup.clone_children"
	[ -z "$(cat "$parent/cpuset.cpus")" ] || skip "the new parent cgroup already has cpus"
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.cgroupsPath = $p' --arg p "/nbt-cpuset-$CT/$CT"
	ct_run 'grep Cpus_allowed_list /proc/self/status'
	[ "$status" -eq 0 ]
	want="$(cat /sys/fs/cgroup/cpuset/cpuset.cpus)"
	[[ "$output" == *"Cpus_allowed_list:"*"$want" ]]
	[ "$(cat "$parent/cpuset.cpus")" = "$want" ]
	[ "$(cat "$parent/cpuset.mems")" = "$(cat /sys/fs/cgroup/cpuset/cpuset.mems)" ]
}

@test "a failing hook reads 'error running <kind> hook #N'" {
	update_config '.hooks.prestart = [{"path": "/bin/true"}, {"path": "/bin/sh", "args": ["sh", "-c", "echo broken >&2; exit 7"]}]'
	snapshot_host
	run --separate-stderr runtime create --bundle "$BUNDLE" "$CT"
	echo "create: $status $stderr"
	[ "$status" -ne 0 ]
	# runc 1.1.5 reads "error running hook #1: error running hook: exit
	# status 7, ..."; runc 1.2 names the kind, as nebulon does.
	is_runc || [[ "$stderr" == *"error running prestart hook #1: exit status 7, stdout: , stderr: broken"* ]]
	[[ "$stderr" == *"error running "*"hook #1: "*"exit status 7"*"stderr: broken"* ]]
	assert_nothing_left
}

@test "list with a --root that does not exist fails, as runc 1.2+ does" {
	skip_if_runc "1.1.5 creates a missing --root and lists nothing"
	run --separate-stderr "$RUNTIME" --root "$TEST_DIR/missing" list
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"$TEST_DIR/missing: no such file or directory"* ]]
	[ ! -e "$TEST_DIR/missing" ]
	run --separate-stderr runtime list -q
	[ "$status" -eq 0 ]
}

@test "ps of a stopped container prints the header and succeeds" {
	run_detached
	wait_for_status "$CT" stopped
	run --separate-stderr runtime ps "$CT"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "${lines[0]}" == *PID* ]]
	run --separate-stderr runtime ps --format json "$CT"
	[ "$status" -eq 0 ]
	[ "$(jq length <<<"$output")" -eq 0 ]
	runtime delete "$CT"
}

@test "exec --cap adds to the ambient set only when the process has an inheritable set" {
	set_cmd 'exec sleep 100'
	update_config '.process.capabilities.inheritable = ["CAP_NET_BIND_SERVICE"]'
	run_detached
	run --separate-stderr runtime exec --cap CAP_NET_BIND_SERVICE "$CT" grep CapAmb /proc/self/status
	[ "$status" -eq 0 ]
	[[ "$output" == *"$(cap_mask CAP_NET_BIND_SERVICE)" ]]
	if is_runc; then
		runtime delete --force "$CT"
		skip "runc: 1.1.5's exec'd process has a non-empty ambient set without --cap here"
	fi
	run --separate-stderr runtime exec "$CT" grep CapAmb /proc/self/status
	[[ "$output" == *"0000000000000000" ]]
	runtime delete --force "$CT"

	update_config 'del(.process.capabilities.inheritable)'
	run_detached
	run --separate-stderr runtime exec --cap CAP_NET_ADMIN "$CT" sh -c 'grep -E "Cap(Eff|Amb)" /proc/self/status'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == *"$(cap_mask CAP_AUDIT_WRITE CAP_KILL CAP_NET_BIND_SERVICE CAP_NET_ADMIN)" ]]
	[[ "${lines[1]}" == *"0000000000000000" ]]
	runtime delete --force "$CT"
}

@test "update --l3-cache-schema and --mem-bw-schema fail with runc's words without Intel RDT, changing nothing" {
	grep -qw resctrl /proc/self/mountinfo && skip "this host has resctrl"
	set_cmd 'exec sleep 100'
	run_detached
	before="$(cat "$(host_cgroup pids)/pids.max")"
	run --separate-stderr runtime update --pids-limit 77 --l3-cache-schema "L3:0=f" "$CT"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"Intel RDT/CAT: l3 cache schema is not enabled"* ]]
	run --separate-stderr runtime update --pids-limit 77 --mem-bw-schema "MB:0=50" "$CT"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"Intel RDT/MBA: memory bandwidth schema is not enabled"* ]]
	[ "$(cat "$(host_cgroup pids)/pids.max")" = "$before" ]
	runtime delete --force "$CT"
}

@test "global --rootless takes true, false or auto, and --criu is accepted" {
	for v in true false auto; do
		run --separate-stderr runtime --rootless "$v" list -q
		[ "$status" -eq 0 ]
	done
	run --separate-stderr runtime --rootless maybe list -q
	# runc 1.1.5 reads --rootless only where it needs it (create).
	is_runc || [ "$status" -ne 0 ]
	run --separate-stderr runtime --criu /usr/sbin/criu list -q
	[ "$status" -eq 0 ]
}
