#!/usr/bin/env bats
# The runc-compatible command line: run, kill, list, spec, features,
# --pid-file, --log/--log-format.

load helpers

# start_foreground_run: `$RUNTIME run` in the background of this shell, so
# the test can signal the runtime process itself; sets RUN_PID.
start_foreground_run() {
	# shellcheck disable=SC2153 # BUNDLE is set by helpers.bash's setup
	"$RUNTIME" --root "$ROOT" run --bundle "$BUNDLE" "$CT" \
		>"$TEST_DIR/run.out" 2>"$TEST_DIR/run.err" </dev/null 3>&- &
	RUN_PID=$!
	BG_PIDS+=("$RUN_PID")
}

# a container that records every signal it traps in /host/signals, says
# "ready" once the traps are set, and exits 0 when /host/stop appears.
setup_signal_recorder() {
	use_host_dir
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	set_cmd 'for s in TERM USR1 HUP; do trap "echo $s >> /host/signals" $s; done
		echo ready > /host/ready
		while [ ! -e /host/stop ]; do sleep 0.1; done'
}

@test "run passes the container's exit code through (exit 3 -> 3)" {
	ct_run 'echo hello; exit 3'
	[ "$status" -eq 3 ]
	[ "$output" = hello ]
}

@test "run exits 0 when the process exits 0 and removes the container" {
	ct_run 'true'
	[ "$status" -eq 0 ]
	run --separate-stderr runtime list -q
	[ -z "$output" ]
}

@test "run exits 128+9 when the container kills itself with SIGKILL" {
	# Without a pid namespace the process is not a namespace init, so its
	# own SIGKILL is not ignored by the kernel.
	update_config '.linux.namespaces |= map(select(.type != "pid"))'
	ct_run 'kill -KILL $$; sleep 10'
	[ "$status" -eq 137 ]
}

@test "run exits 128+9 when the container is killed by 'kill KILL'" {
	use_host_dir
	update_config '.process.args = ["sh", "-c", "touch /host/ready; exec sleep 100"]'
	start_foreground_run
	wait_for_file "$HOST_DIR/ready"
	runtime kill "$CT" KILL
	wait "$RUN_PID" && rc=0 || rc=$?
	[ "$rc" -eq 137 ]
}

@test "run forwards SIGTERM to the container, whose trap picks the exit code" {
	use_host_dir
	set_cmd 'trap "exit 42" TERM; touch /host/ready; while :; do sleep 0.1; done'
	start_foreground_run
	wait_for_file "$HOST_DIR/ready"
	kill -TERM "$RUN_PID"
	for _ in $(seq 100); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
	wait "$RUN_PID" && rc=0 || rc=$?
	[ "$rc" -eq 42 ]
}

@test "run --detach returns at once, leaving the container running" {
	use_host_dir
	set_cmd 'touch /host/ready; exec sleep 100'
	SECONDS=0
	run --separate-stderr runtime run --detach --bundle "$BUNDLE" "$CT"
	[ "$status" -eq 0 ]
	[ "$SECONDS" -lt 10 ]
	wait_for_file "$HOST_DIR/ready"
	[ "$(status_of)" = running ]
	pid="$(state_of | jq -r .pid)"
	[ "$(cat "/proc/$pid/comm")" = sleep ]
}

@test "kill with no signal sends SIGTERM" {
	setup_signal_recorder
	run_detached
	wait_for_file "$HOST_DIR/ready"
	runtime kill "$CT"
	wait_for_file "$HOST_DIR/signals"
	[ "$(cat "$HOST_DIR/signals")" = TERM ]
	[ "$(status_of)" = running ]
}

@test "kill accepts signal names with and without SIG, and numbers" {
	setup_signal_recorder
	run_detached
	wait_for_file "$HOST_DIR/ready"
	for sig in TERM SIGUSR1 HUP 15 10 SIGHUP; do
		runtime kill "$CT" "$sig"
		sleep 0.4 # the trap runs between sleeps
	done
	for _ in $(seq 50); do [ "$(wc -l <"$HOST_DIR/signals")" -ge 6 ] && break; sleep 0.1; done
	[ "$(tr '\n' ' ' <"$HOST_DIR/signals")" = "TERM USR1 HUP TERM USR1 HUP " ]
}

@test "kill KILL, SIGKILL and 9 stop the container" {
	for sig in KILL SIGKILL 9; do
		set_cmd 'exec sleep 100'
		run_detached "$CT-$sig"
		wait_for_status "$CT-$sig" running
		runtime kill "$CT-$sig" "$sig"
		wait_for_status "$CT-$sig" stopped
		runtime delete "$CT-$sig"
	done
}

@test "kill with an unknown signal fails and leaves the container running" {
	set_cmd 'exec sleep 100'
	run_detached
	run --separate-stderr runtime kill "$CT" NOTASIGNAL
	[ "$status" -ne 0 ]
	# shellcheck disable=SC2154 # set by bats' run
	[[ "$stderr" == *NOTASIGNAL* || "$stderr" == *signal* ]]
	[ "$(status_of)" = running ]
}

@test "kill --all signals every process in the container, not only init" {
	use_host_dir
	# Init traps TERM (so it survives) and reports whether its children,
	# which keep the default TERM action, are gone.
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	set_cmd 'trap "echo init-got-term >> /host/log" TERM
		sleep 1000 & c1=$!; sleep 1000 & c2=$!
		echo ready > /host/ready
		while kill -0 $c1 2>/dev/null || kill -0 $c2 2>/dev/null; do sleep 0.1; done
		wait; echo children-dead >> /host/log
		while [ ! -e /host/stop ]; do sleep 0.1; done'
	run_detached
	wait_for_file "$HOST_DIR/ready"
	runtime kill --all "$CT" TERM
	for _ in $(seq 50); do grep -q children-dead "$HOST_DIR/log" 2>/dev/null && break; sleep 0.1; done
	[ "$(sort "$HOST_DIR/log")" = "$(printf 'children-dead\ninit-got-term')" ]
	[ "$(status_of)" = running ]
}

@test "list prints a table header, then one row per container" {
	set_cmd 'exec sleep 100'
	run_detached "$CT-a"
	create_ct "$CT-b"

	run --separate-stderr runtime list
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	[[ "${lines[0]}" =~ ^ID\ +PID\ +STATUS\ +BUNDLE\ +CREATED\ +OWNER$ ]]
	read -r id pid st bundle _ owner <<<"${lines[1]}"
	[ "$id" = "$CT-a" ]
	[ "$pid" = "$(state_of "$CT-a" | jq -r .pid)" ]
	[ "$st" = running ]
	[ "$bundle" = "$BUNDLE" ]
	[ "$owner" = root ]
	read -r id pid st bundle _ owner <<<"${lines[2]}"
	[ "$id" = "$CT-b" ]
	[ "$st" = created ]
}

@test "list with no containers prints only the header" {
	run --separate-stderr runtime list
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "${lines[0]}" =~ ^ID\ +PID\ +STATUS ]]
}

@test "list -q prints only the ids" {
	create_ct "$CT-a"
	create_ct "$CT-b"
	run --separate-stderr runtime list -q
	[ "$status" -eq 0 ]
	[ "$(sort <<<"$output")" = "$(printf '%s\n%s' "$CT-a" "$CT-b")" ]
}

@test "list --format json prints an array of container states" {
	create_ct
	run --separate-stderr runtime list --format json
	[ "$status" -eq 0 ]
	[ "$(jq -r 'length' <<<"$output")" -eq 1 ]
	[ "$(jq -r '.[0].id' <<<"$output")" = "$CT" ]
	[ "$(jq -r '.[0].status' <<<"$output")" = created ]
	[ "$(jq -r '.[0].pid' <<<"$output")" = "$(state_of | jq -r .pid)" ]
	[ "$(jq -r '.[0].bundle' <<<"$output")" = "$BUNDLE" ]
	[ "$(jq -r '.[0].owner' <<<"$output")" = root ]
	[[ "$(jq -r '.[0].created' <<<"$output")" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T ]]
}

@test "list --format json with no containers prints an empty array or null" {
	run --separate-stderr runtime list --format json
	[ "$status" -eq 0 ]
	[[ "$(jq -c . <<<"$output")" == "[]" || "$(jq -c . <<<"$output")" == "null" ]]
}

# shellcheck disable=SC2030 # bats runs setup, the test and teardown in one process: nothing is lost
@test "spec writes a runnable config.json into the current directory" {
	dir="$TEST_DIR/specdir"
	mkdir "$dir"
	(cd "$dir" && "$RUNTIME" spec)
	jq -e . "$dir/config.json" >/dev/null
	[ "$(jq -r .root.path "$dir/config.json")" = rootfs ]
	[ "$(jq -r .root.readonly "$dir/config.json")" = true ]
	[ "$(jq -c .process.args "$dir/config.json")" = '["sh"]' ]
	# runc's default, and so nebulon's, is sh at a terminal.
	[ "$(jq -r .process.terminal "$dir/config.json")" = true ]
	[ "$(jq -r .process.cwd "$dir/config.json")" = / ]
	[[ "$(jq -r .ociVersion "$dir/config.json")" =~ ^1\.[0-9]+\.[0-9]+ ]]
	for ns in pid network ipc uts mount; do
		jq -e --arg t $ns '.linux.namespaces | map(.type) | index($t)' "$dir/config.json" >/dev/null
	done
	for m in /proc /dev /dev/pts /dev/shm /dev/mqueue /sys; do
		jq -e --arg d $m '.mounts | map(.destination) | index($d)' "$dir/config.json" >/dev/null
	done
	[ "$(jq '.linux.maskedPaths | length' "$dir/config.json")" -gt 0 ]
	[ "$(jq '.linux.readonlyPaths | length' "$dir/config.json")" -gt 0 ]
	if ! is_runc; then
		cp -a "$BUNDLE/rootfs" "$dir/rootfs"
		# bats gives the runtime no terminal to relay.
		jq '.process.args = ["true"] | .process.terminal = false' "$dir/config.json" >"$dir/c.json" &&
			mv "$dir/c.json" "$dir/config.json"
		runtime run --bundle "$dir" "$CT"
	fi
}

# runc_spec_is_nebulon_spec [--rootless]: `runc spec` and `$RUNTIME spec` (with the flag) write
# the same config.json, but for the hostname and for what the installed runc writes unlike runc 1.5.
# Every field of the runtime's is compared with runc's or checked here, so a change to it fails.
runc_spec_is_nebulon_spec() {
	local runc=$1 flag=${2:-} dir="$TEST_DIR/spec${2:-}"
	mkdir -p "$dir/runc" "$dir/runtime"
	# ${flag:+"$flag"}: the flag, or no argument at all.
	run --separate-stderr "$runc" spec --bundle "$dir/runc" ${flag:+"$flag"}
	# shellcheck disable=SC2031 # bats runs setup, the test and teardown in one process: nothing is lost
	[ "$status" -eq 0 ] || fail "runc spec $flag: $stderr"
	run --separate-stderr "$RUNTIME" spec --bundle "$dir/runtime" ${flag:+"$flag"}
	# shellcheck disable=SC2031 # bats runs setup, the test and teardown in one process: nothing is lost
	[ "$status" -eq 0 ] || fail "$RUNTIME spec $flag: $stderr"
	# runc 1.5 writes what the installed runc 1.1.5 (Debian 12's) writes, but for:
	#  - .process.capabilities.ambient: 1.1.5 lists the three capabilities there too; runc 1.2
	#    dropped them (opencontainers/runc#4367): an ambient capability must also be
	#    inheritable, and the example has had no inheritable ones since 1.1.2 (CVE-2022-29162).
	#  - .ociVersion: each runc writes the version of the runtime-spec it is built with, 1.1.5
	#    "1.0.2-dev" and 1.5 "1.3.0"; the runtime writes its own, checked below.
	# Deleting a path a newer runc does not write changes nothing.
	diff -u <(jq -S 'del(.hostname, .ociVersion, .process.capabilities.ambient)' "$dir/runc/config.json") \
		<(jq -S 'del(.hostname, .ociVersion)' "$dir/runtime/config.json")
	[ "$(jq -r .hostname "$dir/runc/config.json")" = runc ]
	[ "$(jq -r .hostname "$dir/runtime/config.json")" = nebulon ]
	[ "$(jq -r .ociVersion "$dir/runtime/config.json")" = 1.3.0 ]
	# The version of the spec the runtime implements, as features reports it.
	run --separate-stderr "$RUNTIME" features
	# shellcheck disable=SC2031 # bats runs setup, the test and teardown in one process: nothing is lost
	[ "$status" -eq 0 ]
	# shellcheck disable=SC2031 # bats runs setup, the test and teardown in one process: nothing is lost
	[ "$(jq -r .ociVersion "$dir/runtime/config.json")" = "$(jq -r .ociVersionMax <<<"$output")" ]
}

@test "spec is runc's spec but for the hostname" {
	skip_if_runc "compares the runtime's spec with runc's"
	local runc
	runc="$(type -P runc)" || skip "runc is not installed: no spec to compare with"
	runc_spec_is_nebulon_spec "$runc"
	runc_spec_is_nebulon_spec "$runc" --rootless
}

@test "--version in runc's shape: the version, then the spec, go and libseccomp versions" {
	run --separate-stderr "$RUNTIME" --version
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^[a-z]+\ version\ [^\ ]+$ ]]
	spec="$(sed -n 's/^spec: //p' <<<"$output")"
	[[ "$spec" =~ ^1\.[0-9]+\.[0-9]+ ]]
	grep -q '^go: go1\.' <<<"$output"
	grep -Eq '^libseccomp: 2\.[0-9]+\.[0-9]+$' <<<"$output"
	# The spec version is the one features reports as the highest it implements.
	run --separate-stderr "$RUNTIME" features
	[ "$status" -eq 0 ]
	[ "$spec" = "$(jq -r .ociVersionMax <<<"$output")" ]
}

@test "spec --bundle writes config.json into the given directory" {
	dir="$TEST_DIR/other"
	mkdir "$dir"
	run --separate-stderr "$RUNTIME" spec --bundle "$dir"
	[ "$status" -eq 0 ]
	jq -e .process "$dir/config.json" >/dev/null
}

@test "spec refuses to overwrite an existing config.json" {
	echo '{"keep": "me"}' >"$TEST_DIR/config.json"
	run --separate-stderr "$RUNTIME" spec --bundle "$TEST_DIR"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *config.json* ]]
	[ "$(cat "$TEST_DIR/config.json")" = '{"keep": "me"}' ]
}

@test "features prints JSON with versions, hooks, mount options, namespaces and capabilities" {
	run --separate-stderr "$RUNTIME" features
	[ "$status" -eq 0 ]
	f="$output"
	[[ "$(jq -r .ociVersionMin <<<"$f")" =~ ^1\.[0-9]+\.[0-9]+ ]]
	[[ "$(jq -r .ociVersionMax <<<"$f")" =~ ^1\.[0-9]+\.[0-9]+ ]]
	[ "$(jq -c '.hooks | sort' <<<"$f")" = '["createContainer","createRuntime","poststart","poststop","prestart","startContainer"]' ]
	for o in bind rbind ro rw nosuid nodev noexec relatime rprivate rshared rslave; do
		jq -e --arg o $o '.mountOptions | index($o)' <<<"$f" >/dev/null || fail "mountOptions lacks $o"
	done
	for ns in cgroup ipc mount network pid user uts; do
		jq -e --arg n $ns '.linux.namespaces | index($n)' <<<"$f" >/dev/null || fail "namespaces lacks $ns"
	done
	for c in CAP_CHOWN CAP_KILL CAP_SYS_ADMIN CAP_NET_ADMIN CAP_AUDIT_WRITE; do
		jq -e --arg c $c '.linux.capabilities | index($c)' <<<"$f" >/dev/null || fail "capabilities lacks $c"
	done
}

@test "features reports the systemd driver and org.systemd.property. as a potentially unsafe annotation" {
	run --separate-stderr "$RUNTIME" features
	[ "$status" -eq 0 ]
	[ "$(jq .linux.cgroup.systemd <<<"$output")" = true ]
	jq -e '.potentiallyUnsafeConfigAnnotations | index("org.systemd.property.")' <<<"$output" >/dev/null ||
		fail "potentiallyUnsafeConfigAnnotations lacks org.systemd.property.: $(jq -c .potentiallyUnsafeConfigAnnotations <<<"$output")"
}

@test "create --pid-file writes the init pid; a relative path is relative to the cwd" {
	(cd "$TEST_DIR" && runtime create --bundle "$BUNDLE" --pid-file ct.pid "$CT")
	pid="$(cat "$TEST_DIR/ct.pid")"
	[[ "$pid" =~ ^[0-9]+$ ]]
	[ "$pid" = "$(state_of | jq -r .pid)" ]
	[ -d "/proc/$pid" ]
}

@test "run -d --pid-file writes the pid of the running user process" {
	set_cmd 'exec sleep 100'
	runtime run -d --bundle "$BUNDLE" --pid-file "$TEST_DIR/ct.pid" "$CT"
	pid="$(cat "$TEST_DIR/ct.pid")"
	[ "$pid" = "$(state_of | jq -r .pid)" ]
	[ "$(cat "/proc/$pid/comm")" = sleep ]
}

# assert_replaced FILE LINK: FILE holds a pid, and is a new inode: LINK, a
# hard link made to the old FILE, still reads "old". A pid file is written
# beside and renamed over, so a reader sees the old file or the whole new one.
assert_replaced() {
	[[ "$(cat "$1")" =~ ^[1-9][0-9]*$ ]] || fail "$1 holds '$(cat "$1")', not a pid" || return 1
	[ "$(cat "$2")" = old ] || fail "$1 was rewritten in place" || return 1
	[ "$(find "$(dirname "$1")" -mindepth 1 -maxdepth 1 ! -name "$(basename "$1")" ! -name "$(basename "$2")")" = "" ] ||
		fail "left beside $1: $(ls -A "$(dirname "$1")")"
}

@test "--pid-file is replaced atomically by create, run -d and exec -d" {
	for f in create run exec; do
		mkdir "$TEST_DIR/$f"
		echo old >"$TEST_DIR/$f/pid"
		ln "$TEST_DIR/$f/pid" "$TEST_DIR/$f/link"
	done
	set_cmd 'exec sleep 100'
	runtime create --bundle "$BUNDLE" --pid-file "$TEST_DIR/create/pid" "$CT"
	assert_replaced "$TEST_DIR/create/pid" "$TEST_DIR/create/link"
	runtime run -d --bundle "$BUNDLE" --pid-file "$TEST_DIR/run/pid" "$CT-2"
	assert_replaced "$TEST_DIR/run/pid" "$TEST_DIR/run/link"
	runtime exec -d --pid-file "$TEST_DIR/exec/pid" "$CT-2" sleep 50
	assert_replaced "$TEST_DIR/exec/pid" "$TEST_DIR/exec/link"
	[ "$(cat "/proc/$(cat "$TEST_DIR/exec/pid")/comm")" = sleep ]
}

@test "a detached container keeps the fifos, pipe and file the caller gave as stdio, after the runtime exits" {
	mkfifo "$TEST_DIR/in.fifo" "$TEST_DIR/out.fifo"
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	set_cmd 't=$(for fd in 0 1 2; do stat -L -c "%F" /proc/$$/fd/$fd; done); echo "$t" >&2;
		read -r line; echo "out:$line"; echo "err:$line" >&2'
	# The shim's side: a reader on the out fifo, then a writer on the in fifo.
	cat "$TEST_DIR/out.fifo" >"$TEST_DIR/got.out" &
	BG_PIDS+=($!)
	exec 7<>"$TEST_DIR/in.fifo"
	timeout 20 "$RUNTIME" --root "$ROOT" run -d -b "$BUNDLE" "$CT" \
		<"$TEST_DIR/in.fifo" >"$TEST_DIR/out.fifo" 2>"$TEST_DIR/err.file" 3>&-
	# The runtime is gone; the container still holds the fifos and the file.
	[ "$(status_of)" = running ]
	echo hello >&7
	exec 7>&-
	wait_for_status "$CT" stopped
	cat "$TEST_DIR/err.file"
	[ "$(cat "$TEST_DIR/err.file")" = "fifo
fifo
regular empty file
err:hello" ]
	for _ in $(seq 50); do [ -s "$TEST_DIR/got.out" ] && break; sleep 0.1; done
	[ "$(cat "$TEST_DIR/got.out")" = "out:hello" ]

	# A pipe: the reader sees what the container writes after run -d returned.
	runtime delete "$CT"
	set_cmd 'stat -L -c "%F" /proc/self/fd/1; sleep 0.5; echo late'
	timeout 20 "$RUNTIME" --root "$ROOT" run -d -b "$BUNDLE" "$CT" </dev/null 2>&1 3>&- | cat >"$TEST_DIR/pipe.out"
	[ "$(cat "$TEST_DIR/pipe.out")" = "fifo
late" ]
}

@test "--log with --log-format json writes an error line with level, msg and time" {
	run --separate-stderr "$RUNTIME" --root "$ROOT" --log "$TEST_DIR/log.json" --log-format json start nosuchcontainer
	[ "$status" -ne 0 ]
	[ -s "$TEST_DIR/log.json" ]
	line="$(grep '"error"' "$TEST_DIR/log.json" | tail -n1)"
	[ "$(jq -r .level <<<"$line")" = error ]
	[[ "$(jq -r .msg <<<"$line")" == *"does not exist"* ]]
	[[ "$(jq -r .time <<<"$line")" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2} ]]
	# Every line in the file is JSON.
	jq -e . "$TEST_DIR/log.json" >/dev/null
}

@test "--log-format json on stderr also writes JSON lines" {
	run --separate-stderr "$RUNTIME" --root "$ROOT" --log-format json state nosuchcontainer
	[ "$status" -ne 0 ]
	line="$(grep '"level"' <<<"$stderr" | tail -n1)"
	[ "$(jq -r .level <<<"$line")" = error ]
	[[ "$(jq -r .msg <<<"$line")" == *"does not exist"* ]]
}

@test "create joins a new session keyring named after the container" {
	update_config '.linux.maskedPaths = []'
	ct_run 'cat /proc/keys'
	[ "$status" -eq 0 ]
	grep -Eq " keyring +_ses\.$CT: " <<<"$output"
}

@test "create --no-new-keyring keeps the caller's session keyring" {
	update_config '.linux.maskedPaths = []'
	set_cmd 'cat /proc/keys'
	runtime create --no-new-keyring -b "$BUNDLE" "$CT"
	runtime start "$CT"
	wait_for_status "$CT" stopped
	# The container wrote to create's stdout file, one of $TEST_DIR/io/*.
	out="$(cat "$TEST_DIR"/io/*)"
	grep -q "keyring" <<<"$out"
	! grep -q "_ses.$CT" <<<"$out" || fail "a keyring named after the container was made"
}

@test "run --preserve-fds 1 passes fd 3 to the container; without it fd 3 is closed" {
	echo hello-fd >"$TEST_DIR/input"
	set_cmd 'exec 2>&1; cat <&3'
	run "$RUNTIME" --root "$ROOT" run --preserve-fds 1 -b "$BUNDLE" "$CT" 3<"$TEST_DIR/input"
	[ "$status" -eq 0 ]
	[ "$output" = hello-fd ]
	run "$RUNTIME" --root "$ROOT" run -b "$BUNDLE" "$CT-2" 3<"$TEST_DIR/input"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Bad file descriptor"* ]]
}

@test "a config of 300 KiB (large annotations) creates and runs" {
	head -c 300000 /dev/zero | tr '\0' x >"$TEST_DIR/big"
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.annotations = {"big": $v}' --rawfile v "$TEST_DIR/big"
	run runtime run --bundle "$BUNDLE" "$CT"
	[ "$status" -eq 0 ]
}

@test "socket activation: the LISTEN_FDS fds reach the process from fd 3, told LISTEN_FDS and LISTEN_PID=1" {
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.process.args = ["sh", "-c", "echo $LISTEN_FDS $LISTEN_PID; cat <&3; cat <&4"]'
	echo activated >"$TEST_DIR/listen-data"
	echo preserved >"$TEST_DIR/preserved-data"
	# exec keeps the shell's pid, which LISTEN_PID names; fd 4 is passed by --preserve-fds, after
	# the activation fds, as runc orders them.
	run bash -c 'exec 3<"$1" 4<"$2"; export LISTEN_FDS=1 LISTEN_PID=$$; exec "$3" --root "$4" run --preserve-fds 1 -b "$5" "$6"' \
		_ "$TEST_DIR/listen-data" "$TEST_DIR/preserved-data" "$RUNTIME" "$ROOT" "$BUNDLE" "$CT"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "1 1" ]
	[ "${lines[1]}" = activated ]
	[ "${lines[2]}" = preserved ]
}

@test "socket activation meant for another process passes nothing on" {
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.process.args = ["sh", "-c", "echo [$LISTEN_FDS]; if cat 2>/dev/null <&3; then echo leaked; fi"]'
	echo data >"$TEST_DIR/listen-data"
	run bash -c 'exec 3<"$1"; export LISTEN_FDS=1 LISTEN_PID=1; exec "$2" --root "$3" run -b "$4" "$5"' \
		_ "$TEST_DIR/listen-data" "$RUNTIME" "$ROOT" "$BUNDLE" "$CT"
	[ "$status" -eq 0 ]
	[ "$output" = "[]" ]
}
