#!/usr/bin/env bats
# Kubernetes' stable pod features that need the runtime's support, which containerd reads from
# `features`: user-namespaced pods (hostUsers: false, KEP-127) on id-mapped mounts, recursive
# read-only mounts (KEP-3857), image volumes (KEP-4639); and what a node goes through: containerd
# restarted under running pods, pods created in parallel. Each on nebulon and on runc, compared.

load helpers

teardown() {
	local m
	for m in "$E"/rro-*/sub; do
		mountpoint -q "$m" && umount "$m"
	done
	teardown_pods
}

# The mappings the kubelet gives a pod with hostUsers: false: 65536 ids from a host range of
# its own. NamespaceMode 0 is POD.
# The kubelet gives each volume of such a pod the same mappings: id-mapped, its files keep their
# host owners inside.
IDMAP='[{host_id: 200000, container_id: 0, length: 65536}]'
USERNS='{mode: 0, uids: [{host_id: 200000, container_id: 0, length: 65536}], gids: [{host_id: 200000, container_id: 0, length: 65536}]}'

userns_pod() {
	local pod c vol="$E/vol-$1" pid
	mkdir -p "$vol"
	rm -f "$vol"/*
	touch "$vol/owned"
	chown 1234:1234 "$vol/owned"
	pod="$(run_pod userns "$1" ".linux.security_context.namespace_options.userns_options = $USERNS")" || return 1
	c="$(run_ctr "$pod" c ".linux.security_context.namespace_options.userns_options = $USERNS |
		.mounts = [{container_path: \"/vol\", host_path: \"$vol\", uidMappings: $IDMAP, gidMappings: $IDMAP}]" -- sleep 1000)" || return 1
	cx "$c" cat /proc/self/uid_map | awk '{print "uid_map:", $1, $2, $3}'
	cx "$c" id -u
	# Id-mapped: the volume's files keep their host owners, in and out.
	cx "$c" stat -c '%u:%g %n' /vol/owned
	cx "$c" touch /vol/made-in-pod
	stat -c 'on the host: %u:%g %n' "$vol/made-in-pod" | sed "s|$vol/||"
	# The pod's root is an unprivileged host uid.
	pid="$(cri inspect "$c" | jq -r .info.pid)"
	awk '/^Uid:/ {print "host uid of its process:", $2}' "/proc/$pid/status"
	rm -rf "$vol"
}

@test "hostUsers: false: the pod's root is host uid 200000, volumes keep their owners" {
	compare userns_pod
	[ "$output" = "uid_map: 0 200000 65536
0
1234:1234 /vol/owned
on the host: 0:0 made-in-pod
host uid of its process: 200000" ]
}

rro() {
	local pod c dir="$E/rro-$1"
	mkdir -p "$dir/sub"
	mountpoint -q "$dir/sub" || mount -t tmpfs nbcri-rro "$dir/sub"
	pod="$(run_pod rro "$1")" || return 1
	# Propagation 0 is PRIVATE, which recursive read-only needs.
	c="$(run_ctr "$pod" c ".mounts = [
		{container_path: \"/rro\", host_path: \"$dir\", readonly: true, recursive_read_only: true, propagation: 0},
		{container_path: \"/ro\", host_path: \"$dir\", readonly: true, propagation: 0}]" -- sh -c '
		touch /rro/x 2>/dev/null || echo "rro: read-only"
		touch /rro/sub/x 2>/dev/null || echo "rro submount: read-only"
		touch /ro/x 2>/dev/null || echo "ro: read-only"
		touch /ro/sub/x 2>/dev/null && echo "ro submount: writable"')" || return 1
	wait_exited "$c" && cri logs "$c" 2>&1
	umount "$dir/sub"
	rm -rf "$dir"
}

@test "recursive read-only mounts: submounts read-only too, unlike plain read-only" {
	compare rro
	[ "$output" = "rro: read-only
rro submount: read-only
ro: read-only
ro submount: writable" ]
}

image_volume() {
	local pod c
	pod="$(run_pod imgvol "$1")" || return 1
	c="$(run_ctr "$pod" c ".mounts = [{container_path: \"/img\", readonly: true, image: {image: \"$IMAGE\"}}]" -- sh -c '
		/img/bin/busybox echo "runs from the image volume"
		touch /img/x 2>/dev/null || echo "image volume: read-only"')" || return 1
	wait_exited "$c" && cri logs "$c" 2>&1
}

@test "image volumes: an image mounted read-only into a container" {
	compare image_volume
	[ "$output" = "runs from the image volume
image volume: read-only" ]
}

containerd_restart() {
	local pod c
	pod="$(run_pod survive "$1")" || return 1
	c="$(run_ctr "$pod" c -- sh -c 'trap "exit 0" TERM; sleep 1000 & wait')" || return 1
	restart_containerd || return 1
	cri pods --id "$pod" -o json | jq -r '.items[].state'
	cx "$c" echo "exec after the restart"
	cri stop -t 10 "$c" >/dev/null
	exit_of "$c"
	cri stopp "$pod" >/dev/null && cri rmp "$pod" >/dev/null && echo "pod removed"
}

@test "containerd restarted under a running pod: the pod runs on and is managed after" {
	compare containerd_restart
	[ "$output" = "SANDBOX_READY
exec after the restart
exit 0 Completed
pod removed" ]
}

parallel_pods() {
	local i pids=() failed=0
	for ((i = 0; i < 20; i++)); do
		run_pod "par$i" "$1" >/dev/null &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i" || failed=$((failed + 1))
	done
	echo "runp failed: $failed"
	cri pods -o json | jq -r --arg rt "$1" \
		'[.items[] | select(.runtimeHandler == $rt and .state == "SANDBOX_READY")] | "ready: \(length)"'
	remove_pods
	echo "pods left: $(cri pods -q | wc -l)"
}

@test "20 pods created in parallel; removing them leaves nothing" {
	compare parallel_pods
	[ "$output" = "runp failed: 0
ready: 20
pods left: 0" ]
}
