#!/usr/bin/env bash
bats_require_minimum_version 1.5.0

# Harness for the CRI suite: containerd 2 with its CRI plugin, driven by crictl as the kubelet
# drives it, with two runtime handlers: `nebulon` (the built nebulon) and `runc`, each behind a
# logging wrapper. setup_suite.bash makes the suite's private node under $E with
# tests/cri/env.sh (containerd, a registry on 127.0.0.1 with images built from busybox-static, a
# CNI bridge network) and removes it at the end; $E/env names its parts.
#
# A scenario is a function of the handler that prints what crictl's user sees; `compare SCENARIO`
# (tests/engines/helpers.bash) runs it with nebulon and with runc and fails on any difference.

CRI_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../engines/helpers.bash
source "$CRI_DIR/../engines/helpers.bash"
# TOOLS, REGISTRY, IMAGE, PAUSE_IMAGE, POD_CGROUP(_PARENT), CNI_BRIDGE, CNI_SUBNET
if [ -n "${E:-}" ] && [ -f "$E/env" ]; then
	# shellcheck source=/dev/null
	source "$E/env"
fi

# cri ARGS...: crictl on the suite's containerd, bounded.
cri() {
	timeout -k 5 "$ENGINE_TIMEOUT" "$TOOLS/crictl" --config "$E/crictl.yaml" "$@"
}

# pod_config NAME RUNTIME [JQ_FILTER]: writes the pod sandbox config of pod NAME-RUNTIME to
# $E/pods/NAME-RUNTIME.json, JQ_FILTER applied to it, and prints its path. Its namespaces are
# the kubelet's defaults: NamespaceMode 0 (POD) for network and IPC, 1 (CONTAINER) for pids.
pod_config() {
	local name="$1-$2" filter="${3:-.}" file
	file="$E/pods/$name.json"
	mkdir -p "$E/pods" "$E/logs/$name"
	jq -n --arg n "$name" --arg logs "$E/logs/$name" --arg cg "$POD_CGROUP_PARENT" \
		'{metadata: {name: $n, namespace: "nbcri", uid: ("uid-" + $n), attempt: 0},
		  hostname: $n, log_directory: $logs, linux: {cgroup_parent: $cg,
		  security_context: {namespace_options: {network: 0, pid: 1, ipc: 0}}}}' |
		jq "$filter" >"$file"
	echo "$file"
}

# ctr_config NAME [JQ_FILTER] -- CMD...: writes the config of container NAME running CMD in the
# test image to $E/ctrs/NAME.json and prints its path.
ctr_config() {
	local name="$1" filter=. file cmd arg
	shift
	if [ "$1" != -- ]; then
		filter="$1"
		shift
	fi
	shift
	file="$E/ctrs/$name.json"
	mkdir -p "$E/ctrs"
	# Each argument quoted by itself: jq would take one like -c after --args for its own option.
	cmd="$(for arg in "$@"; do printf '%s' "$arg" | jq -Rs .; done | jq -sc .)"
	jq -n --arg n "$name" --arg img "$IMAGE" --argjson cmd "$cmd" '{metadata: {name: $n},
		image: {image: $img}, command: $cmd, log_path: ($n + ".log"),
		linux: {security_context: {namespace_options: {network: 0, pid: 1, ipc: 0}}}}' |
		jq "$filter" >"$file"
	echo "$file"
}

# run_pod NAME RUNTIME [JQ_FILTER]: starts pod NAME-RUNTIME on RUNTIME; prints its id.
run_pod() {
	cri runp --runtime "$2" "$(pod_config "$@")"
}

# run_ctr POD NAME [JQ_FILTER] -- CMD...: creates and starts container NAME in pod POD (its id)
# and prints the container's id.
run_ctr() {
	local pod="$1" name="$2" cfg id
	shift 2
	cfg="$(ctr_config "$name" "$@")" || return 1
	id="$(cri create "$pod" "$cfg" "$(pod_file "$pod")")" || return 1
	cri start "$id" >/dev/null || return 1
	echo "$id"
}

# cx ID CMD...: CMD run in container ID by exec sync, as an exec probe runs it. Prints its output
# without the blank lines crictl adds after stdout and stderr; when it fails, only "exited with
# N", or the error's description, as crictl's messages name ids and times.
cx() {
	local out rc=0
	out="$(cri exec -s "$@" 2>&1)" || rc=$?
	if [ "$rc" -eq 0 ]; then
		printf '%s\n' "$out" | sed '/^$/d'
		return 0
	fi
	printf '%s\n' "$out" | grep -v '^E[0-9]' | sed -n -e 's/.*exited with \([0-9]*\):.*/exited with \1/p' \
		-e 's/.*desc = \([^"]*\)".*/\1/p' | head -n 1
	return "$rc"
}

# pod_file POD_ID: the config file the pod was started from.
pod_file() {
	echo "$E/pods/$(cri inspectp "$1" | jq -r .status.metadata.name).json"
}

# ctr_state ID: CONTAINER_CREATED, _RUNNING or _EXITED.
ctr_state() {
	cri inspect "$1" | jq -r .status.state
}

# wait_exited ID: waits (10 s at most) for container ID to exit.
wait_exited() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(ctr_state "$1")" = CONTAINER_EXITED ] && return 0
		sleep 0.1
	done
	fail "container $1 did not exit within 10 s: $(ctr_state "$1")"
}

# exit_of ID: the exit code and reason crictl reports for an exited container.
exit_of() {
	cri inspect "$1" | jq -r '"exit \(.status.exitCode) \(.status.reason)"'
}

# remove_pods: stops and removes every pod (and so every container) of the suite.
remove_pods() {
	local p
	for p in $(cri pods -q 2>/dev/null); do
		cri stopp "$p" >/dev/null 2>&1
		cri rmp -f "$p" >/dev/null 2>&1
	done
}

# teardown_pods: removes every pod, then fails if anything of them is left (leftovers); each
# file's teardown.
teardown_pods() {
	remove_pods
	local left
	left="$(leftovers)"
	[ -z "$left" ] || fail "left behind after the pods were removed: $left"
}

# leftovers: what remains of the suite's pods on the host: runtime state, cgroups, mounts under
# containerd's state, network namespaces, address leases. Empty when every pod is gone.
leftovers() {
	local rt
	for rt in $(runtimes); do
		find "$E/rt-$rt" -mindepth 2 -maxdepth 2 2>/dev/null | sed "s|^|$rt state: |"
	done
	find /sys/fs/cgroup -maxdepth 2 -type d -name "$POD_CGROUP" -exec find {} -mindepth 1 -maxdepth 1 -type d \; |
		sed 's/^/cgroup: /'
	grep -F " $E/state/" /proc/self/mountinfo | awk '{print "mount: " $5}'
	find "$E/ipam" -type f ! -name lock ! -name 'last_reserved_ip*' 2>/dev/null | sed 's/^/lease: /'
	return 0
}

# restart_containerd: containerd stopped (SIGTERM: the shims and their containers live on) and
# started again.
restart_containerd() {
	"$CRI_DIR/env.sh" containerd "$E"
}
