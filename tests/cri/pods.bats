#!/usr/bin/env bats
# Pod sandboxes and their containers through containerd's CRI, as the kubelet makes them: each
# scenario on the nebulon handler and on runc, and crictl must show the same.

load helpers

teardown() {
	teardown_pods
}

pod_lifecycle() {
	local pod
	pod="$(run_pod life "$1")" || return 1
	cri pods --id "$pod" -o json | jq -r --arg rt "$1" '.items[] | "\(.state) on its handler: \(.runtimeHandler == $rt)"'
	cri inspectp "$pod" | jq -r --arg net "${CNI_SUBNET%.*/*}." '"address on the pod network: \(.status.network.ip | startswith($net))"'
	cri stopp "$pod" >/dev/null
	cri pods --id "$pod" -o json | jq -r '.items[].state'
	cri rmp "$pod" >/dev/null
	echo "pods left: $(cri pods --id "$pod" -q | wc -l)"
}

@test "runp, stopp, rmp: the pod's states and address, nothing left" {
	compare pod_lifecycle
	[ "$output" = "SANDBOX_READY on its handler: true
address on the pod network: true
SANDBOX_NOTREADY
pods left: 0" ]
}

# ns_of ID NS: the inode of namespace NS of container ID's first process.
ns_of() {
	cx "$1" readlink "/proc/1/ns/$2"
}

shared_namespaces() {
	local pod a b ns
	pod="$(run_pod share "$1")" || return 1
	a="$(run_ctr "$pod" a -- sh -c 'echo written-by-a >/dev/shm/note; exec sleep 1000')" || return 1
	b="$(run_ctr "$pod" b -- sleep 1000)" || return 1
	for ns in net ipc uts pid; do
		if [ "$(ns_of "$a" "$ns")" = "$(ns_of "$b" "$ns")" ]; then
			echo "$ns: shared"
		else
			echo "$ns: own"
		fi
	done
	[ "$(cx "$b" hostname)" = "share-$1" ] && echo "hostname: the pod's"
	cx "$b" cat /dev/shm/note
}

@test "containers of a pod share its network, IPC and UTS namespaces, not its pids" {
	compare shared_namespaces
	[ "$output" = "net: shared
ipc: shared
uts: shared
pid: own
hostname: the pod's
written-by-a" ]
}

share_pids() {
	local pod a
	# namespace_options.pid 0 is POD: shareProcessNamespace.
	pod="$(run_pod pids "$1" '.linux.security_context.namespace_options.pid = 0')" || return 1
	a="$(run_ctr "$pod" a '.linux.security_context.namespace_options.pid = 0' -- sleep 1000)" || return 1
	cx "$a" sh -c 'tr "\0" " " </proc/1/cmdline; echo'
	cx "$a" sh -c 'ps -o comm | grep -c "^sleep$"'
}

@test "shareProcessNamespace: the pod's pause process is pid 1 of its containers" {
	compare share_pids
	# The pause image's process, and a sleep of the pause loop's beside the container's.
	[ "$output" = "/bin/sh -c trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait; done 
2" ]
}

init_then_restart() {
	local pod init main again
	pod="$(run_pod init "$1")" || return 1
	init="$(run_ctr "$pod" init -- sh -c 'echo prepared >/dev/shm/init; exit 0')" || return 1
	wait_exited "$init" && exit_of "$init"
	main="$(run_ctr "$pod" main -- sh -c 'cat /dev/shm/init; trap "exit 0" TERM; sleep 1000 & wait')" || return 1
	cri stop -t 10 "$main" >/dev/null
	exit_of "$main"
	cri rm "$main" >/dev/null
	again="$(run_ctr "$pod" main '.metadata.attempt = 1' -- sh -c 'echo restarted; exec sleep 1000')" || return 1
	cri ps --pod "$pod" -a -o json | jq -r '.containers | sort_by(.metadata.name)[] | "\(.metadata.name) attempt \(.metadata.attempt // 0) \(.state)"'
	sleep 0.2
	cri logs "$again"
	cri inspectp "$pod" | jq -r .status.state
}

@test "an init container runs to completion first; a container of a running pod is restarted" {
	compare init_then_restart
	[ "$output" = "exit 0 Completed
exit 0 Completed
init attempt 0 CONTAINER_EXITED
main attempt 1 CONTAINER_RUNNING
restarted
SANDBOX_READY" ]
}
