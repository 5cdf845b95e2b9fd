#!/usr/bin/env bats
# Terminals: process.terminal with --console-socket (the master sent with
# SCM_RIGHTS to tests/recvtty, as engines receive it), the pty as the
# process's stdio, controlling terminal and /dev/console, consoleSize, the
# foreground relay of run and exec (raw mode, size, exit status), and the
# refusals runc makes.

load helpers

RECVTTY="${RECVTTY:-$REPO_ROOT/bin/recvtty}"

setup() {
	setup_bundle
	[ -x "$RECVTTY" ] || skip "$RECVTTY not built (make bin/recvtty)"
	command -v script >/dev/null || skip "needs script(1) (util-linux)"
	update_config '.process.terminal = true | del(.process.consoleSize)'
}

# recvtty_bg [FLAGS...]: tests/recvtty listening on $SOCK, its stdout to
# $TEST_DIR/recv.out, the pty's name to $TEST_DIR/recv.name; waits until it
# listens. Its stdin is $TEST_DIR/recv.in, a file the test may fill first.
recvtty_bg() {
	SOCK="$TEST_DIR/console.sock"
	rm -f "$TEST_DIR/recv.ready"
	touch "$TEST_DIR/recv.in"
	"$RECVTTY" --ready-file "$TEST_DIR/recv.ready" --name-file "$TEST_DIR/recv.name" \
		--timeout 30s "$@" "$SOCK" <"$TEST_DIR/recv.in" >"$TEST_DIR/recv.out" 2>"$TEST_DIR/recv.err" 3>&- &
	RECV_PID=$!
	BG_PIDS+=("$RECV_PID")
	wait_for_file "$TEST_DIR/recv.ready"
}

# recv_wait: wait for recvtty to end (the pty closed); sets $status to its
# exit status and $output to what it relayed, carriage returns removed.
recv_wait() {
	wait_for_exit "$RECV_PID" 20
	status=0
	wait "$RECV_PID" || status=$?
	output="$(tr -d '\r' <"$TEST_DIR/recv.out")"
	echo "recvtty: status $status, stderr: $(cat "$TEST_DIR/recv.err"), output:"
	printf '%s\n' "$output"
}

# in_pty CMD [INPUT]: run the shell command CMD on a pty of its own, as typed
# at a terminal (script(1)); INPUT (printf format) is typed once the output
# shows "ready". Sets $status and $output (carriage returns removed).
in_pty() {
	local cmd="$1" input="${2:-}" out="$TEST_DIR/pty.out" done="$TEST_DIR/pty.done" i
	rm -f "$out" "$done"
	touch "$out"
	{
		if [ -n "$input" ]; then
			for ((i = 0; i < 200; i++)); do
				grep -q ready "$out" && break
				sleep 0.05
			done
			# shellcheck disable=SC2059
			printf "$input"
		fi
		# Keep script's stdin open until it is done: at EOF it would type ^D.
		for ((i = 0; i < 1200; i++)); do
			[ -e "$done" ] && break
			sleep 0.05
		done
	} | {
		local rc=0
		timeout -k 5 60 script -qefc "$cmd" /dev/null >"$out" 2>&1 3>&- || rc=$?
		echo "$rc" >"$done"
	}
	status="$(cat "$done")"
	output="$(tr -d '\r' <"$out")"
	echo "in_pty: status $status, output:"
	printf '%s\n' "$output"
}

@test "create --console-socket: the master goes to the socket; the pty is the process's stdio and controlling terminal" {
	recvtty_bg --no-stdin
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	set_cmd 'tty; for fd in 0 1 2; do readlink /proc/self/fd/$fd; done;
		set -- $(cat /proc/$$/stat); echo "session=$6 pid=$1 tty_nr=$7";
		stat -c "dev=%t,%T" "$(tty)"'
	runtime create --console-socket "$SOCK" -b "$BUNDLE" "$CT"
	runtime start "$CT"
	recv_wait
	[ "$status" -eq 0 ]
	[ "$(sed -n 1p <<<"$output")" = /dev/pts/0 ]
	[ "$(sed -n 2,4p <<<"$output" | sort -u)" = /dev/pts/0 ]
	# A session leader with the pty as its controlling terminal: tty_nr is
	# the pty's device number, major 136 (0x88), minor 0.
	[[ "$(sed -n 5p <<<"$output")" =~ ^session=1\ pid=1\ tty_nr=([0-9]+)$ ]]
	[ "${BASH_REMATCH[1]}" -eq $(((136 << 8) | 0)) ]
	[ "$(sed -n 6p <<<"$output")" = "dev=88,0" ]
	# The name runc sends with the master.
	[ "$(cat "$TEST_DIR/recv.name")" = /dev/ptmx ]
	wait_for_status "$CT" stopped
}

@test "terminal: /dev/console is the process's pty, also with a read-only root" {
	recvtty_bg --no-stdin
	update_config '.root.readonly = true'
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	set_cmd 'stat -c "%t,%T %F" /dev/console "$(tty)"; grep " /dev/console " /proc/self/mountinfo | wc -l;
		echo hi >/dev/console'
	runtime create --console-socket "$SOCK" -b "$BUNDLE" "$CT"
	runtime start "$CT"
	recv_wait
	[ "$status" -eq 0 ]
	[ "$(sed -n 1p <<<"$output")" = "88,0 character special file" ]
	[ "$(sed -n 2p <<<"$output")" = "88,0 character special file" ]
	[ "$(sed -n 3p <<<"$output")" = 1 ]
	[ "$(sed -n 4p <<<"$output")" = hi ]
	# The bind mount lives in the container's mount namespace only.
	! grep -q " /dev/console " /proc/self/mountinfo || fail "the /dev/console bind mount is in the host's mount namespace"
}

@test "terminal: consoleSize sizes the pty; the receiver can resize it" {
	recvtty_bg --no-stdin
	update_config '.process.consoleSize = {"height": 33, "width": 101}'
	set_cmd 'stty size'
	runtime create --console-socket "$SOCK" -b "$BUNDLE" "$CT"
	runtime start "$CT"
	recv_wait
	[ "$status" -eq 0 ]
	[ "$output" = "33 101" ]

	runtime delete "$CT"
	recvtty_bg --no-stdin --winsize 12x34
	set_cmd 'sleep 0.5; stty size'
	runtime run -d --console-socket "$SOCK" -b "$BUNDLE" "$CT"
	recv_wait
	[ "$status" -eq 0 ]
	[ "$output" = "12 34" ]
}

@test "terminal: input typed at the receiver reaches the process; the line discipline is the container's" {
	printf 'hello\n' >"$TEST_DIR/recv.in"
	recvtty_bg
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	set_cmd 'read -r line; echo "got <$line>"'
	runtime run -d --console-socket "$SOCK" -b "$BUNDLE" "$CT"
	recv_wait
	[ "$status" -eq 0 ]
	# The pty echoes the typed line, then the process answers.
	[ "$output" = "hello
got <hello>" ]
}

@test "terminal: a non-root process owns its pty and can open /dev/tty" {
	recvtty_bg --no-stdin
	update_config '.process.user = {"uid": 1000, "gid": 1000}'
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	set_cmd 'id -u; stat -c "%u %g %a" "$(tty)"; echo via-dev-tty >/dev/tty'
	runtime run -d --console-socket "$SOCK" -b "$BUNDLE" "$CT"
	recv_wait
	[ "$status" -eq 0 ]
	# Owner the process's user, group tty (devpts gid=5), mode 620 (devpts mode=620).
	[ "$output" = "1000
1000 5 620
via-dev-tty" ]
}

@test "terminal: in a user namespace, the pty comes from the container's devpts" {
	recvtty_bg --no-stdin
	add_userns
	chown -R 100000:200000 "$BUNDLE/rootfs"
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	set_cmd 'tty; id -u; stat -c "%u" "$(tty)"; stty size'
	update_config '.process.consoleSize = {"height": 5, "width": 6}'
	runtime run -d --console-socket "$SOCK" -b "$BUNDLE" "$CT"
	recv_wait
	[ "$status" -eq 0 ]
	[ "$output" = "/dev/pts/0
0
0
5 6" ]
}

@test "terminal: create without --console-socket fails, naming the field, and leaves nothing" {
	refused '*process.terminal*--console-socket*' create -b "$BUNDLE" "$CT"
	refused '*process.terminal*--console-socket*' run -d -b "$BUNDLE" "$CT"
}

@test "terminal: --console-socket without a terminal, or in the foreground, fails and leaves nothing" {
	recvtty_bg --no-stdin --timeout 0
	update_config '.process.terminal = false'
	refused '*--console-socket*process.terminal is false*' create --console-socket "$SOCK" -b "$BUNDLE" "$CT"
	update_config '.process.terminal = true'
	refused '*--console-socket*foreground*' run --console-socket "$SOCK" -b "$BUNDLE" "$CT"
	# Nothing connected to the socket: recvtty is still waiting.
	kill -0 "$RECV_PID"
}

@test "terminal: a console socket nobody listens on fails create, naming the socket" {
	refused "*$TEST_DIR/nobody.sock*" create --console-socket "$TEST_DIR/nobody.sock" -b "$BUNDLE" "$CT"
}

@test "run in the foreground relays the terminal: output, input, size and exit status" {
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	set_cmd 'tty; stty size; echo ready; read -r line; echo "got <$line>"; exit 3'
	in_pty "stty rows 20 cols 70; $RUNTIME --root $ROOT run -b $BUNDLE $CT" 'typed\r'
	[ "$status" -eq 3 ]
	[ "$(sed -n 1,3p <<<"$output")" = "/dev/pts/0
20 70
ready" ]
	[[ "$output" == *"got <typed>"* ]]
	[ -z "$(runtime list -q)" ]
}

@test "run in the foreground: the caller's terminal is raw while relayed, restored after" {
	# With the caller's terminal raw, ^C reaches the container as a byte (its
	# own terminal is raw too); cooked, it would be SIGINT to the runtime.
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	set_cmd 'stty raw -echo; echo ready; c=$(dd bs=1 count=1 2>/dev/null | od -An -tx1); stty sane; echo "byte:$c"'
	in_pty "stty -g; $RUNTIME --root $ROOT run -b $BUNDLE $CT; echo rc=\$?; stty -g" '\003'
	[ "$status" -eq 0 ]
	[[ "$output" == *"byte: 03"* ]]
	[[ "$output" == *"rc=0"* ]]
	local before after
	before="$(sed -n 1p <<<"$output")"
	after="$(tail -n 1 <<<"$output")"
	[ -n "$before" ]
	[ "$before" = "$after" ]
}

@test "run in the foreground: a window-size change reaches the container" {
	skip_if_runc "it sizes the pty after the process starts: its first stty size sees 0 0"
	set_cmd 'stty size; echo ready; sleep 1; stty size'
	in_pty "stty rows 10 cols 20; $RUNTIME --root $ROOT run -b $BUNDLE $CT </dev/tty & p=\$!;
		sleep 0.5; stty rows 30 cols 40; wait \$p; echo rc=\$?"
	[ "$status" -eq 0 ]
	[[ "$output" == *"10 20"*"ready"*"30 40"*"rc=0"* ]]
}

@test "run in the foreground: with no terminal on the caller's side, consoleSize stays and output is relayed" {
	skip_if_runc "it needs a terminal on the caller's side (open /dev/tty: no such device or address)"
	update_config '.process.consoleSize = {"height": 7, "width": 9}'
	set_cmd 'tty; stty size'
	run runtime run -b "$BUNDLE" "$CT"
	[ "$status" -eq 0 ]
	[ "$(tr -d '\r' <<<"$output")" = "/dev/pts/0
7 9" ]
}

@test "run in the foreground: a signal to the runtime reaches the process on its terminal" {
	skip_if_runc "it needs a terminal on the caller's side (open /dev/tty: no such device or address)"
	set_cmd 'trap "echo TERM; exit 7" TERM; echo ready; while :; do sleep 0.1; done'
	"$RUNTIME" --root "$ROOT" run -b "$BUNDLE" "$CT" >"$TEST_DIR/run.out" 2>&1 </dev/null 3>&- &
	local pid=$!
	BG_PIDS+=("$pid")
	for _ in $(seq 100); do grep -q ready "$TEST_DIR/run.out" && break; sleep 0.1; done
	kill -TERM "$pid"
	wait_for_exit "$pid" 10
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 7 ]
	grep -q TERM "$TEST_DIR/run.out"
}

# --- exec ------------------------------------------------------------------

# start_plain: a running container without a terminal.
start_plain() {
	update_config '.process.terminal = false'
	use_host_dir
	set_cmd 'touch /host/ready; exec sleep 1000'
	run_detached
	wait_for_file "$HOST_DIR/ready"
}

@test "exec -t relays a terminal in the foreground: tty, size, input, exit status" {
	skip_if_runc "it sizes the pty after the process starts: its first stty size sees 0 0"
	start_plain
	in_pty "stty rows 15 cols 50; $RUNTIME --root $ROOT exec -t $CT sh -c 'tty; stty size; echo ready; read -r l; echo \"got <\$l>\"; exit 5'" 'abc\r'
	[ "$status" -eq 5 ]
	[ "$(sed -n 1,3p <<<"$output")" = "/dev/pts/0
15 50
ready" ]
	[[ "$output" == *"got <abc>"* ]]
	# The container's own process is still alone and running.
	[ "$(status_of)" = running ]
}

@test "exec -t -u: the exec'd process owns its pty, a new one beside the container's" {
	skip_if_runc "it needs a terminal on the caller's side (open /dev/tty: no such device or address)"
	start_plain
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	run runtime exec -t -u 1000:1000 "$CT" sh -c 'tty; stat -c "%u" "$(tty)"; ls -l /proc/self/fd/0 | awk "{print \$NF}"'
	[ "$status" -eq 0 ]
	[ "$(tr -d '\r' <<<"$output")" = "/dev/pts/0
1000
/dev/pts/0" ]
}

@test "exec -d -t --console-socket sends the exec'd process's terminal to the socket" {
	start_plain
	recvtty_bg --no-stdin
	runtime exec -d -t --console-socket "$SOCK" "$CT" sh -c 'tty; echo from-exec'
	recv_wait
	[ "$status" -eq 0 ]
	[ "$output" = "/dev/pts/0
from-exec" ]
}

@test "exec: -d -t without a console socket, or a console socket without -t, fails with 255 and leaves nothing" {
	start_plain
	# shellcheck disable=SC2034 # read by helpers.bash (assert_exec_left_nothing)
	INIT_PID="$(state_of | jq -r .pid)"
	exec_fails 'console' -d -t "$CT" true
	recvtty_bg --no-stdin --timeout 0
	exec_fails 'console' -d --console-socket "$SOCK" "$CT" true
	exec_fails 'console' -t --console-socket "$SOCK" "$CT" true
	run runtime exec -d -t "$CT" true
	[ "$status" -eq 255 ]
}

@test "a created container waits in one C process: no Go runtime, no helper, little memory" {
	skip_if_runc "1.1.5's init waits in Go"
	use_host_dir
	set_cmd 'echo ran > /host/started; while [ ! -e /host/stop ]; do sleep 0.1; done'
	# A terminal: the Go helper that makes the root hands its pty over to the init.
	recvtty_bg
	runtime create -b "$BUNDLE" --console-socket "$SOCK" "$CT"
	local pid anon
	pid=$(state_of | jq -r .pid)
	describe_process "$pid"
	[ "$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status")" = 1 ]
	# The Go helper exits as the init reports Ready, and the init reaps it at once.
	local i
	for ((i = 0; i < 40; i++)); do
		[ -z "$(cat "/proc/$pid/task/$pid/children")" ] && break
		sleep 0.05
	done
	[ -z "$(cat "/proc/$pid/task/$pid/children")" ] || fail "the init has children: $(cat "/proc/$pid/task/$pid/children")"
	# A waiting Go runtime holds about 1.4 MiB of anonymous memory; this C process under 200 KiB.
	anon=$(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status")
	[ "$anon" -lt 200 ] || fail "the created container's init holds $anon KiB of anonymous memory"
	# Its terminal is the pty the helper made.
	[[ "$(readlink "/proc/$pid/fd/0")" == /dev/pts/* ]] || fail "fd 0 is $(readlink "/proc/$pid/fd/0")"
	[ ! -e "$HOST_DIR/started" ]
	touch "$HOST_DIR/stop"
	runtime start "$CT"
	wait_for_file "$HOST_DIR/started"
}
