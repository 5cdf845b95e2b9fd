# Shared by tests/bench/bench.sh and tests/bench/breakdown.sh (sourced): the wrapper every
# runtime runs through, the busybox bundle, the runtimes found, statistics.
# shellcheck shell=bash
# The sourcing script sets $work, its temp dir, before it calls add_runtime.

# The runtimes add_runtime found, and each one's binary, state root and wrapper script.
runtimes=()
declare -gA rt_path=() rt_root=() rt_wrap=() rt_version=()

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
	# shellcheck disable=SC2154 # $work is the sourcing script's
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
	# shellcheck disable=SC2034 # bench.sh reports it
	rt_version[$name]=$("$path" --version 2>/dev/null | head -n1 | awk '{ print $NF }')
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

# wrapper_alone FILE writes the wrapper add_runtime writes, running /bin/true: its own cost, to
# take off the runtimes'.
wrapper_alone() {
	cat >"$1" <<-'WRAP'
		#!/bin/sh
		exec unshare --mount --propagation private sh -c 'umount -l /sys/fs/cgroup/unified; exec "$0" "$@"' /bin/true
	WRAP
	chmod 755 "$1"
}

# perf_counters OUT N CMD...: runs CMD N times under perf stat, which counts every process it
# starts, and writes the means to OUT, one "event value" a line: task-clock (ms of CPU, user
# and system), page-faults, context-switches, and the forks (threads included) and execs.
perf_counters() {
	local out=$1 n=$2
	shift 2
	perf stat -x, -r "$n" -o "$out.raw" \
		-e task-clock,page-faults,context-switches,sched:sched_process_fork,sched:sched_process_exec \
		-- "$@" </dev/null >/dev/null 2>&1 || die "perf stat $* failed: $(tail -n 3 "$out.raw" 2>/dev/null)"
	awk -F, '$3 != "" && $1 ~ /^[0-9.]+$/ { print $3, $1 }' "$out.raw" >"$out"
}

# delete_all PREFIX deletes every container in the runtimes' roots, then the empty cgroups
# named PREFIX* their ids left: what a failed or interrupted sample left behind.
delete_all() {
	local rt id
	for rt in "${runtimes[@]}"; do
		for id in $(oci "$rt" list -q 2>/dev/null); do
			oci "$rt" delete --force "$id" >/dev/null 2>&1 || true
		done
	done
	find /sys/fs/cgroup -depth -type d -name "$1*" -exec rmdir {} + 2>/dev/null || true
}
