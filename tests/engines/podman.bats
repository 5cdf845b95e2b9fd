#!/usr/bin/env bats
# podman (Debian's, cgroupfs manager) with nebulon as its OCI runtime, each scenario compared
# with runc: what a podman user sees must not change with the runtime.

load helpers

setup_file() {
	podman_setup_file
}

teardown_file() {
	podman_teardown_file
}

teardown() {
	pm nebulon rm -af -t 0 >/dev/null 2>&1 || true
}

# container_cgroups: the containers' cgroups podman asked for (libpod_parent/libpod-ID).
container_cgroups() {
	find /sys/fs/cgroup -maxdepth 3 -type d -name "libpod-*" 2>/dev/null
}

# pm RUNTIME ARGS...: podman with the file's storage, on RUNTIME. The runtimes keep their
# state in their default roots (/run/nebulon, /run/runc): a global --root given through
# --runtime-flag would reach every container's runtime, runc's with nebulon's root too.
pm() {
	local rt="$1"
	shift
	timeout -k 5 "$ENGINE_TIMEOUT" podman --root "$E/storage" --runroot "$E/run" --runtime "$rt" "$@"
}

run_fg() { # exit status and output of a foreground run
	pm "$1" run --rm "$IMAGE" sh -c 'echo hello; exit 3'
	echo "rc=$?"
}

@test "podman run: output and exit status" {
	compare run_fg
	[ "$output" = "hello
rc=3" ]
}

run_detached() {
	pm "$1" run -d --name "d-$1" "$IMAGE" sh -c 'echo started; sleep 0.5; exit 7' >/dev/null
	pm "$1" wait "d-$1"
	pm "$1" logs "d-$1"
	pm "$1" inspect --format '{{.State.Status}} {{.State.ExitCode}}' "d-$1"
	pm "$1" rm "d-$1" >/dev/null
}

@test "podman run -d: the container runs detached; wait, logs and inspect see it" {
	compare run_detached
	[ "$output" = "7
started
exited 7" ]
}

process_flags() {
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	pm "$1" run --rm -e FOO=bar -w /tmp -u 1000:1000 --hostname box "$IMAGE" sh -c 'echo $FOO; pwd; id; hostname'
}

@test "podman run -e -w -u --hostname" {
	compare process_flags
	[ "$output" = "bar
/tmp
uid=1000(1000) gid=1000(1000) groups=1000(1000)
box" ]
}

limits() {
	pm "$1" run --rm -m 64m --pids-limit 50 --cpus 0.5 --ulimit nofile=512:700 --ulimit nproc=1024:1024 "$IMAGE" sh -c '
		cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max \
			/sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us; ulimit -n; ulimit -Hn'
}

@test "podman run -m --pids-limit --cpus --ulimit" {
	compare limits
	[ "$output" = "67108864
50
50000
100000
512
700" ]
}

filesystems() {
	local vol="$E/vol-$1"
	rm -rf "$vol"
	mkdir -p "$vol"
	echo v >"$vol/f"
	pm "$1" run --rm --read-only --tmpfs /scratch -v "$vol:/rw" -v "$vol:/ro:ro" "$IMAGE" sh -c '
		touch /x 2>&1; touch /scratch/y && echo scratch-ok; touch /tmp/z && echo tmp-ok
		cat /rw/f; echo w >/rw/g && echo rw-ok; echo w >/ro/h 2>&1'
	ls "$vol"
}

@test "podman run --read-only --tmpfs, -v host dirs read-write and read-only" {
	compare filesystems
	[ "$output" = "touch: /x: Read-only file system
scratch-ok
tmp-ok
v
rw-ok
sh: can't create /ro/h: Read-only file system
f
g" ]
}

caps() {
	pm "$1" run --rm --cap-drop CHOWN --cap-add NET_ADMIN "$IMAGE" sh -c 'grep ^CapEff: /proc/self/status'
}

@test "podman run --cap-add --cap-drop" {
	compare caps
	local eff=$((0x$(awk '{print $2}' <<<"$output")))
	[ $((eff & 1)) -eq 0 ]           # CAP_CHOWN dropped
	[ $((eff >> 12 & 1)) -eq 1 ]     # CAP_NET_ADMIN added
}

terminal() {
	in_pty "podman --root $E/storage --runroot $E/run --runtime $1 \
		run --rm -t $IMAGE sh -c 'tty; stty size; exit 4'; echo rc=\$?"
}

@test "podman run -t: a terminal of the caller's size, and the exit status" {
	compare terminal
	[ "$output" = "/dev/pts/0
24 80
rc=4" ]
}

execs() {
	pm "$1" run -d --name "x-$1" "$IMAGE" sleep 1000 >/dev/null
	pm "$1" exec "x-$1" sh -c 'echo exec; exit 5'
	echo "rc=$?"
	in_pty "podman --root $E/storage --runroot $E/run --runtime $1 \
		exec -t x-$1 sh -c 'tty; exit 6'; echo rc=\$?"
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	pm "$1" exec -u 1000 -w /tmp -e A=b "x-$1" sh -c 'id -u; pwd; echo $A'
	pm "$1" rm -f -t 0 "x-$1" >/dev/null
}

@test "podman exec, with and without -t" {
	compare execs
	[ "$output" = "exec
rc=5
/dev/pts/0
rc=6
1000
/tmp
b" ]
}

lifecycle() {
	pm "$1" run -d --name "l-$1" "$IMAGE" sh -c 'trap "exit 9" TERM; while :; do sleep 0.1; done' >/dev/null
	pm "$1" pause "l-$1" >/dev/null
	pm "$1" inspect --format '{{.State.Status}}' "l-$1"
	pm "$1" unpause "l-$1" >/dev/null
	pm "$1" inspect --format '{{.State.Status}}' "l-$1"
	pm "$1" update --memory 128m "l-$1" >/dev/null
	pm "$1" exec "l-$1" cat /sys/fs/cgroup/memory/memory.limit_in_bytes
	# The loop's sleeps come and go: pid 1 is the one to see.
	pm "$1" top "l-$1" user pid comm | awk 'NR == 1 || $2 == 1'
	pm "$1" stats --no-stream --format '{{.Name}} {{.PIDs}}' "l-$1" | awk '{sub(/-[a-z]+$/, "", $1); print $1, ($2 >= 1 ? "has pids" : "no pids")}'
	pm "$1" stop -t 5 "l-$1" >/dev/null
	pm "$1" inspect --format '{{.State.Status}} {{.State.ExitCode}}' "l-$1"
	pm "$1" rm "l-$1" >/dev/null
	pm "$1" ps -a -q --filter "name=l-$1" | wc -l
}

@test "podman pause, unpause, update, top, stats, stop and rm" {
	compare lifecycle
	[ "$output" = "paused
running
134217728
USER        PID         COMMAND
root        1           sh
l has pids
exited 9
0" ]
}

kills() {
	pm "$1" run -d --name "k-$1" "$IMAGE" sh -c 'trap "echo got USR1" USR1; while :; do sleep 0.1; done' >/dev/null
	sleep 0.3
	pm "$1" kill -s USR1 "k-$1" >/dev/null
	sleep 0.5
	pm "$1" kill "k-$1" >/dev/null
	pm "$1" wait "k-$1"
	pm "$1" logs "k-$1"
	pm "$1" rm "k-$1" >/dev/null
}

@test "podman kill with a signal, then the default SIGKILL" {
	compare kills
	[ "$output" = "137
got USR1" ]
}

parallel() {
	local i pids=()
	for i in $(seq 8); do
		pm "$1" run --rm "$IMAGE" sh -c "echo \$((6 * $i))" >"$E/par-$1-$i" 2>&1 &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do wait "${pids[$i]}" || echo "container $((i + 1)) failed"; done
	cat "$E"/par-"$1"-* | sort -n | tr '\n' ' '
}

@test "podman: eight containers run in parallel" {
	compare parallel
	[ "$output" = "6 12 18 24 30 36 42 48 " ]
}

more() {
	pm "$1" run -d --name "m-$1" "$IMAGE" sh -c 'echo start; sleep 100' >/dev/null
	pm "$1" restart -t 0 "m-$1" >/dev/null
	pm "$1" logs "m-$1" | tr '\n' ' '
	echo
	pm "$1" exec -d "m-$1" touch /tmp/from-exec-d >/dev/null
	sleep 0.3
	pm "$1" exec "m-$1" ls /tmp
	pm "$1" rm -f -t 0 "m-$1" >/dev/null
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	pm "$1" run --rm --pid host "$IMAGE" sh -c '[ "$(cat /proc/$$/status | grep -c ^NSpid)" = 1 ] && echo host-pid-ns'
	pm "$1" run --rm "$IMAGE" grep ^Seccomp: /proc/self/status
	pm "$1" run --rm --security-opt seccomp=unconfined "$IMAGE" grep ^Seccomp: /proc/self/status
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	pm "$1" run --rm --privileged "$IMAGE" sh -c 'ls /dev | wc -l | awk "{print (\$1 > 50 ? \"host devices\" : \"few devices\")}"'
	pm "$1" run --rm --uidmap 0:100000:65536 --gidmap 0:100000:65536 "$IMAGE" sh -c 'cat /proc/self/uid_map; touch /tmp/x && echo writable'
	pm "$1" run --rm --init "$IMAGE" cat /proc/1/comm
}

@test "podman restart, exec -d, --pid host, its default seccomp profile, --privileged, --uidmap, --init" {
	compare more
	[ "$output" = "start start 
from-exec-d
host-pid-ns
Seccomp:	2
Seccomp:	0
host devices
         0     100000      65536
writable
podman-init" ]
}

run_errors() {
	pm "$1" run --rm "$IMAGE" /nonexistent
	echo "rc=$?"
	pm "$1" run --rm "$IMAGE" /etc/passwd
	echo "rc=$?"
}

@test "podman shows the runtime's reason for a failed start, with runc's exit codes (127, 126)" {
	local before
	before="$(calls_of nebulon)"
	run run_errors nebulon
	echo "$output"
	assert_nebulon_ran "$before"
	# conmon read it from nebulon's JSON log: the message alone, no log framing.
	[[ "$(sed -n 1p <<<"$output")" == 'Error: '*'nebulon: exec: "/nonexistent": stat /nonexistent: no such file or directory'* ]]
	[ "$(sed -n 2p <<<"$output")" = rc=127 ]
	[[ "$(sed -n 3p <<<"$output")" == *'/etc/passwd'*'permission denied'* ]]
	[ "$(sed -n 4p <<<"$output")" = rc=126 ]
	if [ -n "$RUNC" ]; then
		run run_errors runc
		echo "$output"
		[ "$(grep rc= <<<"$output" | tr '\n' ' ')" = "rc=127 rc=126 " ]
	fi
}

@test "podman: every container above was deleted by its runtime: no cgroup or runtime state is left" {
	[ -z "$(pm nebulon ps -aq)" ]
	[ -z "$(container_cgroups)" ] || fail "cgroups left: $(container_cgroups)"
	[ -z "$(ls -A /run/nebulon 2>/dev/null)" ]
	[ -z "$(ls -A /run/runc 2>/dev/null)" ]
}
