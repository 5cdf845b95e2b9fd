#!/usr/bin/env bash
# A private Kubernetes node's runtime side, for the CRI suite (tests/cri) and make bench:
# containerd 2 with its CRI plugin, runtime handlers of type io.containerd.runc.v2 named after
# the runtimes given, a registry on 127.0.0.1 serving a pause image and a test image built from
# busybox-static, and a CNI bridge network on a private subnet. Everything lives under DIR; what
# cannot (the bridge, the pods' parent cgroup, the shims' sockets in /run/containerd) is removed
# by stop when start made it.
#   tests/cri/env.sh start DIR NAME=BINARY...
#       makes it all, starts the registry and containerd, pushes the images and pulls them
#       through the CRI; crictl's config is DIR/crictl.yaml, and DIR/env names the rest
#   tests/cri/env.sh containerd DIR
#       stops containerd (SIGTERM: shims and containers live on) and starts it again
#   tests/cri/env.sh stop DIR
#       removes every pod, stops containerd and the registry, removes what they made and DIR
# The tools come from tests/cri/tools.sh, or CRI_TOOLS when set. CRI_SYSTEMD_CGROUP=1 makes the
# handlers use the systemd cgroup driver (SystemdCgroup = true), the pods' parent a slice.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The images' names in pods: nebulon.test's registry host config sends every request to the
# registry started here, by plain HTTP; nothing is looked up elsewhere.
IMAGE=nebulon.test/busybox:1
PAUSE_IMAGE=nebulon.test/pause:1
# The pods' cgroup parent, as the kubelet gives one (kubepods): a directory of every hierarchy
# for cgroupfs, a slice for systemd.
if [ "${CRI_SYSTEMD_CGROUP:-0}" = 1 ]; then
	systemd_cgroup=true
	POD_CGROUP=nbcri.slice
	# The kubelet gives the slice's cgroupfs path; containerd takes the unit from its base name.
	POD_CGROUP_PARENT=/nbcri.slice
else
	systemd_cgroup=false
	POD_CGROUP=nbcri-pods
	POD_CGROUP_PARENT=/nbcri-pods
fi
CNI_BRIDGE=nbcri0
CNI_SUBNET=10.231.77.0/24
TIMEOUT=${CRI_TIMEOUT:-60}

die() {
	echo "env.sh: $*" >&2
	exit 1
}

# stop_pid FILE NAME: ends the process whose pid FILE holds (SIGTERM, SIGKILL after 10 s).
stop_pid() {
	local pid i
	[ -f "$1" ] || return 0
	pid=$(cat "$1")
	rm -f "$1"
	kill "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "env.sh: $2 (pid $pid) did not end within 10 s of SIGTERM; killing it" >&2
	kill -KILL "$pid" 2>/dev/null || true
}

crictl_() {
	timeout -k 5 "$TIMEOUT" "$TOOLS/crictl" --config "$dir/crictl.yaml" "$@"
}

# start_registry: Debian's docker-registry on a free port of 127.0.0.1, storing under $dir.
start_registry() {
	local try port i
	for ((try = 0; try < 5; try++)); do
		port=$((20000 + RANDOM % 20000))
		[ -z "$(ss -Htln "sport = :$port")" ] || continue
		cat >"$dir/registry.yml" <<-CONF
			version: 0.1
			log:
			  level: warn
			storage:
			  filesystem:
			    rootdirectory: $dir/registry
			http:
			  addr: 127.0.0.1:$port
		CONF
		"$TOOLS/docker-registry" serve "$dir/registry.yml" >>"$dir/registry.log" 2>&1 </dev/null 3>&- &
		echo $! >"$dir/registry.pid"
		for ((i = 0; i < 100; i++)); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
				registry=127.0.0.1:$port
				return 0
			fi
			kill -0 "$(cat "$dir/registry.pid")" 2>/dev/null || break
			sleep 0.1
		done
		stop_pid "$dir/registry.pid" registry
	done
	die "no registry answered on 127.0.0.1 after 5 tries: $(tail -n 3 "$dir/registry.log")"
}

# write_configs NAME=BINARY...: the registry host config, the CNI network, containerd's config
# with a handler per runtime, crictl's config.
write_configs() {
	local rt
	mkdir -p "$dir/certs.d/nebulon.test" "$dir/net.d" "$dir/ipam"
	cat >"$dir/certs.d/nebulon.test/hosts.toml" <<-CONF
		server = "http://$registry"
		[host."http://$registry"]
		  capabilities = ["pull", "resolve"]
	CONF
	# A bridge without a gateway address: pods reach each other, nothing is routed or
	# masqueraded, and the host's ip_forward is left alone.
	cat >"$dir/net.d/10-nbcri.conflist" <<-CONF
		{
		  "cniVersion": "1.0.0",
		  "name": "nbcri",
		  "plugins": [
		    {"type": "bridge", "bridge": "$CNI_BRIDGE", "isGateway": false, "ipMasq": false,
		     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$CNI_SUBNET"}]], "dataDir": "$dir/ipam"}},
		    {"type": "portmap", "capabilities": {"portMappings": true}}
		  ]
		}
	CONF
	# This sandbox lacks CAP_SYS_RESOURCE: restrict_oom_score_adj keeps containerd from asking
	# for an oom_score_adj below its own (runc fails the same way without it). The network
	# namespaces are kept under the state dir and NRI is off: nothing of containerd's lives
	# outside $dir but the shims' sockets.
	{
		cat <<-CONF
			version = 3
			root = "$dir/root"
			state = "$dir/state"
			disabled_plugins = ["io.containerd.nri.v1.nri"]
			[grpc]
			  address = "$dir/containerd.sock"
			[ttrpc]
			  address = "$dir/containerd.sock.ttrpc"
			[plugins."io.containerd.internal.v1.opt"]
			  path = "$dir/opt"
			[plugins."io.containerd.cri.v1.images"]
			  snapshotter = "overlayfs"
			  [plugins."io.containerd.cri.v1.images".pinned_images]
			    sandbox = "$PAUSE_IMAGE"
			  [plugins."io.containerd.cri.v1.images".registry]
			    config_path = "$dir/certs.d"
			[plugins."io.containerd.cri.v1.runtime"]
			  restrict_oom_score_adj = true
			  netns_mounts_under_state_dir = true
			  [plugins."io.containerd.cri.v1.runtime".cni]
			    bin_dirs = ["/usr/lib/cni"]
			    conf_dir = "$dir/net.d"
			  [plugins."io.containerd.cri.v1.runtime".containerd]
			    default_runtime_name = "${1%%=*}"
		CONF
		for rt in "$@"; do
			cat <<-CONF
				    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.${rt%%=*}]
				      runtime_type = "io.containerd.runc.v2"
				      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.${rt%%=*}.options]
				        BinaryName = "$(handler "${rt%%=*}" "${rt#*=}")"
				        Root = "$dir/rt-${rt%%=*}"
				        SystemdCgroup = $systemd_cgroup
			CONF
		done
	} >"$dir/containerd.toml"
	cat >"$dir/crictl.yaml" <<-CONF
		runtime-endpoint: unix://$dir/containerd.sock
		image-endpoint: unix://$dir/containerd.sock
		timeout: 30
	CONF
}

# handler NAME BINARY: the script containerd's shim runs as runtime NAME, printed as its path.
# containerd 2.4 writes ociVersion 1.3.0, and a runtime that implements an older spec, such as
# Debian's crun 1.8.1, refuses it ("unknown version specified"): the script writes the version
# the runtime's --version gives into the bundle's config.json at create, then runs it. Every
# runtime gets the same script (for one that implements 1.3.0 the edit changes nothing), so a
# benchmark charges them all alike for it.
handler() {
	local spec
	spec=$("$2" --version 2>/dev/null | sed -n 's/^spec: \([0-9][0-9.]*\).*/\1/p')
	[ -n "$spec" ] || spec=1.3.0
	cat >"$dir/handler-$1" <<-SCRIPT
		#!/bin/sh
		prev=
		for a; do
		    [ "\$prev" = --bundle ] && sed -i 's/"ociVersion":"[^"]*"/"ociVersion":"$spec"/' "\$a/config.json"
		    prev=\$a
		done
		exec "$2" "\$@"
	SCRIPT
	chmod 755 "$dir/handler-$1"
	echo "$dir/handler-$1"
}

start_containerd() {
	local i
	# The shim is found in PATH, next to containerd.
	PATH="$TOOLS:$PATH" "$TOOLS/containerd" --config "$dir/containerd.toml" >>"$dir/containerd.log" 2>&1 </dev/null 3>&- &
	echo $! >"$dir/containerd.pid"
	for ((i = 0; i < 150; i++)); do
		if "$TOOLS/ctr" -a "$dir/containerd.sock" version >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	die "containerd did not answer on $dir/containerd.sock within 15 s: $(tail -n 3 "$dir/containerd.log")"
}

# push_image NAME CONFIG: builds the busybox-static image with that image config and pushes it
# to the registry through a containerd namespace of its own, which is emptied after.
push_image() {
	local name=$1 ctr=("$TOOLS/ctr" -a "$dir/containerd.sock" -n nbcri-push)
	"$here/../engines/mkimage.sh" oci "$dir/image.tar" "$name" "$2"
	"${ctr[@]}" images import "$dir/image.tar" >/dev/null
	"${ctr[@]}" images push --plain-http "$registry/${name#nebulon.test/}" "$name" >/dev/null
	"${ctr[@]}" images rm "$name" >/dev/null
	rm -f "$dir/image.tar"
}

start() {
	(($# > 0)) || die "start: name at least one runtime, as NAME=BINARY"
	[ "$(id -u)" -eq 0 ] || die "start: needs root"
	TOOLS=${CRI_TOOLS:-$("$here/tools.sh")}
	mkdir -p "$dir"
	# What the shims and pods make outside $dir, removed by stop if it is ours.
	[ -e /run/containerd ] && touch "$dir/had-run-containerd"
	[ -n "$(find /sys/fs/cgroup -maxdepth 2 -type d -name "$POD_CGROUP")" ] && touch "$dir/had-cgroup"
	ip link show "$CNI_BRIDGE" >/dev/null 2>&1 && touch "$dir/had-bridge"
	start_registry
	write_configs "$@"
	cat >"$dir/env" <<-ENV
		TOOLS=$TOOLS
		REGISTRY=$registry
		IMAGE=$IMAGE
		PAUSE_IMAGE=$PAUSE_IMAGE
		POD_CGROUP=$POD_CGROUP
		POD_CGROUP_PARENT=$POD_CGROUP_PARENT
		CNI_BRIDGE=$CNI_BRIDGE
		CNI_SUBNET=$CNI_SUBNET
	ENV
	start_containerd
	push_image "$PAUSE_IMAGE" \
		'{"Entrypoint":["/bin/sh","-c","trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait; done"],"Env":["PATH=/bin"]}'
	push_image "$IMAGE" '{"Cmd":["sh"],"Env":["PATH=/bin"]}'
	crictl_ pull "$PAUSE_IMAGE" >/dev/null
	crictl_ pull "$IMAGE" >/dev/null
}

stop() {
	local p m cg
	[ -d "$dir" ] || return 0
	TOOLS=$(sed -n 's/^TOOLS=//p' "$dir/env" 2>/dev/null || true)
	if [ -n "$TOOLS" ] && [ -f "$dir/containerd.pid" ]; then
		for p in $(crictl_ pods -q 2>/dev/null || true); do
			crictl_ stopp "$p" >/dev/null 2>&1 || true
			crictl_ rmp -f "$p" >/dev/null 2>&1 || true
		done
	fi
	stop_pid "$dir/containerd.pid" containerd
	stop_pid "$dir/registry.pid" registry
	{ grep -F " $dir" /proc/self/mountinfo || true; } | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
	[ -e "$dir/had-bridge" ] || ip link del "$CNI_BRIDGE" 2>/dev/null || true
	[ -e "$dir/had-run-containerd" ] || rm -rf /run/containerd
	if [ ! -e "$dir/had-cgroup" ]; then
		[ "$systemd_cgroup" = false ] || systemctl stop "$POD_CGROUP" 2>/dev/null || true
		find /sys/fs/cgroup -maxdepth 2 -name "$POD_CGROUP" -type d | while read -r cg; do
			find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
		done
	fi
	rm -rf --one-file-system "$dir"
}

cmd=${1:-}
dir=${2:-}
[ -n "$dir" ] || die "usage: $0 start DIR NAME=BINARY... | containerd DIR | stop DIR"
shift 2
case $cmd in
start) start "$@" ;;
containerd)
	TOOLS=$(sed -n 's/^TOOLS=//p' "$dir/env")
	stop_pid "$dir/containerd.pid" containerd
	start_containerd
	;;
stop) stop ;;
*) die "usage: $0 start DIR NAME=BINARY... | containerd DIR | stop DIR" ;;
esac
