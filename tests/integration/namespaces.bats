#!/usr/bin/env bats
# linux.namespaces: new namespaces of every type, and joining one by path.

load helpers

# add_ns TYPE [PATH]: add (or replace) a namespace entry.
add_ns() {
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.namespaces = ([.linux.namespaces[] | select(.type != $t)]
		+ [{"type": $t} + (if $p == "" then {} else {"path": $p} end)])' \
		--arg t "$1" --arg p "${2:-}"
}

remove_ns() {
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.namespaces |= map(select(.type != $t))' --arg t "$1"
}

# A long-lived `sleep` holding new namespaces, started with unshare; sets
# HOLDER_PID (host pid of the sleep, which is in the new namespaces).
start_ns_holder() {
	unshare "$@" sleep 1000 </dev/null >/dev/null 2>&1 3>&- &
	local pid=$! child
	BG_PIDS+=("$pid")
	for _ in $(seq 50); do
		# With --fork, unshare waits for a child that is in the new pid ns.
		child="$(cat "/proc/$pid/task/"$pid/children 2>/dev/null | awk '{print $1}')"
		HOLDER_PID="${child:-$pid}"
		if [ "$(cat "/proc/$HOLDER_PID/comm" 2>/dev/null)" = sleep ]; then
			BG_PIDS+=("$HOLDER_PID")
			return 0
		fi
		sleep 0.1
	done
	fail "namespace holder did not start"
}

@test "pid namespace: the user process is pid 1 and ps sees only the container's processes" {
	ct_run 'echo "pid=$$"; ps -o pid,comm; exit 0'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "pid=1" ]
	[[ "${lines[1]}" =~ ^\ *PID\ +COMMAND$ ]]
	[[ "${lines[2]}" =~ ^\ *1\ sh$ ]]
	[[ "${lines[3]}" =~ ^\ *[0-9]+\ ps$ ]]
	[ "${#lines[@]}" -eq 4 ]
}

@test "pid namespace: the container's pid namespace differs from the host's" {
	ct_run 'readlink /proc/self/ns/pid'
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^pid:\[[0-9]+\]$ ]]
	[ "$output" != "$(readlink /proc/self/ns/pid)" ]
}

@test "from the host: the init has its own pid, net, ipc, uts and mnt namespaces and NSpid <host pid> 1" {
	update_config '.linux.namespaces = [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
		{"type": "uts"}, {"type": "mount"}]'
	set_cmd 'exec sleep 100'
	run_detached
	pid="$(state_of | jq -r .pid)"
	[ "$(awk '/^NSpid:/ {print $2, $3}' "/proc/$pid/status")" = "$pid 1" ]
	for ns in pid net ipc uts mnt; do
		[ "$(readlink "/proc/$pid/ns/$ns")" != "$(readlink "/proc/self/ns/$ns")" ] || fail "$ns shared with the host"
	done
	# Types not in the config are the host's.
	for ns in user cgroup; do
		[ "$(readlink "/proc/$pid/ns/$ns")" = "$(readlink "/proc/self/ns/$ns")" ] || fail "$ns not shared with the host"
	done
}

@test "network namespace: only a loopback interface, and it is up" {
	ct_run 'ls /sys/class/net; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; cat /sys/class/net/lo/operstate'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = lo ]
	[ "${lines[1]}" = lo ]
	[ "${#lines[@]}" -eq 3 ]
	# operstate of an up loopback is "unknown", of a down one "down".
	[ "${lines[2]}" = unknown ]
}

@test "network namespace: the container's net namespace differs from the host's" {
	ct_run 'readlink /proc/self/ns/net'
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^net:\[[0-9]+\]$ ]]
	[ "$output" != "$(readlink /proc/self/ns/net)" ]
}

@test "a namespace type left out of the config is shared with the host" {
	remove_ns network
	remove_ns ipc
	ct_run 'readlink /proc/self/ns/net; readlink /proc/self/ns/ipc'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(readlink /proc/self/ns/net)" ]
	[ "${lines[1]}" = "$(readlink /proc/self/ns/ipc)" ]
}

@test "mount namespace: the container's mounts are not visible on the host" {
	use_host_dir
	set_cmd 'readlink /proc/self/ns/mnt > /host/mnt; grep -c . /proc/self/mountinfo > /host/count; touch /host/ready; exec sleep 100'
	run_detached
	wait_for_file "$HOST_DIR/ready"
	[ "$(cat "$HOST_DIR/mnt")" != "$(readlink /proc/self/ns/mnt)" ]
	# Nothing the runtime mounted for the container (/proc, /dev, /host...)
	# is in the host's mount table.
	run grep -F "$BUNDLE" /proc/self/mountinfo
	[ "$status" -eq 1 ]
	[ "$(cat "$HOST_DIR/count")" -gt 5 ]
}

@test "ipc namespace: the container has its own ipc namespace and none of the host's shm segments" {
	ct_run 'readlink /proc/self/ns/ipc; tail -n +2 /proc/sysvipc/shm | wc -l'
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^ipc:\[[0-9]+\]$ ]]
	[ "${lines[0]}" != "$(readlink /proc/self/ns/ipc)" ]
	[ "${lines[1]}" -eq 0 ]
}

@test "uts namespace: hostname is set inside and the host's is unchanged" {
	host_hostname="$(hostname)"
	update_config '.hostname = "nebulon-box"'
	ct_run 'hostname; cat /proc/sys/kernel/hostname; readlink /proc/self/ns/uts'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = nebulon-box ]
	[ "${lines[1]}" = nebulon-box ]
	[[ "${lines[2]}" =~ ^uts:\[[0-9]+\]$ ]]
	[ "${lines[2]}" != "$(readlink /proc/self/ns/uts)" ]
	[ "$(hostname)" = "$host_hostname" ]
}

@test "uts namespace: domainname is set inside and the host's is unchanged" {
	skip_if_runc "1.1.5 ignores the domainname field (added in runc 1.2)"
	host_domain="$(cat /proc/sys/kernel/domainname)"
	update_config '.hostname = "nebulon-box" | .domainname = "example.test"'
	ct_run 'cat /proc/sys/kernel/domainname'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = example.test ]
	[ "$(cat /proc/sys/kernel/domainname)" = "$host_domain" ]
}

@test "user namespace: uid_map/gid_map inside show the mappings and the host sees the mapped uid" {
	use_host_dir
	add_ns user
	update_config '.linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
		| .linux.gidMappings = [{"containerID": 0, "hostID": 200000, "size": 65536}]'
	set_cmd 'cat /proc/self/uid_map /proc/self/gid_map > /host/maps; id -u > /host/id; id -g >> /host/id
		touch /host/ready; exec sleep 100'
	run_detached
	wait_for_file "$HOST_DIR/ready"
	[ "$(awk '{print $1, $2, $3}' "$HOST_DIR/maps" | tr '\n' ';')" = "0 100000 65536;0 200000 65536;" ]
	[ "$(tr '\n' ' ' <"$HOST_DIR/id")" = "0 0 " ]
	pid="$(state_of | jq -r .pid)"
	[ "$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")" = "100000 100000 100000 100000" ]
	[ "$(awk '/^Gid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")" = "200000 200000 200000 200000" ]
	[ "$(stat -c %u "/proc/$pid")" = 100000 ]
	[ "$(readlink "/proc/$pid/ns/user")" != "$(readlink /proc/self/ns/user)" ]
	# A file the container creates on the bind mount belongs to the mapped ids.
	[ "$(stat -c '%u %g' "$HOST_DIR/id")" = "100000 200000" ]
}

@test "user namespace: a non-root container uid maps to hostID + uid" {
	use_host_dir
	add_ns user
	update_config '.linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
		| .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
		| .process.user = {"uid": 1000, "gid": 1000}'
	set_cmd 'id -u > /host/id; touch /host/ready; exec sleep 100'
	run_detached
	wait_for_file "$HOST_DIR/ready"
	[ "$(cat "$HOST_DIR/id")" = 1000 ]
	pid="$(state_of | jq -r .pid)"
	[ "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")" = 101000 ]
}

@test "cgroup namespace: /proc/self/cgroup shows / for every hierarchy" {
	add_ns cgroup
	ct_run 'cat /proc/self/cgroup; readlink /proc/self/ns/cgroup'
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -ge 2 ]
	for line in "${lines[@]:0:${#lines[@]}-1}"; do
		[[ "$line" =~ ^[0-9]+:[^:]*:/$ ]] || fail "not /: $line"
	done
	[ "${lines[-1]}" != "$(readlink /proc/self/ns/cgroup)" ]
}

@test "without a cgroup namespace /proc/self/cgroup shows the container's cgroup path" {
	remove_ns cgroup
	ct_run 'cat /proc/self/cgroup'
	[ "$status" -eq 0 ]
	# The cpu hierarchy (v1) puts the container in a cgroup named after it.
	grep -E "^[0-9]+:cpu(,cpuacct)?:.*/$CT\$" <<<"$output"
}

@test "time namespace: timeOffsets shift boottime and monotonic clocks inside" {
	skip_if_runc "1.1.5 has no time namespace support (linux.timeOffsets is ignored)"
	add_ns time
	update_config '.linux.timeOffsets = {"boottime": {"secs": 864000, "nanosecs": 0},
		"monotonic": {"secs": 172800, "nanosecs": 0}}'
	ct_run 'cat /proc/self/timens_offsets; cut -d. -f1 /proc/uptime; readlink /proc/self/ns/time'
	[ "$status" -eq 0 ]
	grep -Eq '^monotonic +172800 +0$' <<<"$output"
	grep -Eq '^boottime +864000 +0$' <<<"$output"
	host_uptime="$(cut -d. -f1 /proc/uptime)"
	[ "${lines[2]}" -ge $((864000 + host_uptime - 5)) ]
	[ "${lines[3]}" != "$(readlink /proc/self/ns/time)" ]
}

@test "joining a network namespace by path (ip netns bind mount)" {
	netns="nbt-$$-$BATS_TEST_NUMBER"
	ip netns add "$netns"
	on_teardown "ip netns del $netns"
	ip netns exec "$netns" ip link set lo up
	want="$(ip netns exec "$netns" readlink /proc/self/ns/net)"
	add_ns network "/run/netns/$netns"
	ct_run 'readlink /proc/self/ns/net'
	[ "$status" -eq 0 ]
	[ "$output" = "$want" ]
	# Deleting the container does not remove a namespace it did not create.
	[ -e "/run/netns/$netns" ]
	[ "$(ip netns exec "$netns" readlink /proc/self/ns/net)" = "$want" ]
}

@test "joining a uts namespace held by another process by /proc/PID/ns/uts" {
	start_ns_holder --uts
	nsenter -t "$HOLDER_PID" --uts hostname holder-host
	want="$(readlink "/proc/$HOLDER_PID/ns/uts")"
	update_config 'del(.hostname)'
	add_ns uts "/proc/$HOLDER_PID/ns/uts"
	ct_run 'readlink /proc/self/ns/uts; hostname'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$want" ]
	[ "${lines[1]}" = holder-host ]
	[ "$(hostname)" != holder-host ]
}

@test "joining an ipc namespace persisted on a bind-mounted nsfs file" {
	touch "$TEST_DIR/ipcns"
	unshare --ipc="$TEST_DIR/ipcns" true
	on_teardown "umount $TEST_DIR/ipcns"
	want="ipc:[$(stat -L -c %i "$TEST_DIR/ipcns")]"
	add_ns ipc "$TEST_DIR/ipcns"
	ct_run 'readlink /proc/self/ns/ipc'
	[ "$status" -eq 0 ]
	[ "$output" = "$want" ]
}

@test "joining a pid namespace by path puts the process in that namespace" {
	start_ns_holder --pid --fork --mount-proc
	want="$(readlink "/proc/$HOLDER_PID/ns/pid")"
	add_ns pid "/proc/$HOLDER_PID/ns/pid"
	ct_run 'readlink /proc/self/ns/pid; echo $$'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$want" ]
	# The holder is pid 1 there, so the container is not.
	[ "${lines[1]}" -gt 1 ]
}

@test "joining a user namespace by path, as containerd's pinned one of a pod: root in it, /dev made, a bind source only the host's root may enter" {
	start_ns_holder --user
	echo "0 100000 65536" >"/proc/$HOLDER_PID/uid_map"
	echo "0 100000 65536" >"/proc/$HOLDER_PID/gid_map"
	# A volume under a directory of mode 0700, as under containerd's state: uid 100000 cannot
	# enter it, the runtime opens it.
	mkdir -p "$TEST_DIR/private/vol" "$BUNDLE/rootfs/vol"
	chmod 0700 "$TEST_DIR/private"
	echo from-host >"$TEST_DIR/private/vol/f"
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.mounts += [{"destination": "/vol", "type": "bind", "source": $s, "options": ["rbind", "ro"]}]' \
		--arg s "$TEST_DIR/private/vol"
	add_ns user "/proc/$HOLDER_PID/ns/user"
	ct_run 'id -u; cat /vol/f; [ -d /dev/pts ] && echo devpts; readlink /proc/self/ns/user'
	[ "$status" -eq 0 ]
	[ "$output" = "0
from-host
devpts
$(readlink "/proc/$HOLDER_PID/ns/user")" ]
}

@test "sysctl net.ipv4.ip_forward=1 applies inside a new net namespace only" {
	host_value="$(cat /proc/sys/net/ipv4/ip_forward)"
	update_config '.linux.sysctl = {"net.ipv4.ip_forward": "1", "net.ipv4.ip_default_ttl": "33"}'
	ct_run 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/ip_default_ttl'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 1 ]
	[ "${lines[1]}" = 33 ]
	[ "$(cat /proc/sys/net/ipv4/ip_forward)" = "$host_value" ]
	[ "$(cat /proc/sys/net/ipv4/ip_default_ttl)" != 33 ]
}

@test "sysctl kernel.shmmax applies inside a new ipc namespace only" {
	host_value="$(cat /proc/sys/kernel/shmmax)"
	update_config '.linux.sysctl = {"kernel.shmmax": "123456789", "kernel.msgmax": "4321"}'
	ct_run 'cat /proc/sys/kernel/shmmax /proc/sys/kernel/msgmax'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 123456789 ]
	[ "${lines[1]}" = 4321 ]
	[ "$(cat /proc/sys/kernel/shmmax)" = "$host_value" ]
}
