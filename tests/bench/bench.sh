#!/usr/bin/env bash
# Times nebulon against runc and crun on one busybox bundle. Usage: tests/bench/bench.sh -h
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
readonly here repo

# Scenarios, in the order they run and are reported. A scenario NAME is a function
# scenario_NAME RUNTIME ID, timed as a whole; optional setup_NAME and teardown_NAME (same
# arguments) run around each sample, untimed. A function that returns non-zero fails the
# sample; they run with errexit off (sample runs under '||'), so chain their commands with &&.
# podman_run_rm and ctr_run_rm join when podman and containerd are installed.
scenarios=(run create_start_delete exec)

usage() {
	cat <<EOF
usage: tests/bench/bench.sh [-h]

Times nebulon, runc and crun side by side on the same busybox-static bundle running /bin/true:
  run                  'run ID' (it waits for the process and deletes the container)
  create_start_delete  'create', 'start', then 'delete --force' (kills the container if
                       /bin/true still runs, deletes it either way: no polling, the same
                       three commands for every runtime)
  exec                 'exec ID /bin/true' into a running container (sleep), as exec probes
                       do; the container is started before and deleted after, untimed
  podman_run_rm        'podman run --rm IMAGE /bin/true' with the runtime as podman's OCI
                       runtime (cgroupfs, no network, private storage)
  ctr_run_rm           'ctr run --rm --runc-binary RUNTIME IMAGE ID /bin/true' against a
                       containerd the bench starts on a private socket
Each iteration runs every runtime once, in an order that rotates by one each iteration, after
one untimed warm-up round. Prints per scenario and runtime the median and p90 latency in ms
and the ratio of medians to runc's and to crun's. Every runtime runs through the same wrapper,
  unshare --mount --propagation private sh -c 'umount -l /sys/fs/cgroup/unified; exec "\$0" "\$@"' RUNTIME ARGS...
(crun refuses this machine's hybrid cgroup layout otherwise), with its own --root in a temp
dir. A runtime that is not installed is skipped. Must run as root; needs go, jq, unshare and
/bin/busybox from busybox-static.

Environment:
  BENCH_N   timed iterations (default: 50)
  NEBULON   nebulon binary (default: $repo/bin/nebulon)
EOF
}

die() {
	echo "bench: $*" >&2
	exit 2
}

# oci RUNTIME ARGS... runs the runtime through the wrapper, with its own state root.
oci() {
	local rt=$1
	shift
	# shellcheck disable=SC2016 # $0 and $@ are the inner sh's: the runtime and its arguments
	unshare --mount --propagation private \
		sh -c 'umount -l /sys/fs/cgroup/unified; exec "$0" "$@"' "${rt_path[$rt]}" --root "${rt_root[$rt]}" "$@"
}

scenario_run() {
	oci "$1" run --bundle "$bundle" "$2"
}

# teardown_run fails the sample when 'run' left the container behind (runc's deletes it).
teardown_run() {
	if oci "$1" state "$2" >/dev/null 2>&1; then
		echo "'run' left container $2 behind"
		return 1
	fi
}

scenario_create_start_delete() {
	oci "$1" create --bundle "$bundle" "$2" &&
		oci "$1" start "$2" &&
		oci "$1" delete --force "$2"
}

# now sets $now to the monotonic clock in ns, read from the monoclock coprocess (no fork).
setup_exec() {
	oci "$1" run --detach --bundle "$sleep_bundle" "$2"
}

scenario_exec() {
	oci "$1" exec "$2" /bin/true
}

teardown_exec() {
	oci "$1" delete --force "$2"
}

scenario_podman_run_rm() {
	CONTAINERS_CONF=$work/containers.conf podman --root "$work/pm/storage" --runroot "$work/pm/run" \
		--runtime "${rt_wrap[$1]}" run --rm localhost/bench:latest /bin/true
}

scenario_ctr_run_rm() {
	ctr -a "$work/ctd/containerd.sock" -n bench run --rm --runc-binary "${rt_wrap[$1]}" \
		--runc-root "${rt_root[$1]}-ctr" --fifo-dir "$work/ctd/fifo" localhost/bench:latest "$2" /bin/true
}

# setup_engines adds the engine scenarios for the engines that are installed: podman with
# private storage and the image imported; containerd started on a private socket and root.
setup_engines() {
	if type -P podman >/dev/null; then
		"$repo/tests/engines/engine.sh" podman-conf "$work/containers.conf"
		"$repo/tests/engines/mkimage.sh" rootfs "$work/image.tar"
		CONTAINERS_CONF=$work/containers.conf podman --root "$work/pm/storage" --runroot "$work/pm/run" \
			import "$work/image.tar" localhost/bench:latest >/dev/null
		scenarios+=(podman_run_rm)
		echo "podman: $(podman --version)"
	else
		echo "bench: skipping podman_run_rm: podman is not installed"
	fi
	if type -P containerd >/dev/null && type -P ctr >/dev/null; then
		[[ -e /run/containerd ]] || had_no_run_containerd=1
		containerd_pid=$("$repo/tests/engines/engine.sh" containerd-start "$work/ctd")
		"$repo/tests/engines/mkimage.sh" oci "$work/image-oci.tar" localhost/bench:latest
		ctr -a "$work/ctd/containerd.sock" -n bench image import "$work/image-oci.tar" >/dev/null
		scenarios+=(ctr_run_rm)
		echo "containerd: $(containerd --version)"
	else
		echo "bench: skipping ctr_run_rm: containerd is not installed"
	fi
}

now() {
	echo >&"${clock[1]}"
	read -r now <&"${clock[0]}"
}

# sample SCENARIO RUNTIME ID runs one sample and sets $elapsed (ns). The runtimes' output goes
# to $work/sample.log, shown when the sample fails.
sample() {
	local s=$1 rt=$2 id=$3 t0
	{
		if declare -F "setup_$s" >/dev/null; then
			"setup_$s" "$rt" "$id" || return
		fi
		now
		t0=$now
		"scenario_$s" "$rt" "$id" || return
		now
		elapsed=$((now - t0))
		if declare -F "teardown_$s" >/dev/null; then
			"teardown_$s" "$rt" "$id" || return
		fi
	} </dev/null >"$work/sample.log" 2>&1
}

# make_bundle DIR makes an OCI bundle whose rootfs is busybox-static with its applets as
# symlinks in /bin, and whose config is '$gen spec' running /bin/true without a terminal.
make_bundle() {
	local dir=$1 gen applet
	mkdir -p "$dir/rootfs/bin" "$dir/rootfs/proc" "$dir/rootfs/sys" "$dir/rootfs/dev" "$dir/rootfs/tmp"
	cp /bin/busybox "$dir/rootfs/bin/busybox"
	for applet in $(/bin/busybox --list); do
		[[ -e $dir/rootfs/bin/$applet ]] || ln -s busybox "$dir/rootfs/bin/$applet"
	done
	gen=$(type -P runc || type -P crun) || die "runc or crun is needed to write the bundle's config.json"
	(cd "$dir" && "$gen" spec)
	jq '.process.args = ["/bin/true"] | .process.terminal = false' "$dir/config.json" >"$dir/config.json.new"
	mv "$dir/config.json.new" "$dir/config.json"
	echo "bundle: busybox-static, config from '$gen spec', args [\"/bin/true\"]"
	# The exec scenario's container: the same root, running sleep.
	sleep_bundle=$dir-sleep
	mkdir -p "$sleep_bundle"
	jq --arg root "$dir/rootfs" '.root.path = $root | .process.args = ["sleep", "1000"]' "$dir/config.json" >"$sleep_bundle/config.json"
}

# add_runtime NAME PATH registers a runtime, or says why it is skipped.
add_runtime() {
	local name=$1 path=$2
	if [[ -z $path || ! -x $path ]]; then
		echo "bench: skipping $name: ${path:-$name} is not installed"
		return 0
	fi
	rt_path[$name]=$path
	rt_root[$name]=$work/root-$name
	mkdir -p "${rt_root[$name]}"
	# For the engines: the runtime behind the same wrapper as oci's.
	rt_wrap[$name]=$work/wrap-$name
	cat >"${rt_wrap[$name]}" <<-WRAP
		#!/bin/sh
		exec unshare --mount --propagation private sh -c 'umount -l /sys/fs/cgroup/unified; exec "\$0" "\$@"' "$path" "\$@"
	WRAP
	chmod 755 "${rt_wrap[$name]}"
	runtimes+=("$name")
	echo "$name: $path ($("$path" --version 2>/dev/null | head -n1))"
}

# stats FILE prints "MEDIAN P90" in ms of the ns samples in FILE (p90 by nearest rank).
stats() {
	sort -n "$1" | awk '
		{ v[NR] = $1 }
		END {
			med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			r = int(0.9 * NR); if (r < 0.9 * NR) r++
			printf "%.2f %.2f\n", med / 1e6, v[r] / 1e6
		}'
}

# ratio A B prints A/B as "1.23x", or "-" when B is empty.
ratio() {
	if [[ -z $2 ]]; then
		echo -
	else
		awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx\n", a / b }'
	fi
}

report() {
	local s rt
	local -A median p90
	for s in "${scenarios[@]}"; do
		median=() p90=()
		for rt in "${runtimes[@]}"; do
			if [[ ! -e $work/failed.$s.$rt ]]; then
				read -r "median[$rt]" "p90[$rt]" < <(stats "$work/samples.$s.$rt")
			fi
		done
		echo
		echo "scenario $s: $n iterations, ms"
		printf '%-10s %9s %9s %9s %9s\n' runtime median p90 'vs runc' 'vs crun'
		for rt in "${runtimes[@]}"; do
			if [[ -e $work/failed.$s.$rt ]]; then
				printf '%-10s %s\n' "$rt" "FAILED: $(<"$work/failed.$s.$rt")"
			else
				printf '%-10s %9s %9s %9s %9s\n' "$rt" "${median[$rt]}" "${p90[$rt]}" \
					"$(ratio "${median[$rt]}" "${median[runc]:-}")" "$(ratio "${median[$rt]}" "${median[crun]:-}")"
			fi
		done
	done
}

# cleanup deletes what a failed or interrupted sample left: containers in the runtimes' roots,
# then empty cgroups named after the samples' ids, then the temp dir.
cleanup() {
	local rt id
	for rt in "${runtimes[@]}"; do
		for id in $(oci "$rt" list -q 2>/dev/null); do
			oci "$rt" delete --force "$id" >/dev/null 2>&1 || true
		done
	done
	find /sys/fs/cgroup -depth -type d -name 'nebulon-bench-*' -exec rmdir {} + 2>/dev/null || true
	if [[ -d $work/pm ]]; then
		CONTAINERS_CONF=$work/containers.conf podman --root "$work/pm/storage" --runroot "$work/pm/run" \
			system reset -f >/dev/null 2>&1 || true
		find /sys/fs/cgroup -maxdepth 3 -type d -path '*/libpod_parent/conmon' -exec rmdir {} + 2>/dev/null || true
		find /sys/fs/cgroup -maxdepth 2 -type d -name libpod_parent -exec rmdir {} + 2>/dev/null || true
	fi
	if [[ -n ${containerd_pid:-} ]]; then
		kill "$containerd_pid" 2>/dev/null || true
		# Not our child (engine.sh started it): wait for it by pid.
		for _ in $(seq 50); do kill -0 "$containerd_pid" 2>/dev/null || break; sleep 0.1; done
		find /sys/fs/cgroup -maxdepth 2 -type d -name bench -exec rmdir {} + 2>/dev/null || true
		[[ -z ${had_no_run_containerd:-} ]] || rm -rf /run/containerd
	fi
	{ grep -F " $work" /proc/self/mountinfo || true; } | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
	if [[ -n ${clock_PID:-} ]]; then
		kill "$clock_PID" 2>/dev/null || true
	fi
	rm -rf --one-file-system "$work"
}

main() {
	local s rt i j k id rc
	if [[ ${1:-} == -h || ${1:-} == --help ]]; then
		usage
		return 0
	fi
	(($# == 0)) || die "unexpected arguments: $* (see -h)"
	((EUID == 0)) || die "must run as root"
	for i in go jq unshare; do
		command -v "$i" >/dev/null || die "'$i' is needed"
	done
	# ldd fails on a static binary.
	if [[ ! -x /bin/busybox ]] || ldd /bin/busybox >/dev/null 2>&1; then
		die "/bin/busybox must be busybox-static (apt-get install busybox-static)"
	fi
	n=${BENCH_N:-50}
	[[ $n =~ ^[1-9][0-9]*$ ]] || die "BENCH_N must be a positive integer, not '$n'"

	work=$(mktemp -d /tmp/nebulon-bench.XXXXXX)
	declare -gA rt_path=() rt_root=() rt_wrap=()
	runtimes=()
	trap cleanup EXIT
	add_runtime nebulon "${NEBULON:-$repo/bin/nebulon}"
	add_runtime runc "$(type -P runc || true)"
	add_runtime crun "$(type -P crun || true)"
	((${#runtimes[@]})) || die "no runtime to time"
	bundle=$work/bundle
	make_bundle "$bundle"
	setup_engines
	(cd "$repo" && go build -o "$work/monoclock" ./tests/bench/monoclock)
	coproc clock { exec "$work/monoclock"; }

	k=${#runtimes[@]}
	for s in "${scenarios[@]}"; do
		echo "timing $s..." >&2
		for ((i = 0; i <= n; i++)); do
			for ((j = 0; j < k; j++)); do
				rt=${runtimes[(i + j) % k]}
				[[ -e $work/failed.$s.$rt ]] && continue
				id=nebulon-bench-$rt-$s-$i
				rc=0
				sample "$s" "$rt" "$id" || rc=$?
				if ((rc != 0)); then
					echo "exit status $rc: $(tail -n 3 "$work/sample.log" | tr '\n' ' ')" >"$work/failed.$s.$rt"
					oci "$rt" delete --force "$id" >/dev/null 2>&1 || true
					continue
				fi
				# Iteration 0 is the warm-up round.
				((i == 0)) || echo "$elapsed" >>"$work/samples.$s.$rt"
			done
		done
	done
	report
	! compgen -G "$work/failed.*" >/dev/null
}

main "$@"
