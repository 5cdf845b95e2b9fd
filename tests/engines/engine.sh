#!/usr/bin/env bash
# The engines' private setups, shared by tests/engines and make bench.
#   tests/engines/engine.sh podman-conf FILE [NAME=RUNTIME...]
#       writes a containers.conf for this kind of machine, with the runtimes given
#   tests/engines/engine.sh containerd-start DIR
#       starts containerd with its root, state and socket (DIR/containerd.sock) in DIR, waits
#       until it answers, and prints its pid; its output goes to DIR/containerd.log
set -euo pipefail

podman_conf() {
	local file=$1 rt
	shift
	# This sandbox lacks CAP_SYS_RESOURCE, so podman's default rlimits (nofile and nproc
	# 1048576, above the host's hard limits) fail on every runtime; no network backend runs here.
	# conmon passes --log FILE --log-format json only to the runtimes in runtime_supports_json,
	# and then shows the log's msg.
	{
		cat <<-CONF
			[containers]
			default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
			netns = "none"
			[engine]
			cgroup_manager = "cgroupfs"
			events_logger = "file"
			runtime_supports_json = ["crun", "runc", "nebulon"]
			[engine.runtimes]
		CONF
		for rt in "$@"; do
			printf '%s = ["%s"]\n' "${rt%%=*}" "${rt#*=}"
		done
	} >"$file"
}

containerd_start() {
	local dir=$1 i
	mkdir -p "$dir"
	cat >"$dir/config.toml" <<-CONF
		version = 2
		root = "$dir/root"
		state = "$dir/state"
		disabled_plugins = ["io.containerd.grpc.v1.cri"]
		[grpc]
		  address = "$dir/containerd.sock"
		[ttrpc]
		  address = "$dir/containerd.sock.ttrpc"
	CONF
	containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 </dev/null 3>&- &
	local pid=$!
	for ((i = 0; i < 100; i++)); do
		if ctr -a "$dir/containerd.sock" version >/dev/null 2>&1; then
			echo "$pid"
			return 0
		fi
		sleep 0.1
	done
	kill "$pid" 2>/dev/null || true
	echo "containerd did not answer on $dir/containerd.sock within 10s: $(tail -n 3 "$dir/containerd.log")" >&2
	return 1
}

case "${1:-}" in
podman-conf) shift && podman_conf "$@" ;;
containerd-start) containerd_start "$2" ;;
*)
	echo "usage: $0 podman-conf FILE [NAME=RUNTIME...] | containerd-start DIR" >&2
	exit 2
	;;
esac
