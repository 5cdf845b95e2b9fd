#!/usr/bin/env bats
# Pod and container security contexts as containerd turns them into OCI configs: seccomp
# profiles, users and groups, a read-only root, privileged, capabilities, the host's
# namespaces, masked and read-only paths. Each on nebulon and on runc, compared.

load helpers

teardown() {
	teardown_pods
}

# sc_run RUNTIME NAME SC_FILTER CMD...: runs CMD in a container of pod NAME-RUNTIME whose
# security context SC_FILTER sets (jq, on .linux.security_context), waits for its exit and
# prints its logs. CMD's stderr goes to its stdout: the log orders lines of two streams by the
# time containerd read them, which may not be the order they were written in.
sc_run() {
	local rt="$1" name="$2" filter="$3" pod c
	shift 3
	pod="$(run_pod "$name" "$rt")" || return 1
	# shellcheck disable=SC2016 # the container's shell expands it
	c="$(run_ctr "$pod" c ".linux.security_context |= ((. // {}) | $filter)" -- \
		sh -c 'exec 2>&1; exec "$0" "$@"' "$@")" || return 1
	wait_exited "$c" || return 1
	cri logs "$c" 2>&1
}

seccomp_profiles() {
	# ProfileType 0 RuntimeDefault, 1 Unconfined, 2 Localhost.
	sc_run "$1" sd '.seccomp = {profile_type: 0}' sh -c 'grep ^Seccomp: /proc/self/status'
	sc_run "$1" su '.seccomp = {profile_type: 1}' sh -c 'grep ^Seccomp: /proc/self/status'
	sc_run "$1" sl ".seccomp = {profile_type: 2, localhost_ref: \"$E/no-mkdir.json\"}" \
		sh -c 'mkdir /tmp/d || echo "mkdir refused"; grep ^Seccomp: /proc/self/status'
	# RuntimeDefault refuses what Docker's default profile refuses.
	sc_run "$1" sk '.seccomp = {profile_type: 0}' sh -c 'unshare -U true || echo "unshare refused"'
}

@test "seccomp: RuntimeDefault, Unconfined and a localhost profile" {
	cat >"$E/no-mkdir.json" <<-'JSON'
		{"defaultAction": "SCMP_ACT_ALLOW",
		 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
	JSON
	compare seccomp_profiles
	[ "$output" = "Seccomp:	2
Seccomp:	0
mkdir: can't create directory '/tmp/d': Operation not permitted
mkdir refused
Seccomp:	2
unshare: unshare(0x10000000): Operation not permitted
unshare refused" ]
}

users() {
	sc_run "$1" ids '.run_as_user = {value: 1000} | .run_as_group = {value: 2000} | .supplemental_groups = [3000, 3001]' id
	sc_run "$1" ro '.readonly_rootfs = true' sh -c 'touch /x || echo "root read-only"'
}

@test "runAsUser, runAsGroup, supplementalGroups; readOnlyRootFilesystem" {
	compare users
	[ "$output" = "uid=1000 gid=2000 groups=2000,3000,3001
touch: /x: Read-only file system
root read-only" ]
}

capabilities() {
	sc_run "$1" cd '.capabilities = {add_capabilities: ["NET_ADMIN"], drop_capabilities: ["CHOWN", "KILL"]}' \
		sh -c 'grep ^CapEff: /proc/self/status; chown 1 /tmp || echo "chown refused"'
	sc_run "$1" dall '.capabilities = {drop_capabilities: ["ALL"]}' sh -c 'grep ^CapEff: /proc/self/status'
}

@test "capabilities added and dropped, and ALL dropped" {
	compare capabilities
	# containerd's default set (a80425fb) minus CHOWN and KILL, plus NET_ADMIN.
	[ "$output" = "CapEff:	00000000a80435da
chown: /tmp: Operation not permitted
chown refused
CapEff:	0000000000000000" ]
}

privileged() {
	local pod c bnd
	pod="$(run_pod priv "$1" '.linux.security_context.privileged = true')" || return 1
	c="$(run_ctr "$pod" c '.linux.security_context.privileged = true' -- sh -c '
		grep ^Seccomp: /proc/self/status
		grep ^CapEff: /proc/self/status
		[ -e /dev/kmsg ] && echo "host devices"
		mount -t tmpfs t /tmp && echo "mount allowed"
		grep -q " /proc/sys " /proc/self/mounts || echo "/proc/sys not read-only"')" || return 1
	wait_exited "$c" || return 1
	# Its capabilities are the host's: containerd grants every one it holds itself.
	bnd="$(grep ^CapBnd: /proc/self/status | cut -f2)"
	cri logs "$c" 2>&1 | sed "s/^CapEff:\t$bnd\$/CapEff: the host's bounding set/"
}

@test "privileged: host devices, mounts, /proc/sys not read-only, the host's capabilities" {
	compare privileged
	[ "$output" = "Seccomp:	0
CapEff: the host's bounding set
host devices
mount allowed
/proc/sys not read-only" ]
}

host_namespaces() {
	local pod c ns
	# namespace_options 2 is NODE: the host's.
	# The kubelet sets no hostname for a pod on the host's network.
	pod="$(run_pod host "$1" 'del(.hostname) | .linux.security_context.namespace_options = {network: 2, pid: 2, ipc: 2}')" || return 1
	c="$(run_ctr "$pod" c '.linux.security_context.namespace_options = {network: 2, pid: 2, ipc: 2}' -- sleep 1000)" || return 1
	for ns in net pid ipc uts; do
		if [ "$(cx "$c" readlink "/proc/self/ns/$ns")" = "$(readlink "/proc/self/ns/$ns")" ]; then
			echo "$ns: host"
		else
			echo "$ns: own"
		fi
	done
	cri inspectp "$pod" | jq -r '"pod address: \(.status.network.ip)"'
}

@test "hostNetwork, hostPID, hostIPC" {
	compare host_namespaces
	# With the host's network the pod has the host's name (UTS follows the network), and CNI
	# gives it no address.
	[ "$output" = "net: host
pid: host
ipc: host
uts: host
pod address: " ]
}

# The kubelet's lists for procMount Default (pkg/securitycontext): containerd masks and makes
# read-only what the kubelet names.
MASKED='["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
	"/sys/devices/virtual/powercap"]'
READONLY='["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]'

masked_paths() {
	# shellcheck disable=SC2016 # the container's shell expands it
	sc_run "$1" masked ".masked_paths = $MASKED | .readonly_paths = $READONLY" sh -c '
		echo "timer_list: $(wc -c </proc/timer_list)"
		echo "keys: $(wc -c </proc/keys)"
		echo "acpi: $(ls /proc/acpi | wc -l)"
		echo "/sys/firmware: $(ls /sys/firmware | wc -l)"
		(echo 1 >/proc/sys/kernel/ns_last_pid) 2>/dev/null || echo "/proc/sys read-only"
		(echo 1 >/proc/sysrq-trigger) 2>/dev/null || echo "sysrq-trigger read-only"'
}

@test "masked and read-only paths as the kubelet asks for them" {
	compare masked_paths
	[ "$output" = "timer_list: 0
keys: 0
acpi: 0
/sys/firmware: 0
/proc/sys read-only
sysrq-trigger read-only" ]
}
