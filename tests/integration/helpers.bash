#!/usr/bin/env bash
bats_require_minimum_version 1.5.0

# Harness for the runtime integration suite. Every test gets its own --root,
# bundle (busybox-static rootfs + config.json from `$RUNTIME spec`) and
# container id; teardown removes whatever the test made.
#
#   RUNTIME=/usr/sbin/runc bats tests/integration      # reference runtime
#   bats tests/integration                             # $repo/bin/nebulon

INTEGRATION_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$INTEGRATION_DIR/../.." && pwd)"
RUNTIME="${RUNTIME:-$REPO_ROOT/bin/nebulon}"
BUSYBOX="${BUSYBOX:-/bin/busybox}"
# Upper bound for one runtime command, so a hung runtime fails a test
# instead of hanging the suite.
RUNTIME_TIMEOUT="${RUNTIME_TIMEOUT:-60}"

# is_runc: true when the runtime under test is runc (used only to skip
# tests that document a runc bug or missing feature).
is_runc() {
	[[ "$(basename "$RUNTIME")" == runc* ]]
}

skip_if_runc() {
	if is_runc; then
		skip "runc: $*"
	fi
}

require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		skip "needs root (creates namespaces, mounts and cgroups)"
	fi
}

# template_rootfs builds the busybox rootfs once per bats run and prints
# its path; each test copies it.
template_rootfs() {
	local tpl="$BATS_RUN_TMPDIR/rootfs-template"
	if [ ! -e "$tpl/.done" ]; then
		rm -rf "$tpl"
		mkdir -p "$tpl"/{bin,dev,etc,proc,sys,tmp,root}
		cp "$BUSYBOX" "$tpl/bin/busybox"
		local applet
		for applet in $("$BUSYBOX" --list); do
			[ "$applet" = busybox ] || ln -s busybox "$tpl/bin/$applet"
		done
		chmod 1777 "$tpl/tmp"
		echo "root:x:0:0:root:/root:/bin/sh" >"$tpl/etc/passwd"
		echo "root:x:0:" >"$tpl/etc/group"
		touch "$tpl/.done"
	fi
	echo "$tpl"
}

# setup_bundle: the per-test state dir, bundle and container id. A file that
# needs more defines its own setup() that calls this first.
setup_bundle() {
	require_root
	[ -x "$RUNTIME" ] || skip "runtime $RUNTIME not built (set RUNTIME=)"
	TEST_DIR="$(mktemp -d /tmp/nebulon-it.XXXXXX)"
	# 0755 so a user-namespaced container (mapped uid) can reach its rootfs.
	chmod 0755 "$TEST_DIR"
	ROOT="$TEST_DIR/state"
	BUNDLE="$TEST_DIR/bundle"
	HOST_DIR="$TEST_DIR/host" # bind-mounted at /host by use_host_dir
	CT="nbt${BATS_TEST_NUMBER}-$$"
	CLEANUP=()
	BG_PIDS=()
	mkdir -p "$BUNDLE" "$HOST_DIR" "$TEST_DIR/io"
	# The state root exists, as an engine's does: runc 1.2+ and nebulon fail
	# list on a --root that does not exist.
	mkdir -m 0711 "$ROOT"
	cp -a "$(template_rootfs)" "$BUNDLE/rootfs"
	rm -f "$BUNDLE/rootfs/.done"
	(cd "$BUNDLE" && "$RUNTIME" spec) || fail "$RUNTIME spec failed"
	update_config '.process.terminal = false | .process.args = ["true"]'
}

teardown_bundle() {
	[ -n "${TEST_DIR:-}" ] || return 0
	local id
	if [ -d "$ROOT" ]; then
		for id in $("$RUNTIME" --root "$ROOT" list -q 2>/dev/null); do
			timeout 20 "$RUNTIME" --root "$ROOT" delete --force "$id" >/dev/null 2>&1
		done
	fi
	run_cleanups
	# Lazily unmount anything left below the test dir before removing it.
	grep -F " $TEST_DIR" /proc/self/mountinfo | awk '{print $5}' | sort -r |
		while read -r m; do umount -l "$m"; done
	# Processes and cgroups a failed runtime left behind: anything in a
	# cgroup named after this test's container ids is ours.
	test_cgroups | sort -r | while read -r cg; do
		while read -r pid; do kill -KILL "$pid"; done <"$cg/cgroup.procs"
		sleep 0.1
		rmdir "$cg"
	done 2>/dev/null
	rm -rf "$TEST_DIR"
}

# run_cleanups: at teardown, once the test's containers are deleted: kill the test's background
# processes (BG_PIDS), then run its on_teardown commands, last registered first.
run_cleanups() {
	local pid i
	for pid in "${BG_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${CLEANUP[i]}" >/dev/null 2>&1
	done
}

setup() { setup_bundle; }
teardown() { teardown_bundle; }

# on_teardown CMD: run CMD (eval'd) at teardown, last registered first.
on_teardown() {
	CLEANUP+=("$1")
}

fail() {
	echo "FAIL: $*" >&2
	return 1
}

# words_of STR: STR's words (split at blanks and newlines) joined by one space, as echo $STR
# prints them, but without globbing.
words_of() {
	local -a w
	read -r -d '' -a w <<<"$1" || true
	echo "${w[*]}"
}

# update_config JQ_EXPR [jq args...]: edit the bundle's config.json in place.
update_config() {
	local expr="$1"
	shift
	jq "$@" "$expr" "$BUNDLE/config.json" >"$BUNDLE/config.json.new" &&
		mv "$BUNDLE/config.json.new" "$BUNDLE/config.json"
}

# set_cmd SCRIPT: the container runs `sh -c SCRIPT`.
set_cmd() {
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.process.args = ["sh", "-c", $s]' --arg s "$1"
}

# set_exe_attacker: the container's process is the attacker of CVE-2019-5736
# (tests/security/cve-2019-5736.bats; rootless.bats's attack_runtime_binary): it finds the victim
# (the runtime binary, exec'd with --log /tmp/block, a fifo nobody reads, so it waits), opens its
# exe, lets it go, waits for it to exit, makes it writable if it owns it (a rootless user may; as
# root the chmod is refused on a read-only mount or a no-op on a 0755 binary), then writes. It
# touches /host/ready once /tmp/block exists; /host/exe says what the victim ran, /host/result
# what the write did.
set_exe_attacker() {
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	set_cmd 'mkfifo /tmp/block; touch /host/ready
		until p=$(grep -l -e "--lo[g]" /proc/[0-9]*/cmdline 2>/dev/null | head -n 1); [ -n "$p" ]; do sleep 0.02; done
		p=${p#/proc/}; p=${p%/cmdline}
		if ! exec 3</proc/$p/exe; then echo "open failed" >/host/result; exec sleep 1000; fi
		readlink /proc/$p/exe >/host/exe
		cat /tmp/block >/dev/null
		while [ -e /proc/$p ]; do sleep 0.02; done
		chmod u+w /proc/self/fd/3 2>/dev/null
		if printf pwned 2>/host/err >/proc/self/fd/3; then echo written; else echo "refused: $(cat /host/err)"; fi >/host/result
		exec sleep 1000'
}

# use_host_dir: bind-mount $HOST_DIR read-write at /host in the container.
use_host_dir() {
	chmod 0777 "$HOST_DIR"
	mkdir -p "$BUNDLE/rootfs/host"
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.mounts += [{"destination": "/host", "type": "bind",
		"source": $s, "options": ["rbind", "rw"]}]' --arg s "$HOST_DIR"
}

# runtime ARGS...: $RUNTIME --root $ROOT ARGS. Its stdout/stderr (and those
# of any container it starts) go to fresh files that are then copied to our
# stdout/stderr, so a detached container never holds a bats pipe open.
# Use as `run runtime ...` or `run --separate-stderr runtime ...`.
runtime() {
	local out err rc
	out="$(mktemp -p "$TEST_DIR/io")"
	err="$(mktemp -p "$TEST_DIR/io")"
	timeout -k 5 "$RUNTIME_TIMEOUT" "$RUNTIME" --root "$ROOT" "$@" \
		>"$out" 2>"$err" </dev/null 3>&-
	rc=$?
	cat "$out"
	cat "$err" >&2
	return $rc
}

# create_ct [ID]: create the container from $BUNDLE, failing loudly.
create_ct() {
	local id="${1:-$CT}"
	runtime create -b "$BUNDLE" "$id" || fail "create $id failed"
}

# run_detached [ID]: run -d (create + start, returns at once).
run_detached() {
	local id="${1:-$CT}"
	runtime run -d --bundle "$BUNDLE" "$id" || fail "run -d $id failed"
}

# state_of ID: print the state JSON (fails if state fails).
state_of() {
	runtime state "${1:-$CT}"
}

status_of() {
	state_of "${1:-$CT}" 2>/dev/null | jq -r .status
}

# wait_for_status ID STATUS [SECONDS]
wait_for_status() {
	local id="$1" want="$2" secs="${3:-10}" i got
	for ((i = 0; i < secs * 10; i++)); do
		got="$(status_of "$id")"
		[ "$got" = "$want" ] && return 0
		sleep 0.1
	done
	fail "container $id: status ${got:-<none>}, want $want after ${secs}s"
}

# wait_for_exit PID [SECONDS]: the host process PID goes away.
wait_for_exit() {
	local pid="$1" secs="${2:-10}" i
	for ((i = 0; i < secs * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	fail "pid $pid still alive after ${secs}s"
}

# wait_rc PID [SECONDS]: wait for a background job of this shell; sets RC. Not
# through bats' run: that runs wait in a subshell, which has no such child.
wait_rc() {
	wait_for_exit "$1" "${2:-10}" || return 1
	# shellcheck disable=SC2034 # read by the tests
	wait "$1" && RC=0 || RC=$?
}

# wait_for_file PATH [SECONDS]
wait_for_file() {
	local f="$1" secs="${2:-10}" i
	for ((i = 0; i < secs * 10; i++)); do
		[ -e "$f" ] && return 0
		sleep 0.1
	done
	fail "$f did not appear within ${secs}s"
}

# ct_run SCRIPT: run the container in the foreground with `sh -c SCRIPT`;
# sets $status and $output (container stdout and stderr, interleaved in
# order) via bats `run`.
ct_run() {
	set_cmd "exec 2>&1; $1"
	run runtime run --bundle "$BUNDLE" "$CT"
	# bats shows a test's own output only when it fails: the container's then.
	# shellcheck disable=SC2154 # set by bats' run
	echo "container exited $status, output:"
	# shellcheck disable=SC2154 # set by bats' run
	printf '%s\n' "$output"
}

# --- leftovers: what a failed operation must not leave behind ---------------

# Host mounts that mention the test dir (mount point or source root).
test_mounts() {
	grep -F "$TEST_DIR" /proc/self/mountinfo | awk '{print $4, $5}' | sort
}

# Processes that belong to this test: the runtime's own (argv[0] named
# after it, as runc's and nebulon's init are) or ones living in the test's
# directories or naming the container id.
# This shell and its own children (the scan itself) are not counted. Bash
# builtins and one find do the scan: a few commands per process made each
# scan take seconds, and it runs twice in every test of a refused command.
test_processes() {
	local name pid link stat ppid cmd
	local -a argv
	local -A links=()
	name="${RUNTIME##*/}"
	while IFS=' ' read -r pid link; do
		pid="${pid#/proc/}"
		links[${pid%%/*}]+=" $link"
	done < <(find /proc/[0-9]*/cwd /proc/[0-9]*/root -maxdepth 0 -printf '%p %l\n' 2>/dev/null)
	for pid in /proc/[0-9]*; do
		pid="${pid#/proc/}"
		[ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ] && continue
		read -r stat 2>/dev/null <"/proc/$pid/stat" || continue
		# The fields after "(comm) ", which may hold blanks: state, ppid, ...
		read -r _ ppid _ <<<"${stat##*) }"
		[ "$ppid" = "$$" ] || [ "$ppid" = "$BASHPID" ] && continue
		mapfile -d '' argv 2>/dev/null <"/proc/$pid/cmdline" || continue
		[ "${#argv[@]}" -gt 0 ] || continue
		cmd="${argv[*]}"
		if [[ "${argv[0]##*/}" == "$name"* || "$cmd" == *"$CT"* || "${links[$pid]:-}" == *"$TEST_DIR"* ]]; then
			echo "$pid $cmd"
		fi
	done
	return 0
}

# cgroup dirs named after the container id (runtimes default cgroupsPath
# to the id under the caller's cgroup).
test_cgroups() {
	find /sys/fs/cgroup -maxdepth 6 -type d -name "*$CT*" 2>/dev/null | sort
}

snapshot_host() {
	SNAP_MOUNTS="$(test_mounts)"
	SNAP_PROCS="$(test_processes | awk '{print $1}' | sort)"
	SNAP_CGROUPS="$(test_cgroups)"
}

# assert_nothing_left: no state dir entry, no new process, mount or cgroup
# since snapshot_host. Leaves bats' $output/$stderr alone.
assert_nothing_left() {
	local listed
	if [ -d "$ROOT" ] && [ -n "$(ls -A "$ROOT")" ]; then
		fail "state left under --root: $(ls -A "$ROOT")" || return 1
	fi
	listed="$(runtime list -q 2>/dev/null)"
	[ -z "$listed" ] || { fail "list still shows: $listed"; return 1; }
	assert_host_unchanged
}

# assert_host_unchanged: no process, mount or cgroup appeared since snapshot_host.
assert_host_unchanged() {
	local procs
	# A process may still be exiting: give it 2s.
	for _ in $(seq 20); do
		procs="$(comm -13 <(echo "$SNAP_PROCS") <(test_processes | awk '{print $1}' | sort))"
		[ -z "$procs" ] && break
		sleep 0.1
	done
	if [ -n "$procs" ]; then
		# A failure all the same; for its message, what they are and whether they go later.
		local what i
		what="$(for p in $procs; do describe_process "$p"; done)
  the test's cgroups: $(test_cgroups | tr '\n' ' ')"
		for ((i = 0; i < 300; i++)); do
			[ -z "$(comm -13 <(echo "$SNAP_PROCS") <(test_processes | awk '{print $1}' | sort))" ] && break
			sleep 0.1
		done
		if [ "$i" -lt 300 ]; then
			what="$what
  (gone $((i / 10)).$((i % 10)) s after the 2 s allowed)"
		else
			what="$what
  (still there 30 s after the 2 s allowed)"
		fi
		fail "processes left: $what" || return 1
	fi
	[ "$(test_mounts)" = "$SNAP_MOUNTS" ] || { fail "mounts left: $(diff <(echo "$SNAP_MOUNTS") <(test_mounts))"; return 1; }
	[ "$(test_cgroups)" = "$SNAP_CGROUPS" ] || { fail "cgroups left: $(test_cgroups)"; return 1; }
}

# describe_process PID: a left process, for a failure message: its command line, state, wait
# channel, parent, cgroups (v1 freezer and pids, or v2) and pending signals.
describe_process() {
	local p="$1"
	printf '\n  pid %s: %s; state %s, wchan %s, ppid %s, cgroup %s, %s' "$p" \
		"$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" \
		"$(awk '/^State:/ {print $2 $3}' "/proc/$p/status" 2>/dev/null)" \
		"$(cat "/proc/$p/wchan" 2>/dev/null)" \
		"$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null)" \
		"$(grep -E ':(freezer|pids|):' "/proc/$p/cgroup" 2>/dev/null | tr '\n' ' ')" \
		"$(grep -E '^(SigPnd|ShdPnd)' "/proc/$p/status" 2>/dev/null | tr '\n\t' '  ')"
}

# cap_number CAP: the capability's bit number (linux/capability.h).
cap_number() {
	case "$1" in
	CAP_CHOWN) echo 0 ;; CAP_DAC_OVERRIDE) echo 1 ;; CAP_DAC_READ_SEARCH) echo 2 ;;
	CAP_FOWNER) echo 3 ;; CAP_FSETID) echo 4 ;; CAP_KILL) echo 5 ;; CAP_SETGID) echo 6 ;;
	CAP_SETUID) echo 7 ;; CAP_SETPCAP) echo 8 ;; CAP_NET_BIND_SERVICE) echo 10 ;;
	CAP_NET_ADMIN) echo 12 ;; CAP_NET_RAW) echo 13 ;; CAP_SYS_CHROOT) echo 18 ;;
	CAP_SYS_PTRACE) echo 19 ;; CAP_SYS_ADMIN) echo 21 ;; CAP_MKNOD) echo 27 ;;
	CAP_AUDIT_WRITE) echo 29 ;; CAP_SETFCAP) echo 31 ;;
	*) echo "unknown cap $1" >&2; return 1 ;;
	esac
}

# cap_mask CAP...: the /proc/<pid>/status hex mask for the named caps.
cap_mask() {
	local mask=0 c n
	for c in "$@"; do
		n="$(cap_number "$c")" || return 1
		mask=$((mask | (1 << n)))
	done
	printf '%016x\n' "$mask"
}

# add_userns: a new user namespace, container root at host uid 100000, gid 200000.
add_userns() {
	update_config '.linux.namespaces += [{"type": "user"}]
		| .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
		| .linux.gidMappings = [{"containerID": 0, "hostID": 200000, "size": 65536}]'
}

# refused PATTERN ARGS...: `$RUNTIME ARGS` fails, its stderr matches the glob
# PATTERN (not on runc, whose words differ), and nothing is left behind.
refused() {
	local pattern="$1"
	shift
	snapshot_host
	run --separate-stderr runtime "$@"
	# shellcheck disable=SC2154 # set by bats' run
	echo "$*: status $status, stderr: $stderr"
	[ "$status" -ne 0 ] || fail "succeeded" || return 1
	# shellcheck disable=SC2053
	is_runc || [[ "$stderr" == $pattern ]] || fail "stderr does not match $pattern" || return 1
	assert_nothing_left
}

# --- exec -------------------------------------------------------------------

# container_pids: the container's host pids (`ps --format json`), sorted.
container_pids() {
	runtime ps --format json "$CT" | jq -r '.[]' | sort -n
}

# exec_fails PATTERN ARGS...: `exec ARGS` fails, its stderr matches the
# extended regex PATTERN (case-insensitive), and it leaves nothing behind.
exec_fails() {
	local pattern="$1"
	shift
	snapshot_host
	run --separate-stderr runtime exec "$@"
	echo "exec $*: status $status, stdout: $output, stderr: $stderr"
	[ "$status" -ne 0 ] || fail "exec $* succeeded" || return 1
	grep -Eiq -- "$pattern" <<<"$stderr" || fail "stderr does not match /$pattern/" || return 1
	assert_exec_left_nothing
}

# assert_exec_left_nothing: no process, mount or cgroup appeared since
# snapshot_host, and a running container still holds only its init.
assert_exec_left_nothing() {
	assert_host_unchanged || return 1
	# Processes inside the container show their root as "/" from the host,
	# so test_processes misses them: ps lists them.
	if [ "$(status_of)" = running ]; then
		[ "$(container_pids)" = "$INIT_PID" ] || fail "container holds $(container_pids | tr '\n' ' '), want only the init $INIT_PID"
	fi
}
