#!/usr/bin/env bats
# nebulon run by an unprivileged user, on a host that delegates no cgroup to it (cgroup v1, or v2
# without systemd's delegation): the user namespace that maps the caller (its own id alone, or its
# /etc/subuid ranges through newuidmap), the state under $XDG_RUNTIME_DIR/nebulon, the lifecycle
# without a cgroup, as runc's rootless mode runs it, and the protection of the runtime binary.

load helpers

@test "rootless: spec --rootless changes runc's spec as runc spec --rootless changes it" {
	command -v runc >/dev/null || skip "runc is not installed"
	local d="$TEST_DIR/specs"
	mkdir "$d"
	chown "$RL_UID" "$d"
	for rt in runc "$RUNTIME"; do
		n="${rt##*/}"
		as_user "$rt" spec --bundle "$d" && mv "$d/config.json" "$d/$n-root.json" || fail "$n spec"
		as_user "$rt" spec --rootless --bundle "$d" && mv "$d/config.json" "$d/$n-rootless.json" ||
			fail "$n spec --rootless"
		# diff's status 1 is "they differ", which they do.
		diff <(jq -S . "$d/$n-root.json") <(jq -S . "$d/$n-rootless.json") >"$d/$n.diff" || [ $? -eq 1 ] ||
			fail "diff"
	done
	cat "$d/nebulon.diff"
	diff "$d/runc.diff" "$d/nebulon.diff" || fail "the changes --rootless makes differ from runc's"
	# The caller is mapped, with its effective ids.
	jq -e --argjson u "$RL_UID" '.linux.uidMappings == [{"containerID": 0, "hostID": $u, "size": 1}]' \
		"$d/nebulon-rootless.json" >/dev/null || fail "uidMappings do not map uid $RL_UID"
}

@test "rootless: run in the foreground, state under \$XDG_RUNTIME_DIR/nebulon, exit status kept" {
	# shellcheck disable=SC2016 # $ is for the container's shell
	set_cmd 'echo map $(cat /proc/self/uid_map); id -u; echo out; exit 3'
	run runtime run --bundle "$BUNDLE" "$CT"
	echo "$output"
	[ "$status" -eq 3 ] || fail "exit status $status, want 3"
	[[ "$output" == *"map 0 $RL_UID 1"* ]] || fail "uid_map does not map uid $RL_UID"
	[[ "$output" == *out* ]] || fail "no output"
	# runc's: 0700 with the sticky bit, which XDG_RUNTIME_DIR's pruning spares; owned by the user.
	[ "$(stat -c '%a %u' "$ROOT")" = "1700 $RL_UID" ] || fail "$ROOT: $(stat -c '%a %u' "$ROOT")"
	[ -z "$(ls -A "$ROOT")" ] || fail "state left: $(ls -A "$ROOT")"
}

@test "rootless: create, start, state, list, ps, kill and delete without a cgroup" {
	set_cmd 'echo started >/tmp/s; exec sleep 1000'
	snapshot_host
	create_ct
	[ "$(status_of)" = created ] || fail "status $(status_of), want created"
	[ -d "$ROOT/$CT" ] || fail "no state dir $ROOT/$CT"
	runtime start "$CT" || fail "start"
	wait_for_status "$CT" running
	run runtime list
	[[ "$output" == *"$CT"*running*"$RL_USER"* ]] || fail "list: $output"
	pid="$(state_of | jq -r .pid)"
	[ "$(stat -c %u "/proc/$pid")" = "$RL_UID" ] || fail "init runs as host uid $(stat -c %u "/proc/$pid")"
	# No cgroup: ps lists the container's pid namespace instead.
	run runtime ps --format json "$CT"
	[ "$status" -eq 0 ] || fail "ps: $output"
	[ "$(jq -c . <<<"$output")" = "[$pid]" ] || fail "ps: $output, want [$pid]"
	runtime kill "$CT" KILL || fail "kill"
	wait_for_status "$CT" stopped
	runtime delete "$CT" || fail "delete"
	[ ! -e "$ROOT/$CT" ] || fail "state dir left"
	assert_nothing_left
}

@test "rootless: run -d, exec, exec -d, kill --all and delete --force" {
	set_cmd 'exec sleep 1000'
	snapshot_host
	run_detached
	run runtime exec "$CT" sh -c 'echo in; cat /proc/1/cmdline | tr "\0" " "'
	[ "$status" -eq 0 ] && [[ "$output" == *"in"*"sleep 1000"* ]] || fail "exec: $status $output"
	run runtime exec "$CT" sh -c 'exit 7'
	[ "$status" -eq 7 ] || fail "exec exit status $status, want 7"
	runtime exec -d "$CT" sleep 999 || fail "exec -d"
	run runtime ps --format json "$CT"
	[ "$(jq length <<<"$output")" -eq 2 ] || fail "ps: $output, want 2 processes"
	# Without a cgroup, --all signals the container's pid namespace: TERM ends the exec'd sleep,
	# and the init, pid 1 of its namespace without a handler, ignores it.
	runtime kill --all "$CT" TERM || fail "kill --all"
	for ((i = 0; i < 50; i++)); do
		[ "$(runtime ps --format json "$CT" | jq length)" -eq 1 ] && break
		sleep 0.1
	done
	[ "$i" -lt 50 ] || fail "the exec'd process outlived kill --all TERM: $(runtime ps "$CT")"
	runtime kill "$CT" KILL || fail "kill"
	wait_for_status "$CT" stopped
	runtime delete "$CT" || fail "delete"
	set_cmd 'exec sleep 1000'
	run_detached
	runtime delete --force "$CT" || fail "delete --force"
	assert_nothing_left
}

@test "rootless: exec -t sends the pty to a console socket" {
	[ -x "$REPO_ROOT/bin/recvtty" ] || skip "bin/recvtty not built (make bin/recvtty)"
	set_cmd 'exec sleep 1000'
	run_detached
	SOCK="$TEST_DIR/io/console.sock"
	touch "$TEST_DIR/io/recv.in"
	chown "$RL_UID" "$TEST_DIR/io/recv.in"
	as_user "$REPO_ROOT/bin/recvtty" --ready-file "$TEST_DIR/io/recv.ready" --timeout 30s --no-stdin "$SOCK" \
		<"$TEST_DIR/io/recv.in" >"$TEST_DIR/recv.out" 2>"$TEST_DIR/recv.err" 3>&- &
	BG_PIDS+=($!)
	wait_for_file "$TEST_DIR/io/recv.ready"
	runtime exec -t -d --console-socket "$SOCK" "$CT" tty || fail "exec -t"
	wait_rc "${BG_PIDS[0]}" 20
	out="$(tr -d '\r' <"$TEST_DIR/recv.out")"
	echo "recvtty: rc $RC, $out, $(cat "$TEST_DIR/recv.err")"
	[ "$RC" -eq 0 ] || fail "recvtty exited $RC"
	[[ "$out" == */dev/pts/* ]] || fail "the process's stdio is not a pty"
}

@test "rootless: hooks run as the user, with the state on stdin" {
	local log="$TEST_DIR/io/hooks"
	touch "$log"
	chown "$RL_UID" "$log"
	# shellcheck disable=SC2016 # $ is for the hook's shell
	update_config '.hooks = {
		"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "echo prestart $(id -u) $(jq -r .status) >>" + $l]}],
		"poststart": [{"path": "/bin/sh", "args": ["sh", "-c", "echo poststart >>" + $l]}],
		"poststop": [{"path": "/bin/sh", "args": ["sh", "-c", "echo poststop >>" + $l]}]}' --arg l "$log"
	set_cmd 'exec sleep 1000'
	run_detached
	runtime delete --force "$CT" || fail "delete"
	cat "$log"
	[ "$(cat "$log")" = "prestart $RL_UID creating
poststart
poststop" ] || fail "hooks: $(cat "$log")"
}

@test "rootless: the /etc/subuid ranges are mapped through newuidmap and newgidmap" {
	command -v newuidmap >/dev/null || skip "needs newuidmap (Debian package uidmap)"
	map_subids
	update_config '.process.user = {"uid": 1000, "gid": 1000, "additionalGids": [5]}'
	user_host_dir
	set_cmd 'cat /proc/self/uid_map /proc/self/gid_map >/host/maps; id >/host/id; touch /host/file; exec sleep 1000'
	run_detached
	wait_for_file "$HOST_DIR/file"
	cat "$HOST_DIR/maps" "$HOST_DIR/id"
	[ "$(awk '{print $1, $2, $3}' "$HOST_DIR/maps")" = "0 $RL_UID 1
1 $RL_SUB_START $RL_SUB_COUNT
0 $RL_GID 1
1 $RL_SUB_START $RL_SUB_COUNT" ] || fail "maps"
	# Container uid 1000 is host uid 300000 + 999; supplementary groups work (setgroups allowed).
	[ "$(stat -c '%u %g' "$HOST_DIR/file")" = "$((RL_SUB_START + 999)) $((RL_SUB_START + 999))" ] ||
		fail "file made as $(stat -c '%u %g' "$HOST_DIR/file")"
	grep -q 'groups=5' "$HOST_DIR/id" || fail "additional gid 5 not set"
}

@test "rootless: a mapping of host ids the user does not own is refused, naming the field and ids" {
	update_config '.linux.uidMappings = [{"containerID": 0, "hostID": 0, "size": 1}]'
	refused "*linux.uidMappings?0?: host ids 0-0*not this user's*$RL_SUB_START-$((RL_SUB_START + RL_SUB_COUNT - 1))*" run --bundle "$BUNDLE" "$CT"
	map_subids
	update_config '.linux.gidMappings[1].size = 70000'
	refused "*linux.gidMappings?1?: host ids $RL_SUB_START-$((RL_SUB_START + 69999))*not this user's*" run -d --bundle "$BUNDLE" "$CT"
}

@test "rootless: a config without a user namespace is refused, naming linux.namespaces" {
	update_config '.linux.namespaces |= map(select(.type != "user")) | del(.linux.uidMappings, .linux.gidMappings)'
	refused "*linux.namespaces: no user namespace: nebulon runs as uid $RL_UID*" run -d --bundle "$BUNDLE" "$CT"
}

@test "rootless: an explicit memory limit with no cgroup delegated is an error naming the field" {
	update_config '.linux.resources = {"memory": {"limit": 67108864}}'
	refused "*linux.resources.memory.limit: cannot be applied: nebulon runs rootless*" run -d --bundle "$BUNDLE" "$CT"
}

@test "rootless: pause, update and events --stats say the container has no cgroup" {
	set_cmd 'exec sleep 1000'
	run_detached
	for cmd in pause "update --memory 64M" "events --stats"; do
		# shellcheck disable=SC2086 # cmd is a command and its flags
		run --separate-stderr runtime $cmd "$CT"
		# shellcheck disable=SC2154 # set by bats' run
		echo "$cmd: $status $stderr"
		[ "$status" -ne 0 ] || fail "$cmd succeeded"
		[[ "$stderr" == *"container $CT has no cgroup: it was created rootless"* ]] || fail "$cmd: $stderr"
	done
	[ "$(status_of)" = running ] || fail "status $(status_of) after the refusals"
}

# no_pid_namespace: the container shares the caller's pid namespace; its /proc is the host's,
# bound (a user namespace may mount a proc only of a pid namespace it owns).
no_pid_namespace() {
	update_config '.linux.namespaces |= map(select(.type != "pid"))
		| .mounts |= map(if .destination == "/proc" then
			{"destination": "/proc", "type": "bind", "source": "/proc", "options": ["rbind", "nosuid", "noexec", "nodev"]}
			else . end)'
}

@test "rootless: kill --all with neither a cgroup nor a pid namespace signals the init alone, with runc's warning" {
	no_pid_namespace
	set_cmd 'exec sleep 1000'
	run_detached
	init="$(state_of | jq -r .pid)"
	runtime exec -d "$CT" sleep 999 || fail "exec -d"
	left="$(ps -u "$RL_UID" -o pid=,args= | awk '$2 == "sleep" && $3 == 999 {print $1}')"
	[ -n "$left" ] || fail "no exec'd sleep: $(ps -u "$RL_UID" -o pid=,args=)"
	on_teardown "kill -KILL $left"
	run --separate-stderr runtime kill --all "$CT" KILL
	echo "kill --all: $status $stderr"
	[ "$status" -eq 0 ] || fail "kill --all failed"
	[[ "$stderr" == *"failed to kill all processes, possibly due to lack of cgroup (Hint: enable cgroup v2 delegation)"*"init alone is signalled"* ]] ||
		fail "no warning"
	wait_for_exit "$init"
	wait_for_status "$CT" stopped
	# What runc leaves too: nothing tells the exec'd process from the user's others.
	kill -0 "$left" || fail "the exec'd process is gone: was it told from the user's others?"
	# Plain kill KILL, which runc also sends to all (no pid namespace of its own), warns the same.
	runtime delete "$CT" || fail "delete"
	run_detached
	run --separate-stderr runtime kill "$CT" KILL
	[ "$status" -eq 0 ] && [[ "$stderr" == *"failed to kill all processes, possibly due to lack of cgroup"* ]] || fail "kill KILL: $status $stderr"
	wait_for_status "$CT" stopped
}

# A pid namespace joined by path (one the user holds, with its user namespace) holds others'
# processes too: without a cgroup, ps refuses to list it, as kill --all does.
@test "rootless: ps refuses a container with no cgroup in a pid namespace joined by path" {
	setpriv --reuid="$RL_UID" --regid="$RL_GID" --clear-groups unshare --user --map-root-user --pid --fork sleep 1000 </dev/null >/dev/null 2>&1 3>&- &
	local holder=$! inner i
	on_teardown "kill -KILL $holder; wait $holder"
	for ((i = 0; i < 50; i++)); do
		inner="$(pgrep -P "$holder")" && break
		sleep 0.1
	done
	[ -n "$inner" ] || fail "no process in the held pid namespace"
	# shellcheck disable=SC2016 # $u and $p are jq's
	update_config '.linux.namespaces |= map(if .type == "user" then .path = $u elif .type == "pid" then .path = $p else . end)
		| del(.linux.uidMappings, .linux.gidMappings)' --arg u "/proc/$inner/ns/user" --arg p "/proc/$inner/ns/pid"
	set_cmd 'exec sleep 1000'
	run_detached
	run --separate-stderr runtime ps --format json "$CT"
	echo "ps: $status $output $stderr"
	[ "$status" -ne 0 ] && [[ "$stderr" == *"no pid namespace of its own: its processes cannot be told from others"* ]] ||
		fail "ps listed the joined pid namespace's processes"
}

@test "rootless: additionalGids with only the caller's gid mapped are refused up front, naming them and why" {
	update_config '.process.user.additionalGids = [5, 7]'
	refused "*process.user.additionalGids ?5 7?: setgroups is denied in the container's user namespace: linux.gidMappings maps gid $RL_GID alone*subordinate gid ranges from /etc/subgid*" run -d --bundle "$BUNDLE" "$CT"
	# exec's, too, in a running container.
	update_config 'del(.process.user.additionalGids)'
	set_cmd 'exec sleep 1000'
	run_detached
	# shellcheck disable=SC2034 # read by exec_fails (integration helpers)
	INIT_PID="$(state_of | jq -r .pid)"
	exec_fails "process.user.additionalGids \\[5\\]: setgroups is denied in the container's user namespace: /proc/[0-9]*/setgroups, the container init's, reads deny .*/etc/subgid" \
		--additional-gids 5 "$CT" true
}

@test "rootless: a user /etc/subuid does not list is left to newuidmap, whose refusal is reported" {
	command -v newuidmap >/dev/null || skip "needs newuidmap (Debian package uidmap)"
	map_subids
	# As a user whose ranges come from nsswitch (sssd, through libsubid), which nebulon's check does not read:
	# here none has any, and newuidmap says so. The success path needs an nsswitch subid service
	# (sssd), which this machine has not: only the refusal is tested.
	sed -i "/^$RL_USER:/d" /etc/subuid
	on_teardown "echo '$RL_USER:$RL_SUB_START:$RL_SUB_COUNT' >>/etc/subuid"
	refused "*linux.uidMappings: newuidmap * 0 $RL_UID 1 1 $RL_SUB_START $RL_SUB_COUNT: exit status 1: newuidmap:*subordinate range /etc/subuid or nsswitch's subid service gives it*" run -d --bundle "$BUNDLE" "$CT"
}

# Hierarchies the host's root delegated (chowned a cgroup of each to the user): the container's
# cgroup is made there, limited, and removed on delete; the hierarchies the user may not write are
# done without (runc's rootless manager, per hierarchy). The hybrid v2 hierarchy (unified, no
# tasks file) and devices (whose rules need CAP_SYS_ADMIN in the host: skipped, as runc does)
# are delegated too, as a systemd Delegate=yes unit passing its own cgroupsPath has them.
@test "rootless: delegated v1 hierarchies are used, the others are done without" {
	local h deleg="/sys/fs/cgroup/pids/nbrl-deleg-$$"
	for h in pids devices unified; do
		[ -d "/sys/fs/cgroup/$h" ] || skip "no cgroup $h hierarchy"
		mkdir "/sys/fs/cgroup/$h/nbrl-deleg-$$" || fail "mkdir /sys/fs/cgroup/$h/nbrl-deleg-$$"
		on_teardown "rmdir /sys/fs/cgroup/$h/nbrl-deleg-$$/$CT /sys/fs/cgroup/$h/nbrl-deleg-$$"
		chown -R "$RL_UID" "/sys/fs/cgroup/$h/nbrl-deleg-$$"
	done
	# shellcheck disable=SC2016 # $p is jq's
	update_config '.linux.cgroupsPath = $p | .linux.resources.pids = {"limit": 42}
		| .linux.resources.devices = [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]' \
		--arg p "/nbrl-deleg-$$/$CT"
	set_cmd 'exec sleep 1000'
	run --separate-stderr runtime run -d --bundle "$BUNDLE" "$CT"
	echo "$status $stderr"
	[ "$status" -eq 0 ] || fail "run -d"
	[[ "$stderr" == *"no cgroup in the hierarchies this user may not write"*memory* ]] || fail "no warning naming the hierarchies done without"
	pid="$(state_of | jq -r .pid)"
	grep "pids:" "/proc/$pid/cgroup" | grep -q ":/nbrl-deleg-$$/$CT\$" || fail "init not in the pids cgroup: $(cat "/proc/$pid/cgroup")"
	[ "$(cat "$deleg/$CT/pids.max")" = 42 ] || fail "pids.max $(cat "$deleg/$CT/pids.max")"
	grep -Eq "^[0-9]+:devices:/nbrl-deleg-$$/$CT\$" "/proc/$pid/cgroup" || fail "init not in the devices cgroup: $(cat "/proc/$pid/cgroup")"
	# Made in unified too; the init, started in the root of unified, may not move there (a move
	# needs write access to the common ancestor's cgroup.procs, cgroup-v2.rst) and stays out.
	[ -d "/sys/fs/cgroup/unified/nbrl-deleg-$$/$CT" ] || fail "no cgroup made in unified"
	# The device rules were skipped: the delegated devices cgroup allows all, as its parent.
	[ "$(cat "/sys/fs/cgroup/devices/nbrl-deleg-$$/$CT/devices.list")" = "a *:* rwm" ] ||
		fail "devices.list: $(cat "/sys/fs/cgroup/devices/nbrl-deleg-$$/$CT/devices.list")"
	! grep "memory:" "/proc/$pid/cgroup" | grep -q nbrl-deleg || fail "a memory cgroup was made"
	run runtime ps --format json "$CT"
	[ "$(jq -c . <<<"$output")" = "[$pid]" ] || fail "ps: $output"
	# A limit of a hierarchy done without is an error naming it.
	run --separate-stderr runtime update --memory 64M "$CT"
	[ "$status" -ne 0 ] && [[ "$stderr" == *"no cgroup in the memory hierarchy"* ]] || fail "update --memory: $status $stderr"
	runtime kill --all "$CT" KILL || fail "kill --all"
	wait_for_status "$CT" stopped
	runtime delete "$CT" || fail "delete"
	for h in pids devices unified; do
		[ ! -e "/sys/fs/cgroup/$h/nbrl-deleg-$$/$CT" ] || fail "/sys/fs/cgroup/$h/nbrl-deleg-$$/$CT left"
	done
}

@test "rootless: a state root the user cannot write is a clear error, nothing left behind" {
	local ro="$TEST_DIR/ro-root"
	mkdir -m 0755 "$ro"
	snapshot_host
	run --separate-stderr as_user "$RUNTIME" --root "$ro" run -d --bundle "$BUNDLE" "$CT"
	echo "$status $stderr"
	[ "$status" -ne 0 ] && [[ "$stderr" == *"$ro"*"permission denied"* ]] || fail "--root $ro: $stderr"
	[ -z "$(ls -A "$ro")" ] || fail "left in $ro: $(ls -A "$ro")"
	# An XDG_RUNTIME_DIR the user cannot write: the error names it.
	run --separate-stderr runuser -u "$RL_USER" -- env -i PATH=/usr/bin:/bin XDG_RUNTIME_DIR="$ro" \
		timeout 20 "$RUNTIME" run -d --bundle "$BUNDLE" "$CT"
	echo "$status $stderr"
	[ "$status" -ne 0 ] && [[ "$stderr" == *"XDG_RUNTIME_DIR"*"$ro/nebulon"*"permission denied"* ]] ||
		fail "XDG_RUNTIME_DIR=$ro: $stderr"
	# No XDG_RUNTIME_DIR: runc's fallback, /run/nebulon, which is root's (made or not); the error says
	# what to set.
	run --separate-stderr runuser -u "$RL_USER" -- env -i PATH=/usr/bin:/bin \
		timeout 20 "$RUNTIME" run -d --bundle "$BUNDLE" "$CT"
	echo "$status $stderr"
	[ "$status" -ne 0 ] && [[ "$stderr" == *"/run/nebulon"*"permission denied"*"set XDG_RUNTIME_DIR"* ]] ||
		fail "no XDG_RUNTIME_DIR: $stderr"
	assert_host_unchanged
}

# attack_runtime_binary: the attack of tests/security/cve-2019-5736.bats (set_exe_attacker),
# rootless: the container's process opens the runtime binary through /proc/<pid>/exe of an
# exec'd /proc/self/exe, waits for it to exit, makes it writable if it owns it, and writes.
# $HOST_DIR/result says what the write did, $HOST_DIR/exe what the victim ran.
attack_runtime_binary() {
	user_host_dir
	update_config '.root.readonly = false'
	set_exe_attacker
	run_detached
	wait_for_file "$HOST_DIR/ready"
	"${BEFORE_EXEC:-true}"
	runtime exec -d "$CT" /proc/self/exe --log /tmp/block state x || fail "exec"
	wait_for_file "$HOST_DIR/result" 20
	echo "attacker: $(cat "$HOST_DIR/result"); victim's exe: $(cat "$HOST_DIR/exe")"
}

# The binary is root's, mode 0755: no id the container maps may write it, so the runtime execs it
# as it is, without a copy or a mount.
@test "rootless CVE-2019-5736: a container process cannot write an installed runtime binary, and no copy of it is made" {
	local hash
	hash="$(sha256sum <"$RUNTIME")"
	attack_runtime_binary
	[[ "$(cat "$HOST_DIR/result")" == "refused: "*"Permission denied"* ]] || fail "not refused"
	[ "$(sha256sum <"$RUNTIME")" = "$hash" ] || fail "the binary changed"
	# The victim ran the installed binary itself: no memfd, no copy in a directory of its own.
	[ "$(cat "$HOST_DIR/exe")" = "$RUNTIME" ] || fail "the victim ran $(cat "$HOST_DIR/exe"), not $RUNTIME"
}

# attack_own_runtime_binary MODE [ID]: attack_runtime_binary on a copy of the runtime the user
# owns (or uid and gid ID), with MODE; the attack must fail with EROFS, on a binary left as it was,
# exec'd from a detached mount of it alone, whose path is "/": not a memfd copy
# ("/memfd:... (deleted)") nor one in a directory.
attack_own_runtime_binary() {
	local own="$TEST_DIR/own" hash
	local -a owner=(-o "$RL_UID")
	[ -z "${2:-}" ] || owner=(-o "$2" -g "$2")
	mkdir -m 0755 "$own"
	install -m "$1" "${owner[@]}" "$RUNTIME" "$own/nebulon"
	local RUNTIME="$own/nebulon"
	hash="$(sha256sum <"$RUNTIME")"
	attack_runtime_binary
	[[ "$(cat "$HOST_DIR/result")" == "refused: "*"Read-only file system"* ]] || fail "not refused"
	[ "$(sha256sum <"$RUNTIME")" = "$hash" ] || fail "the binary changed"
	[ "$(stat -c %a "$RUNTIME")" = "${1#0}" ] || fail "its mode changed to $(stat -c %a "$RUNTIME")"
	[ "$(cat "$HOST_DIR/exe")" = / ] || fail "the victim ran $(cat "$HOST_DIR/exe")"
}

# The user's own binary, which the container's root (the user's uid) could write: the runtime
# execs it from a read-only bind mount made in a user namespace of its own; no copy either.
@test "rootless CVE-2019-5736: a runtime binary the container could write is exec'd from a read-only mount" {
	attack_own_runtime_binary 0755
}

# Without a write bit: the container's root owns it, so may chmod it, then write.
@test "rootless CVE-2019-5736: a runtime binary of the user's, mode 0555, is exec'd from a read-only mount" {
	attack_own_runtime_binary 0555
}

# A user namespace joined by path (one the user holds open, mapping its subordinate ids) has no
# maps in the spec: the runtime reads them from a process in it. Its root may write a binary that
# a subordinate id owns (CAP_DAC_OVERRIDE over an inode whose uid and gid it maps).
# hold_userns: a user namespace the user holds open (pid $holder) that maps its subordinate ids,
# joined by path by the container.
hold_userns() {
	setpriv --reuid="$RL_UID" --regid="$RL_GID" --clear-groups unshare --user sleep 1000 </dev/null >/dev/null 2>&1 3>&- &
	holder=$!
	on_teardown "kill -KILL $holder; wait $holder"
	for ((i = 0; i < 50; i++)); do
		[ "$(readlink "/proc/$holder/ns/user")" != "$(readlink /proc/self/ns/user)" ] && break
		sleep 0.1
	done
	as_user newuidmap "$holder" 0 "$RL_UID" 1 1 "$RL_SUB_START" "$RL_SUB_COUNT" || fail "newuidmap"
	as_user newgidmap "$holder" 0 "$RL_GID" 1 1 "$RL_SUB_START" "$RL_SUB_COUNT" || fail "newgidmap"
	# shellcheck disable=SC2016 # $p is jq's
	update_config '.linux.namespaces |= map(if .type == "user" then .path = $p else . end)
		| del(.linux.uidMappings, .linux.gidMappings)
		| .process.capabilities |= map_values(. + ["CAP_DAC_OVERRIDE", "CAP_FOWNER"])' --arg p "/proc/$holder/ns/user"
}

# A user namespace joined by path (one the user holds open, mapping its subordinate ids) has no
# maps in the spec: the runtime reads them from a process in it. Its root may write a binary that
# a subordinate id owns (CAP_DAC_OVERRIDE over an inode whose uid and gid it maps).
@test "rootless CVE-2019-5736: with a user namespace joined by path, its own maps tell who could write the binary" {
	command -v newuidmap >/dev/null || skip "needs newuidmap (Debian package uidmap)"
	hold_userns
	attack_own_runtime_binary 0755 "$((RL_SUB_START + 7))"
}

# reuse_holder_pid: the holder exits once the container runs, and its pid goes (ns_last_pid) to
# a process of the user's in a user namespace that maps the user's uid alone.
reuse_holder_pid() {
	kill -KILL "$holder"
	wait "$holder" || true
	local i pid
	for ((i = 0; i < 50; i++)); do
		echo $((holder - 1)) >/proc/sys/kernel/ns_last_pid
		setpriv --reuid="$RL_UID" --regid="$RL_GID" --clear-groups unshare --user --map-root-user sleep 1000 </dev/null >/dev/null 2>&1 3>&- &
		pid=$!
		[ "$pid" = "$holder" ] && break
		kill -KILL "$pid"
		wait "$pid" || true
	done
	[ "$pid" = "$holder" ] || fail "pid $holder was not reused"
	for ((i = 0; i < 50; i++)); do
		[ -n "$(cat "/proc/$holder/uid_map")" ] && [ "$(readlink "/proc/$holder/ns/user")" != "$(readlink /proc/self/ns/user)" ] && break
		sleep 0.1
	done
	grep -q "^ *0 *$RL_UID *1\$" "/proc/$holder/uid_map" || fail "the reused pid's uid_map: $(cat "/proc/$holder/uid_map")"
}

# An exec weighs the maps of the init's user namespace, not those of whatever the spec's path
# names once its holder exited and its pid was reused (one mapping fewer ids would let a binary
# the container could write be exec'd as it is).
@test "rootless CVE-2019-5736: exec weighs the init's user namespace maps, not those of a reused holder pid" {
	command -v newuidmap >/dev/null || skip "needs newuidmap (Debian package uidmap)"
	hold_userns
	BEFORE_EXEC=reuse_holder_pid attack_own_runtime_binary 0755 "$((RL_SUB_START + 7))"
}
