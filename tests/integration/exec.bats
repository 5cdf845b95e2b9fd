#!/usr/bin/env bats
# exec: a new process in a running container. Its namespaces and cgroups,
# exit status and signal forwarding, the process flags (--env, --cwd, --user,
# -g, --cap, --no-new-privs, --process), --detach/--pid-file, --preserve-fds,
# stdio, --cgroup, --ignore-paused, user namespaces, concurrency and errors.

load helpers

# start_ct: run the container detached: it records its /proc/self/cgroup in
# /host/init-cgroup, then sleeps. Sets INIT_PID (host pid of the init).
start_ct() {
	use_host_dir
	set_cmd 'cat /proc/self/cgroup > /host/init-cgroup; touch /host/ready; exec sleep 1000'
	run_detached
	wait_for_file "$HOST_DIR/ready"
	INIT_PID="$(state_of | jq -r .pid)"
	[ -n "$INIT_PID" ] && [ "$INIT_PID" -gt 0 ]
}

# exec_bg NAME ARGS...: `$RUNTIME exec ARGS` in the background of this shell
# (so the test can signal the runtime process itself), stdout and stderr to
# $TEST_DIR/NAME.out and NAME.err; sets EXEC_PID.
exec_bg() {
	local name="$1"
	shift
	"$RUNTIME" --root "$ROOT" exec "$@" \
		>"$TEST_DIR/$name.out" 2>"$TEST_DIR/$name.err" </dev/null 3>&- &
	EXEC_PID=$!
	BG_PIDS+=("$EXEC_PID")
}

# wait_for_exec_pid COMM: wait until the container holds a process other
# than the init whose comm is COMM; sets EXEC_CT_PID (its host pid).
wait_for_exec_pid() {
	local i p
	for ((i = 0; i < 100; i++)); do
		for p in $(container_pids 2>/dev/null); do
			[ "$p" != "$INIT_PID" ] || continue
			if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$1" ]; then
				EXEC_CT_PID="$p"
				return 0
			fi
		done
		sleep 0.1
	done
	fail "no exec'd $1 in the container after 10s (pids: $(container_pids | tr '\n' ' '))"
}

# cgroup_dirs PID: for each line of /proc/PID/cgroup, "CONTROLLERS DIR"
# with DIR the cgroup's directory on the host ("" controllers: cgroup2).
cgroup_dirs() {
	local ctrls path mnt
	while IFS=: read -r _ ctrls path; do
		mnt="$(awk -v c="$ctrls" '{
			split($0, halves, " - "); split(halves[1], l, " "); split(halves[2], r, " ")
			if (c == "" && r[1] == "cgroup2") { print l[5]; exit }
			if (c == "" || r[1] != "cgroup") next
			n = split(r[3], opts, ","); m = split(c, want, ","); found = 0
			for (i = 1; i <= m; i++) for (j = 1; j <= n; j++) if (want[i] == opts[j]) found++
			if (found == m) { print l[5]; exit }
		}' /proc/self/mountinfo)"
		[ -n "$mnt" ] || { echo "no mount for cgroup controllers '$ctrls'" >&2; return 1; }
		echo "${ctrls:--} $mnt$path"
	done <"/proc/$1/cgroup"
}

# ns_links PID: the pid, net, mnt, ipc, uts, cgroup and user namespace links
# of PID, one a line.
ns_links() {
	local ns
	for ns in pid net mnt ipc uts cgroup user; do
		echo "$ns $(readlink "/proc/$1/ns/$ns")"
	done
}

ensure_cgroupns() {
	update_config 'if any(.linux.namespaces[]; .type == "cgroup") then .
		else .linux.namespaces += [{"type": "cgroup"}] end'
}

# --- namespaces, cgroups, rootfs ---------------------------------------------

@test "the exec'd process is in every namespace and cgroup of the container's init (host view)" {
	ensure_cgroupns
	start_ct
	run --separate-stderr runtime exec -d --pid-file "$TEST_DIR/exec.pid" "$CT" sleep 100
	[ "$status" -eq 0 ]
	pid="$(cat "$TEST_DIR/exec.pid")"
	[ "$pid" != "$INIT_PID" ]
	[ "$(cat "/proc/$pid/comm")" = sleep ]
	diff <(ns_links "$INIT_PID") <(ns_links "$pid")
	# ... and those are the container's own, not the host's.
	for ns in pid net mnt ipc uts cgroup; do
		[ "$(readlink "/proc/$pid/ns/$ns")" != "$(readlink "/proc/self/ns/$ns")" ] || fail "$ns is the host's"
	done
	diff "/proc/$INIT_PID/cgroup" "/proc/$pid/cgroup"
}

@test "inside, exec sees the container's hostname, pid 1, cgroups and rootfs, not the host's" {
	ensure_cgroupns
	update_config '.hostname = "exec-box"'
	echo rootfs-only >"$BUNDLE/rootfs/only-in-rootfs"
	start_ct
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	run --separate-stderr runtime exec "$CT" sh -c 'hostname; cat /proc/1/comm; echo $$
		cat /only-in-rootfs; test -e "$1" && echo host-visible || echo host-hidden' sh "$TEST_DIR"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = exec-box ]
	[ "${lines[1]}" = sleep ]
	[ "${lines[2]}" -ne 1 ] # not the pid namespace's init
	[ "${lines[3]}" = rootfs-only ]
	[ "${lines[4]}" = host-hidden ]
	[ -d "$TEST_DIR" ]
	run --separate-stderr runtime exec "$CT" cat /proc/self/cgroup
	[ "$status" -eq 0 ]
	[ "$output" = "$(cat "$HOST_DIR/init-cgroup")" ]
}

@test "exec into a container that shares the host's pid and network namespaces stays in them" {
	update_config '.linux.namespaces |= map(select(.type != "pid" and .type != "network"))'
	start_ct
	run --separate-stderr runtime exec -d --pid-file "$TEST_DIR/exec.pid" "$CT" sleep 100
	[ "$status" -eq 0 ]
	pid="$(cat "$TEST_DIR/exec.pid")"
	diff <(ns_links "$INIT_PID") <(ns_links "$pid")
	[ "$(readlink "/proc/$pid/ns/pid")" = "$(readlink /proc/self/ns/pid)" ]
	[ "$(readlink "/proc/$pid/ns/net")" = "$(readlink /proc/self/ns/net)" ]
	[ "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ]
}

@test "exec into a --no-pivot container sees its rootfs" {
	echo rootfs-only >"$BUNDLE/rootfs/only-in-rootfs"
	use_host_dir
	set_cmd 'touch /host/ready; exec sleep 1000'
	runtime run -d --no-pivot --bundle "$BUNDLE" "$CT"
	wait_for_file "$HOST_DIR/ready"
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	run --separate-stderr runtime exec "$CT" sh -c 'cat /only-in-rootfs; test -e "$1" && echo host-visible || echo host-hidden' sh "$TEST_DIR"
	# shellcheck disable=SC2154 # set by bats' run
	echo "$output" "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "rootfs-only"$'\n'"host-hidden" ]
}

@test "exec into a user-namespaced container: same user namespace, mapped uids on the host" {
	add_userns
	start_ct
	run --separate-stderr runtime exec -d --pid-file "$TEST_DIR/exec.pid" "$CT" sleep 100
	[ "$status" -eq 0 ]
	pid="$(cat "$TEST_DIR/exec.pid")"
	diff <(ns_links "$INIT_PID") <(ns_links "$pid")
	[ "$(readlink "/proc/$pid/ns/user")" != "$(readlink /proc/self/ns/user)" ]
	[ "$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")" = "100000 100000 100000 100000" ]
	[ "$(awk '/^Gid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")" = "200000 200000 200000 200000" ]

	run --separate-stderr runtime exec "$CT" sh -c 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 0 ]
	[ "${lines[1]}" = 0 ]
	[ "$(words_of "${lines[2]}")" = "0 100000 65536" ]
	[ "$(words_of "${lines[3]}")" = "0 200000 65536" ]

	# A non-root uid of the container is hostID + uid on the host.
	run --separate-stderr runtime exec -d -u 1000:1000 --pid-file "$TEST_DIR/exec2.pid" "$CT" sleep 100
	[ "$status" -eq 0 ]
	pid="$(cat "$TEST_DIR/exec2.pid")"
	[ "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")" = 101000 ]
	[ "$(awk '/^Gid:/ {print $2}' "/proc/$pid/status")" = 201000 ]
}

# --- exit status and signals ---------------------------------------------------

@test "exec exits with the process's exit code (exit 7 -> 7)" {
	start_ct
	run --separate-stderr runtime exec "$CT" sh -c 'echo hi; exit 7'
	[ "$status" -eq 7 ]
	[ "$output" = hi ]
	run --separate-stderr runtime exec "$CT" true
	[ "$status" -eq 0 ]
}

@test "exec exits 128+N when signal N kills the process (SIGKILL -> 137, SIGUSR1 -> 138)" {
	start_ct
	run --separate-stderr runtime exec "$CT" sh -c 'kill -KILL $$; sleep 10'
	[ "$status" -eq 137 ]
	run --separate-stderr runtime exec "$CT" sh -c 'kill -USR1 $$; sleep 10'
	[ "$status" -eq 138 ]
}

@test "exec forwards SIGTERM to the process: the exec'd sleep dies of it and exec exits 143" {
	start_ct
	exec_bg sig "$CT" sleep 100
	wait_for_exec_pid sleep
	kill -TERM "$EXEC_PID"
	wait_rc "$EXEC_PID"
	cat "$TEST_DIR/sig.err"
	[ "$RC" -eq 143 ]
	# (a bare `! cmd` would not fail a bats test)
	if kill -0 "$EXEC_CT_PID" 2>/dev/null; then fail "exec'd sleep $EXEC_CT_PID still alive"; fi
	[ "$(container_pids)" = "$INIT_PID" ]
}

@test "SIGTERM to exec at any moment of its start ends in 143 and leaves no process" {
	start_ct
	local d
	for d in 0 0.005 0.02 0.05 0.1; do
		exec_bg early "$CT" sleep 100
		sleep "$d"
		kill -TERM "$EXEC_PID"
		wait_rc "$EXEC_PID"
		[ "$RC" -eq 143 ] || fail "after ${d}s: exec exited $RC: $(cat "$TEST_DIR/early.err")"
		[ "$(container_pids)" = "$INIT_PID" ] || fail "after ${d}s: left $(container_pids | tr '\n' ' ')"
	done
}

@test "exec forwards SIGHUP, a real-time signal, SIGSEGV and SIGUSR1 to a process that traps them" {
	# The runtime catches most signals in C and the faults through os/signal
	# (foreground.Catch): one of each kind, and a real-time one (37, SIGRTMIN+3).
	start_ct
	exec_bg sig "$CT" sh -c 'trap "echo got-HUP" HUP; trap "echo got-RT" 37; trap "echo got-SEGV" SEGV
		trap "echo got-USR1; exit 42" USR1
		touch /host/exec-ready; while :; do sleep 0.1; done'
	wait_for_file "$HOST_DIR/exec-ready"
	local s
	for s in HUP 37 SEGV; do
		kill -"$s" "$EXEC_PID"
		sleep 0.3
	done
	kill -USR1 "$EXEC_PID"
	wait_rc "$EXEC_PID"
	cat "$TEST_DIR/sig.out" "$TEST_DIR/sig.err"
	[ "$RC" -eq 42 ]
	[ "$(tr '\n' ' ' <"$TEST_DIR/sig.out")" = "got-HUP got-RT got-SEGV got-USR1 " ]
}

@test "exec forwards signals its caller left blocked (USR1, USR2, 37)" {
	# A supervisor that reads its own signals through signalfd may exec the
	# runtime with them blocked: the runtime still takes them and forwards them.
	local block=(perl -MPOSIX -e 'sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGUSR1, SIGUSR2, 37)) or die "sigprocmask: $!"; exec @ARGV or die "exec: $!"')
	# What a program exec'd that way starts with: SIGUSR1 (bit 9) blocked.
	local blk pid
	# shellcheck disable=SC2016 # awk's $2
	blk=$("${block[@]}" awk '/^SigBlk:/ {print $2}' /proc/self/status)
	[ $((0x$blk & 0x200)) -ne 0 ] || fail "perl did not block SIGUSR1 (SigBlk $blk): the test sets nothing up"
	start_ct
	"${block[@]}" "$RUNTIME" --root "$ROOT" exec "$CT" sh -c 'trap "echo got-USR2" USR2; trap "echo got-RT" 37
			trap "echo got-USR1; exit 42" USR1; touch /host/exec-ready; while :; do sleep 0.1; done' \
		>"$TEST_DIR/blk.out" 2>"$TEST_DIR/blk.err" </dev/null 3>&- &
	pid=$!
	BG_PIDS+=("$pid")
	wait_for_file "$HOST_DIR/exec-ready"
	kill -USR2 "$pid"
	sleep 0.3
	kill -37 "$pid"
	sleep 0.3
	kill -USR1 "$pid"
	wait_rc "$pid"
	cat "$TEST_DIR/blk.out" "$TEST_DIR/blk.err"
	[ "$RC" -eq 42 ]
	[ "$(tr '\n' ' ' <"$TEST_DIR/blk.out")" = "got-USR2 got-RT got-USR1 " ]
}

@test "a foreground exec ends with 137 when the container's init is killed (its pid namespace goes)" {
	start_ct
	exec_bg fg "$CT" sleep 100
	wait_for_exec_pid sleep
	runtime kill "$CT" KILL
	wait_rc "$EXEC_PID"
	cat "$TEST_DIR/fg.err"
	[ "$RC" -eq 137 ]
	wait_for_status "$CT" stopped
}

@test "exec exits 255 when it cannot start the process, not a code the process could give" {
	# runc's exec exits 255 on any failure of its own, so a caller can tell it
	# from the process's status.
	start_ct
	run --separate-stderr runtime exec "$CT" no-such-binary
	echo "$stderr"
	[ "$status" -eq 255 ]
	run --separate-stderr runtime exec --cwd /no-such-dir "$CT" true
	[ "$status" -eq 255 ]
	run --separate-stderr runtime exec no-such-container true
	[ "$status" -eq 255 ]
}

# --- the process: inherited settings and flags --------------------------------

@test "exec inherits the container's env, cwd, user, rlimits, capabilities and noNewPrivileges" {
	update_config '.process.env += ["FROM_CONFIG=yes"]
		| .process.cwd = "/tmp"
		| .process.user = {"uid": 1234, "gid": 5678, "additionalGids": [9]}
		| .process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 777, "hard": 888}]
		| .process.capabilities = {"bounding": ["CAP_KILL", "CAP_CHOWN"],
			"effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}
		| .process.noNewPrivileges = true
		| .process.oomScoreAdj = 517'
	start_ct
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	run --separate-stderr runtime exec "$CT" sh -c 'echo "$FROM_CONFIG"; echo "$TERM"; pwd
		ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj; grep -E "^(Uid|Gid|Groups|CapEff|CapPrm|CapBnd|NoNewPrivs):" /proc/self/status'
	echo "$output" "$stderr"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = yes ]
	[ "${lines[1]}" = xterm ]
	[ "${lines[2]}" = /tmp ]
	[ "${lines[3]}" = 777 ]
	[ "${lines[4]}" = 888 ]
	[ "${lines[5]}" = 517 ]
	[ "$(awk '/^Uid:/ {print $2, $5}' <<<"$output")" = "1234 1234" ]
	[ "$(awk '/^Gid:/ {print $2, $5}' <<<"$output")" = "5678 5678" ]
	[ "$(awk '/^Groups:/ {print $2}' <<<"$output")" = 9 ]
	# A non-root uid keeps no capabilities across execve unless ambient:
	# the bounding set is what proves the container's caps were applied.
	[ "$(awk '/^CapBnd:/ {print $2}' <<<"$output")" = "$(cap_mask CAP_KILL CAP_CHOWN)" ]
	[ "$(awk '/^NoNewPrivs:/ {print $2}' <<<"$output")" = 1 ]
}

@test "exec applies the container's user.umask" {
	skip_if_runc "1.1.5 leaves an exec'd process at umask 0022 whatever user.umask says"
	update_config '.process.user.umask = 23' # 0027
	start_ct
	run --separate-stderr runtime exec "$CT" sh -c 'umask'
	[ "$status" -eq 0 ]
	[ "$output" = 0027 ]
}

@test "exec as root gets the container's capabilities, HOME from /etc/passwd and no runtime env" {
	start_ct
	NBT_HOST_ONLY=leak run --separate-stderr runtime exec "$CT" sh -c 'env; grep -E "^Cap(Eff|Prm|Bnd):" /proc/self/status'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *NBT_HOST_ONLY* ]]
	grep -qx 'HOME=/root' <<<"$output"
	grep -qx 'TERM=xterm' <<<"$output"
	want="$(cap_mask CAP_AUDIT_WRITE CAP_KILL CAP_NET_BIND_SERVICE)"
	[ "$(awk '/^CapEff:/ {print $2}' <<<"$output")" = "$want" ]
	[ "$(awk '/^CapPrm:/ {print $2}' <<<"$output")" = "$want" ]
	[ "$(awk '/^CapBnd:/ {print $2}' <<<"$output")" = "$want" ]
}

@test "exec --env overrides a variable of the container and adds new ones" {
	update_config '.process.env += ["FOO=from-config", "KEEP=kept"]'
	start_ct
	run --separate-stderr runtime exec -e FOO=from-flag -e NEW=added -e 'SPACED=a b=c' -e EMPTY= "$CT" env
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx 'FOO=from-flag' <<<"$output"
	[ "$(grep -c '^FOO=' <<<"$output")" -eq 1 ]
	grep -qx 'NEW=added' <<<"$output"
	grep -qx 'SPACED=a b=c' <<<"$output"
	grep -qx 'EMPTY=' <<<"$output"
	grep -qx 'KEEP=kept' <<<"$output"
	grep -qx 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' <<<"$output"
	# The flags change only this process: the next exec has the container's env.
	run --separate-stderr runtime exec "$CT" env
	grep -qx 'FOO=from-config' <<<"$output"
	if grep -q '^NEW=' <<<"$output"; then fail "NEW leaked into the next exec"; fi
}

@test "exec looks args[0] up in the process's PATH, as set by --env" {
	mkdir -p "$BUNDLE/rootfs/opt/tools"
	printf '#!/bin/sh\necho mytool ran\n' >"$BUNDLE/rootfs/opt/tools/mytool"
	chmod 0755 "$BUNDLE/rootfs/opt/tools/mytool"
	start_ct
	run --separate-stderr runtime exec -e PATH=/opt/tools:/bin "$CT" mytool
	echo "$output" "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "mytool ran" ]
	# Not in the container's PATH: not found.
	run --separate-stderr runtime exec "$CT" mytool
	[ "$status" -ne 0 ]
	grep -q 'executable file not found' <<<"$stderr"
}

@test "exec --cwd sets the working directory" {
	mkdir -p "$BUNDLE/rootfs/srv/work"
	start_ct
	run --separate-stderr runtime exec --cwd /srv/work "$CT" pwd
	[ "$status" -eq 0 ]
	[ "$output" = /srv/work ]
}

@test "exec --cwd of a missing directory fails, naming it, and leaves nothing behind" {
	start_ct
	exec_fails 'no-such-dir' --cwd /no-such-dir "$CT" true
	grep -Eiq 'no such file' <<<"$stderr"
}

@test "exec --cwd with a relative path fails: it must be absolute" {
	start_ct
	exec_fails 'absolute' --cwd tmp "$CT" pwd
}

@test "exec --user uid:gid and --additional-gids: id and /proc/self/status" {
	start_ct
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	run --separate-stderr runtime exec -u 1000:1001 --additional-gids 2000 --additional-gids 3000 "$CT" \
		sh -c 'id -u; id -g; grep -E "^(Uid|Gid|Groups):" /proc/self/status; echo "$HOME"'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 1000 ]
	[ "${lines[1]}" = 1001 ]
	[ "$(awk '/^Uid:/ {print $2, $3, $4, $5}' <<<"$output")" = "1000 1000 1000 1000" ]
	[ "$(awk '/^Gid:/ {print $2, $3, $4, $5}' <<<"$output")" = "1001 1001 1001 1001" ]
	[ "$(awk '/^Groups:/ {print $2, $3}' <<<"$output")" = "2000 3000" ]
	# No /etc/passwd entry for 1000: HOME is /.
	[ "${lines[-1]}" = / ]
	# A uid with an /etc/passwd entry gets its home directory.
	echo 'app:x:1001:1001::/home/app:/bin/sh' >>"$BUNDLE/rootfs/etc/passwd"
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	run --separate-stderr runtime exec -u 1001:1001 "$CT" sh -c 'echo "$HOME"'
	[ "$status" -eq 0 ]
	[ "$output" = /home/app ]
	# --user uid alone keeps the container's gid (0).
	run --separate-stderr runtime exec -u 42 "$CT" sh -c 'id -u; id -g'
	[ "$status" -eq 0 ]
	[ "$(words_of "$output")" = "42 0" ]
}

@test "exec --cap adds the capability to the effective, permitted and bounding sets" {
	start_ct
	run --separate-stderr runtime exec --cap CAP_NET_ADMIN --cap CAP_SYS_PTRACE "$CT" grep -E '^Cap(Eff|Prm|Bnd|Inh):' /proc/self/status
	echo "$output"
	[ "$status" -eq 0 ]
	want="$(cap_mask CAP_AUDIT_WRITE CAP_KILL CAP_NET_BIND_SERVICE CAP_NET_ADMIN CAP_SYS_PTRACE)"
	[ "$(awk '/^CapEff:/ {print $2}' <<<"$output")" = "$want" ]
	[ "$(awk '/^CapPrm:/ {print $2}' <<<"$output")" = "$want" ]
	[ "$(awk '/^CapBnd:/ {print $2}' <<<"$output")" = "$want" ]
	# Never inheritable (CVE-2022-29162).
	[ "$(awk '/^CapInh:/ {print $2}' <<<"$output")" = 0000000000000000 ]
	# The added capability works: CAP_NET_ADMIN lets it change lo's mtu.
	run --separate-stderr runtime exec "$CT" ip link set lo mtu 1500
	[ "$status" -ne 0 ]
	run --separate-stderr runtime exec --cap CAP_NET_ADMIN "$CT" ip link set lo mtu 1500
	[ "$status" -eq 0 ]
}

@test "exec --no-new-privs sets NoNewPrivs in a container that does not" {
	update_config '.process.noNewPrivileges = false'
	start_ct
	run --separate-stderr runtime exec "$CT" grep '^NoNewPrivs:' /proc/self/status
	[ "$status" -eq 0 ]
	[ "$(words_of "$output")" = "NoNewPrivs: 0" ]
	run --separate-stderr runtime exec --no-new-privs "$CT" grep '^NoNewPrivs:' /proc/self/status
	[ "$status" -eq 0 ]
	[ "$(words_of "$output")" = "NoNewPrivs: 1" ]
}

@test "exec --process FILE runs that process (args, env, cwd, user); the other flags and args are ignored" {
	start_ct
	jq -n '{terminal: false, args: ["sh", "-c", "echo from-json; id -u; id -g; pwd; env"],
		env: ["PATH=/bin:/usr/bin", "ONLY=process-json"], cwd: "/tmp",
		user: {uid: 33, gid: 44, additionalGids: [55]}}' >"$TEST_DIR/process.json"
	run --separate-stderr runtime exec --process "$TEST_DIR/process.json" -e IGNORED=1 --cwd / "$CT"
	echo "$output" "$stderr"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = from-json ]
	[ "${lines[1]}" = 33 ]
	[ "${lines[2]}" = 44 ]
	[ "${lines[3]}" = /tmp ]
	grep -qx 'ONLY=process-json' <<<"$output"
	grep -qx 'PATH=/bin:/usr/bin' <<<"$output"
	# Only the file's env (plus HOME), not the container's nor the flags'.
	if grep -Eq '^(TERM|IGNORED)=' <<<"$output"; then fail "env not the file's alone"; fi
}

@test "exec --process with a file that is not JSON fails clearly and leaves nothing behind" {
	start_ct
	echo 'not json' >"$TEST_DIR/process.json"
	exec_fails 'json|invalid character' --process "$TEST_DIR/process.json" "$CT"
}

# --- detach, pid file, fds, stdio -----------------------------------------------

@test "exec -d --pid-file returns at once; the file holds the host pid of the running process, which ps lists" {
	start_ct
	# A longer stale file must be replaced whole, not overwritten in place.
	echo 'stale-content-longer-than-any-pid-0123456789' >"$TEST_DIR/exec.pid"
	SECONDS=0
	run --separate-stderr runtime exec --detach --pid-file "$TEST_DIR/exec.pid" "$CT" sleep 100
	echo "$output" "$stderr"
	[ "$status" -eq 0 ]
	[ "$SECONDS" -lt 5 ]
	grep -Eqx '[0-9]+' "$TEST_DIR/exec.pid"
	pid="$(cat "$TEST_DIR/exec.pid")"
	[ "$(cat "/proc/$pid/comm")" = sleep ]
	[ "$(readlink "/proc/$pid/ns/pid")" = "$(readlink "/proc/$INIT_PID/ns/pid")" ]
	container_pids | grep -qx "$pid"
	[ "$(container_pids | wc -l)" -eq 2 ]
	# Nothing else (a temporary file) next to the pid file.
	[ "$(find "$TEST_DIR" -mindepth 1 -maxdepth 1 -name '*pid*' | wc -l)" -eq 1 ]
	# The runtime itself is gone: only the container's two processes remain.
	[ -z "$(test_processes | awk -v n="$(basename "$RUNTIME")" '{split($2, a, "/"); if (index(a[length(a)], n) == 1) print}')" ]
}

@test "exec -d --pid-file that cannot be written fails and kills the process it started" {
	start_ct
	snapshot_host
	run --separate-stderr runtime exec -d --pid-file "$TEST_DIR/no-such-dir/exec.pid" "$CT" sleep 77
	echo "$output" "$stderr"
	[ "$status" -ne 0 ]
	grep -q 'no-such-dir' <<<"$stderr"
	assert_exec_left_nothing
}

@test "a foreground exec writes --pid-file while its process runs" {
	start_ct
	exec_bg fg --pid-file "$TEST_DIR/fg.pid" "$CT" sh -c 'while [ ! -e /host/go ]; do sleep 0.1; done; exit 3'
	wait_for_file "$TEST_DIR/fg.pid"
	pid="$(cat "$TEST_DIR/fg.pid")"
	[ "$(cat "/proc/$pid/comm")" = sh ]
	[ "$(readlink "/proc/$pid/ns/pid")" = "$(readlink "/proc/$INIT_PID/ns/pid")" ]
	touch "$HOST_DIR/go"
	wait_rc "$EXEC_PID"
	[ "$RC" -eq 3 ]
}

@test "exec --pid-file with a relative path writes it relative to the caller's cwd" {
	start_ct
	cd "$TEST_DIR"
	run --separate-stderr runtime exec -d --pid-file rel.pid "$CT" sleep 100
	[ "$status" -eq 0 ]
	pid="$(cat "$TEST_DIR/rel.pid")"
	[ "$(cat "/proc/$pid/comm")" = sleep ]
}

@test "exec --preserve-fds 1 passes the caller's fd 3 and no other fd" {
	start_ct
	echo fd3-data >"$TEST_DIR/fd3"
	echo fd4-data >"$TEST_DIR/fd4"
	run timeout -k 5 "$RUNTIME_TIMEOUT" "$RUNTIME" --root "$ROOT" exec --preserve-fds 1 "$CT" \
		sh -c 'cat <&3; ls /proc/$$/fd; true' 3<"$TEST_DIR/fd3" 4<"$TEST_DIR/fd4" </dev/null
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = fd3-data ]
	# The shell's own fds (ls is its child): stdio and 3.
	[ "$(printf '%s\n' "${lines[@]:1}" | sort -n | tr '\n' ' ')" = "0 1 2 3 " ]
	# Without --preserve-fds the process gets stdio alone.
	run timeout -k 5 "$RUNTIME_TIMEOUT" "$RUNTIME" --root "$ROOT" exec "$CT" \
		sh -c 'ls /proc/$$/fd; true' 3<"$TEST_DIR/fd3" 4<"$TEST_DIR/fd4" </dev/null
	[ "$status" -eq 0 ]
	[ "$(sort -n <<<"$output" | tr '\n' ' ')" = "0 1 2 " ]
}

@test "exec --preserve-fds 2 with the caller's fd 4 closed passes no runtime fd in its place" {
	skip_if_runc "1.1.5 passes its own O_PATH fd of /sys/fs/cgroup there (CVE-2024-21626)"
	start_ct
	echo fd3-data >"$TEST_DIR/fd3"
	run timeout -k 5 "$RUNTIME_TIMEOUT" "$RUNTIME" --root "$ROOT" exec --preserve-fds 2 "$CT" \
		sh -c 'ls -l /proc/$$/fd; true' 3<"$TEST_DIR/fd3" 4<&- </dev/null
	echo "$output"
	# Refusing (fd 4 is not open) is as good as passing nothing: never a
	# file the runtime itself opened on the host.
	if [ "$status" -ne 0 ]; then
		grep -q '4' <<<"$output"
		return
	fi
	fds="$(awk '$(NF-1) == "->" {print $(NF-2), $NF}' <<<"$output")"
	if grep -E '^[0-9]+ /(sys|proc|run)/' <<<"$fds"; then fail "a runtime fd reached the process"; fi
	[ "$(awk '{print $1}' <<<"$fds" | sort -n | tr '\n' ' ')" = "0 1 2 3 " ]
}

@test "exec gives the process the caller's stdin, stdout and stderr" {
	start_ct
	head -c 1048576 /dev/urandom >"$TEST_DIR/in"
	timeout -k 5 "$RUNTIME_TIMEOUT" "$RUNTIME" --root "$ROOT" exec "$CT" cat \
		<"$TEST_DIR/in" >"$TEST_DIR/out" 2>"$TEST_DIR/err" 3>&-
	cmp "$TEST_DIR/in" "$TEST_DIR/out"
	[ ! -s "$TEST_DIR/err" ]
	# Through pipes, in order, and EOF on stdin reaches the process.
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	run --separate-stderr bash -c 'printf "one\ntwo\n" |
		timeout -k 5 "$1" "$2" --root "$3" exec "$4" sh -c "read a; read b; echo \"\$b \$a\"; cat; echo err-line >&2"' \
		_ "$RUNTIME_TIMEOUT" "$RUNTIME" "$ROOT" "$CT"
	[ "$status" -eq 0 ]
	[ "$output" = "two one" ]
	[ "$stderr" = err-line ]
}

@test "the process's stdio are the caller's own files: exec returns when it exits, even if a background child holds them" {
	skip_if_runc "1.1.5 relays a foreground exec's stdio through pipes of its own and waits for their EOF"
	start_ct
	echo input >"$TEST_DIR/in"
	SECONDS=0
	timeout -k 5 "$RUNTIME_TIMEOUT" "$RUNTIME" --root "$ROOT" exec "$CT" \
		sh -c 'sleep 100 & readlink /proc/self/fd/0; readlink /proc/self/fd/1; readlink /proc/self/fd/2 >&2' \
		<"$TEST_DIR/in" >"$TEST_DIR/out" 2>"$TEST_DIR/err" 3>&- || fail "exec failed: $(cat "$TEST_DIR/err")"
	[ "$SECONDS" -lt 10 ]
	# The paths are the host's (the container has no such files), as the kernel names open files.
	[ "$(cat "$TEST_DIR/out")" = "$TEST_DIR/in"$'\n'"$TEST_DIR/out" ]
	[ "$(cat "$TEST_DIR/err")" = "$TEST_DIR/err" ]
}

@test "20 concurrent execs into one container all succeed with their own output and exit code" {
	start_ct
	local pids=() i
	for i in $(seq 1 20); do
		exec_bg "c$i" "$CT" sh -c "echo out-$i; echo err-$i >&2; exit $((i % 7))"
		pids+=("$EXEC_PID")
	done
	for i in $(seq 1 20); do
		wait_rc "${pids[i - 1]}" 30
		[ "$RC" -eq $((i % 7)) ] || fail "exec $i exited $RC: $(cat "$TEST_DIR/c$i.err")"
		[ "$(cat "$TEST_DIR/c$i.out")" = "out-$i" ]
		[ "$(cat "$TEST_DIR/c$i.err")" = "err-$i" ]
	done
	[ "$(container_pids)" = "$INIT_PID" ]
}

# --- --cgroup ------------------------------------------------------------------

# make_sub_cgroups NAME: a sub-cgroup NAME in every cgroup of the container
# (cpuset gets its parent's cpus and mems: an empty cpuset takes no task).
make_sub_cgroups() {
	local ctrls dir
	while read -r ctrls dir; do
		mkdir "$dir/$1"
		on_teardown "rmdir '$dir/$1'"
		if [[ ",$ctrls," == *,cpuset,* ]]; then
			cat "$dir/cpuset.cpus" >"$dir/$1/cpuset.cpus"
			cat "$dir/cpuset.mems" >"$dir/$1/cpuset.mems"
		fi
	done < <(cgroup_dirs "$INIT_PID")
}

@test "exec --cgroup SUB runs the process in the container's existing sub-cgroup SUB" {
	ensure_cgroupns
	start_ct
	make_sub_cgroups sub
	run --separate-stderr runtime exec --cgroup sub "$CT" cat /proc/self/cgroup
	echo "$output" "$stderr"
	[ "$status" -eq 0 ]
	# Inside the container's cgroup namespace every hierarchy shows /sub.
	for line in "${lines[@]}"; do
		[[ "$line" =~ ^[0-9]+:[^:]*:/sub$ ]] || fail "not in /sub: $line"
	done
	[ "${#lines[@]}" -eq "$(wc -l <"$HOST_DIR/init-cgroup")" ]
	# On the host: the container's cgroup path + /sub.
	run --separate-stderr runtime exec -d --cgroup sub --pid-file "$TEST_DIR/exec.pid" "$CT" sleep 100
	[ "$status" -eq 0 ]
	pid="$(cat "$TEST_DIR/exec.pid")"
	diff <(sed 's|$|/sub|' "/proc/$INIT_PID/cgroup") "/proc/$pid/cgroup"
	# delete removes the container's cgroups with the sub-cgroups in them.
	dirs="$(cgroup_dirs "$INIT_PID" | awk '{print $2}')"
	runtime delete --force "$CT"
	for d in $dirs; do
		[ ! -e "$d/sub" ] || fail "left: $d/sub"
		[ ! -e "$d" ] || fail "left: $d"
	done
}

@test "exec --cgroup CONTROLLER:SUB moves only that controller's cgroup" {
	ensure_cgroupns
	start_ct
	make_sub_cgroups sub
	run --separate-stderr runtime exec --cgroup memory:sub "$CT" cat /proc/self/cgroup
	echo "$output" "$stderr"
	[ "$status" -eq 0 ]
	grep -Eqx '[0-9]+:memory:/sub' <<<"$output"
	[ "$(grep -c ':/sub$' <<<"$output")" -eq 1 ]
}

@test "exec --cgroup refuses a path that leads out of the container's cgroup" {
	skip_if_runc "1.1.5 joins a ../ path, outside the container's cgroup"
	start_ct
	dir="$(cgroup_dirs "$INIT_PID" | awk '$1 == "pids" {print $2}')"
	[ -n "$dir" ]
	mkdir "$dir-other"
	on_teardown "rmdir '$dir-other'"
	exec_fails 'cgroup' --cgroup "pids:../$(basename "$dir")-other" "$CT" true
	[ -z "$(cat "$dir-other/cgroup.procs")" ]
}

@test "exec --cgroup of a sub-cgroup that does not exist fails and leaves nothing behind" {
	start_ct
	exec_fails 'no-such-sub' --cgroup no-such-sub "$CT" true
}

# --- errors -------------------------------------------------------------------

@test "exec in a stopped container fails: cannot exec in a stopped container" {
	set_cmd 'true'
	run_detached
	wait_for_status "$CT" stopped
	exec_fails 'stopped' "$CT" true
	[ "$(status_of)" = stopped ]
}

@test "exec in a created (not started) container runs in its namespaces" {
	create_ct
	run --separate-stderr runtime exec "$CT" sh -c 'echo ok'
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = ok ]
	[ "$(status_of)" = created ]
}

@test "exec in a paused container fails: cannot exec in a paused container" {
	start_ct
	runtime pause "$CT"
	on_teardown "'$RUNTIME' --root '$ROOT' resume '$CT'"
	exec_fails 'paused' "$CT" true
	[ "$(status_of)" = paused ]
}

@test "exec -d --ignore-paused in a paused container: the process runs once the container is resumed" {
	start_ct
	runtime pause "$CT"
	on_teardown "'$RUNTIME' --root '$ROOT' resume '$CT'"
	exec_bg ign -d --ignore-paused "$CT" sh -c 'touch /host/ran'
	sleep 1
	[ ! -e "$HOST_DIR/ran" ] # frozen with the container
	[ "$(status_of)" = paused ]
	runtime resume "$CT"
	wait_for_file "$HOST_DIR/ran"
	wait_rc "$EXEC_PID"
	cat "$TEST_DIR/ign.err"
	[ "$RC" -eq 0 ]
	[ "$(status_of)" = running ]
}

@test "exec of a missing binary fails: executable file not found, nothing left behind" {
	start_ct
	exec_fails 'no-such-binary.*executable file not found|executable file not found.*no-such-binary' "$CT" no-such-binary
}

@test "exec of a path that is not executable fails and leaves nothing behind" {
	start_ct
	exec_fails 'permission denied|not executable' "$CT" /etc/passwd
}

@test "exec --user with a non-numeric uid fails, naming it, and leaves nothing behind" {
	start_ct
	exec_fails 'nobody-here' --user nobody-here "$CT" true
	grep -Eiq 'uid' <<<"$stderr"
}

@test "exec -u with a uid the container's user namespace does not map fails" {
	add_userns
	start_ct
	exec_fails 'uid|unmapped' -u 70000 "$CT" id
}

@test "exec --process with a missing file fails, naming it" {
	start_ct
	exec_fails 'nope\.json.*no such file' --process "$TEST_DIR/nope.json" "$CT"
}

@test "exec in an unknown container fails: does not exist" {
	start_ct
	exec_fails 'does not exist' "no-such-$CT" true
}

@test "exec --apparmor with a profile it cannot apply fails, naming AppArmor" {
	start_ct
	exec_fails 'apparmor' --apparmor some-profile "$CT" true
}

@test "exec without a command fails with usage and leaves nothing behind" {
	start_ct
	exec_fails 'command|usage|args' "$CT"
}

@test "exec --env without = fails" {
	skip_if_runc "1.1.5 accepts -e KEY and passes the malformed entry to execve"
	start_ct
	exec_fails 'KEY=VALUE|=' --env NOEQUALS "$CT" true
}
