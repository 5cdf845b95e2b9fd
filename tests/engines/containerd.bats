#!/usr/bin/env bats
# containerd (Debian's) with its runc shim pointed at nebulon (ctr --runc-binary), each scenario
# compared with runc. The daemon is the file's own: private root, state and socket.

load helpers

setup_file() {
	require_engine containerd
	command -v ctr >/dev/null || skip "ctr is not installed"
	export E="$BATS_FILE_TMPDIR/containerd"
	mkdir -p "$E"
	make_wrappers "$E"
	# What containerd and ctr make outside $E, removed at the end if they are ours: the shims'
	# sockets (/run/containerd/s), and the namespace's parent cgroup the runtimes make.
	[ -e /run/containerd ] && touch "$E/had-run-containerd"
	[ -e /sys/fs/cgroup/memory/nbtest ] && touch "$E/had-cgroup"
	"$ENGINES_DIR/engine.sh" containerd-start "$E" >"$E/containerd.pid"
	make_oci_archive "$E/image.tar" "$IMAGE"
	ctr -a "$E/containerd.sock" -n nbtest image import "$E/image.tar" >/dev/null
}

teardown_file() {
	[ -n "${E:-}" ] || return 0
	local id
	for id in $(ctr -a "$E/containerd.sock" -n nbtest task ls -q 2>/dev/null); do
		ctr -a "$E/containerd.sock" -n nbtest task kill -s KILL "$id" >/dev/null 2>&1
	done
	sleep 0.5
	for id in $(ctr -a "$E/containerd.sock" -n nbtest container ls -q 2>/dev/null); do
		ctr -a "$E/containerd.sock" -n nbtest task delete -f "$id" >/dev/null 2>&1
		ctr -a "$E/containerd.sock" -n nbtest container rm "$id" >/dev/null 2>&1
	done
	if [ -f "$E/containerd.pid" ]; then
		kill "$(cat "$E/containerd.pid")" 2>/dev/null
		sleep 0.5
	fi
	grep -F " $E" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
	[ -e "$E/had-run-containerd" ] || rm -rf /run/containerd
	[ -e "$E/had-cgroup" ] || find /sys/fs/cgroup -maxdepth 2 -type d -name nbtest -exec rmdir {} + 2>/dev/null
	rm -rf "$E"
}

# c ARGS...: ctr on the file's daemon and namespace.
c() {
	timeout -k 5 "$ENGINE_TIMEOUT" ctr -a "$E/containerd.sock" -n nbtest "$@"
}

# container_cgroups: the containers' cgroups (nbtest/ID, ctr's default cgroupsPath).
container_cgroups() {
	find /sys/fs/cgroup/*/nbtest -mindepth 1 -maxdepth 1 -type d 2>/dev/null
}

# crun_ RUNTIME ARGS...: ctr run on RUNTIME (its wrapper, and its own state root).
crun_() {
	local rt="$1"
	shift
	c run --runc-binary "$E/bin/$rt" --runc-root "$E/state-$rt" --fifo-dir "$E/fifo" "$@"
}

run_rm() {
	crun_ "$1" --rm "$IMAGE" "r-$1" sh -c 'echo hello from ctr; exit 5'
	echo "rc=$?"
	c container ls -q | grep -c "^r-$1$"
}

@test "ctr run --rm: output and exit status, nothing left" {
	compare run_rm
	[ "$output" = "hello from ctr
rc=5
0" ]
}

tasks() {
	crun_ "$1" -d "$IMAGE" "t-$1" sh -c 'trap "exit 3" TERM; while :; do sleep 0.1; done'
	c task ls | awk -v id="t-$1" '$1 == id {print "status", $3}'
	c task exec --fifo-dir "$E/fifo" --exec-id e1 "t-$1" sh -c 'echo exec-ok; exit 6'
	echo "exec rc=$?"
	c task ps "t-$1" | awk 'NR > 1' | wc -l | awk '{print ($1 >= 1 ? "ps lists pids" : "ps empty")}'
	c task pause "t-$1"
	c task ls | awk -v id="t-$1" '$1 == id {print "status", $3}'
	c task resume "t-$1"
	c task ls | awk -v id="t-$1" '$1 == id {print "status", $3}'
	c task metrics "t-$1" | awk '$1 == "memory.usage_in_bytes" {print "metrics has memory usage"}'
	c task kill -s TERM "t-$1"
	local i
	for ((i = 0; i < 50; i++)); do
		c task ls | grep -q "^t-$1 .*STOPPED" && break
		sleep 0.1
	done
	c task ls | awk -v id="t-$1" '$1 == id {print "status", $3}'
	c task delete "t-$1" 2>&1 | grep -o "exit code [0-9]*"
	c container rm "t-$1"
}

@test "ctr run -d; task exec, ps, pause, resume, metrics, kill, delete" {
	compare tasks
	[ "$output" = "status RUNNING
exec-ok
exec rc=6
ps lists pids
status PAUSED
status RUNNING
metrics has memory usage
status STOPPED
exit code 3" ]
}

terminal() {
	in_pty "ctr -a $E/containerd.sock -n nbtest run --runc-binary $E/bin/$1 --runc-root $E/state-$1 --fifo-dir $E/fifo \
		-t --rm $IMAGE tt-$1 sh -c 'tty; sleep 0.3; stty size; exit 2'; echo rc=\$?"
}

@test "ctr run -t: a terminal sized like the caller's, and the exit status" {
	compare terminal
	[ "$output" = "/dev/pts/0
24 80
rc=2" ]
}

exec_tty() {
	crun_ "$1" -d "$IMAGE" "et-$1" sleep 1000
	in_pty "ctr -a $E/containerd.sock -n nbtest task exec -t --fifo-dir $E/fifo --exec-id e2 et-$1 sh -c 'tty; exit 7'; echo rc=\$?" |
		grep -v "resize pty"
	c task kill -s KILL "et-$1"
	sleep 0.3
	c task delete "et-$1" >/dev/null 2>&1
	c container rm "et-$1"
}

@test "ctr task exec -t: a terminal for the exec'd process" {
	compare exec_tty
	[ "$output" = "/dev/pts/0
rc=7" ]
}

@test "containerd: every container above was deleted by its runtime: no cgroup or runtime state is left" {
	[ -z "$(c container ls -q)" ]
	[ -z "$(container_cgroups)" ] || fail "cgroups left: $(container_cgroups)"
	local rt
	for rt in $(runtimes); do
		[ -z "$(ls -A "$E/state-$rt/nbtest" 2>/dev/null)" ] || fail "$rt state left: $(ls -A "$E/state-$rt/nbtest")"
	done
}
