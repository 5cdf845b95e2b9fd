#!/usr/bin/env bash
# Times nebulon against runc and crun on one busybox bundle. Usage: tests/bench/bench.sh -h
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
readonly here repo
# shellcheck source=lib.bash
source "$here/lib.bash"

# Scenarios, in the order they run and are reported. A scenario NAME is a function
# scenario_NAME RUNTIME ID, timed as a whole; optional setup_NAME and teardown_NAME (same
# arguments) run around each sample, untimed. A function that returns non-zero fails the
# sample; they run with errexit off (sample runs under '||'), so chain their commands with &&.
# podman_run_rm and ctr_run_rm join when podman and containerd are installed, cri_pod_start and
# cri_exec_sync when tests/cri/tools.sh can make containerd 2 and crictl.
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
  cri_pod_start        a pod started as the kubelet starts one, through containerd 2's CRI
                       with the runtime as a runtime handler: 'crictl runp' (the pause
                       container and its network on a CNI bridge), then 'crictl create' and
                       'crictl start' of one container (sleep); stopped and removed after,
                       untimed (tests/cri/env.sh makes the node, images from a local registry)
  cri_exec_sync        'crictl exec -s CONTAINER /bin/true', an exec probe, into a container
                       of a pod started once per runtime
Each iteration runs every runtime once, in an order that rotates by one each iteration, after
one untimed warm-up round. Prints per scenario and runtime the median and p90 latency in ms
and the ratio of medians to runc's and to crun's. Every runtime runs through the same wrapper,
  unshare --mount --propagation private sh -c 'umount -l /sys/fs/cgroup/unified; exec "\$0" "\$@"' RUNTIME ARGS...
(crun refuses this machine's hybrid cgroup layout otherwise), with its own --root in a temp
dir. A runtime that is not installed is skipped. Must run as root; needs go, jq, unshare, perf,
gnuplot and /bin/busybox from busybox-static (tests/install-deps.sh bench).

With BENCH_LOAD=busy (or both, the default) the scenarios are timed again with one busy
loop per CPU running. Then perf stat measures the CPU time (user and system, of every process)
of a run and an exec per runtime. The report, report.md (Markdown tables) and latency.svg
(gnuplot: each scenario's latency distribution per runtime and load), goes to BENCH_OUT.

Environment:
  BENCH_N     timed iterations (default: 50)
  BENCH_LOAD  idle, busy or both (default: both)
  BENCH_OUT   report directory (default: $repo/bench-report)
  NEBULON     nebulon binary (default: $repo/bin/nebulon)
EOF
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

# crictl_ ARGS...: crictl on the bench's CRI node.
crictl_() {
	"$cri_tools/crictl" --config "$work/cri/crictl.yaml" "$@"
}

# cri_configs NAME: the configs of pod NAME, and of its one container running sleep.
cri_configs() {
	jq -n --arg n "$1" --arg cg "$cri_pod_cgroup" \
		'{metadata: {name: $n, namespace: "bench", uid: $n}, linux: {cgroup_parent: $cg}}' >"$work/cri/$1.pod.json" &&
		jq -n --arg img "$cri_image" '{metadata: {name: "c"}, image: {image: $img}, command: ["sleep", "1000"], linux: {}}' \
			>"$work/cri/$1.ctr.json"
}

# cri_pod RUNTIME NAME starts pod NAME (cri_configs) and its container; sets $cri_ctr to the
# container's id.
cri_pod() {
	local pod
	pod=$(crictl_ runp --runtime "$1" "$work/cri/$2.pod.json") &&
		cri_ctr=$(crictl_ create "$pod" "$work/cri/$2.ctr.json" "$work/cri/$2.pod.json") &&
		crictl_ start "$cri_ctr" >/dev/null
}

# cri_rmp NAME stops and removes pod NAME.
cri_rmp() {
	local pod
	pod=$(crictl_ pods --name "^$1\$" -q) && [[ -n $pod ]] &&
		crictl_ stopp "$pod" >/dev/null && crictl_ rmp "$pod" >/dev/null
}

setup_cri_pod_start() {
	cri_configs "$2"
}

scenario_cri_pod_start() {
	cri_pod "$1" "$2"
}

teardown_cri_pod_start() {
	cri_rmp "$2"
}

# The exec scenario's pod, one per runtime, started at its first sample and removed by cleanup.
setup_cri_exec_sync() {
	[[ -n ${cri_exec_ctr[$1]:-} ]] && return 0
	cri_configs "nebulon-bench-cri-exec-$1" && cri_pod "$1" "nebulon-bench-cri-exec-$1" &&
		cri_exec_ctr[$1]=$cri_ctr
}

scenario_cri_exec_sync() {
	crictl_ exec -s "${cri_exec_ctr[$1]}" /bin/true
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
	local handlers=() rt
	if cri_tools=$("$repo/tests/cri/tools.sh"); then
		for rt in "${runtimes[@]}"; do
			handlers+=("$rt=${rt_wrap[$rt]}")
		done
		cri_started=1
		CRI_TOOLS=$cri_tools "$repo/tests/cri/env.sh" start "$work/cri" "${handlers[@]}"
		cri_image=$(sed -n 's/^IMAGE=//p' "$work/cri/env")
		cri_pod_cgroup=$(sed -n 's/^POD_CGROUP_PARENT=//p' "$work/cri/env")
		declare -gA cri_exec_ctr=()
		scenarios+=(cri_pod_start cri_exec_sync)
		echo "containerd (CRI): $("$cri_tools/containerd" --version), crictl $("$cri_tools/crictl" --version | awk '{print $NF}')"
	else
		echo "bench: skipping cri_pod_start and cri_exec_sync: tests/cri/tools.sh could not make containerd 2 and crictl"
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

# report_md prints the report in Markdown: per load and scenario the median and p90 latency,
# with the ratios of medians to runc's and crun's; then the CPU time per sample.
report_md() {
	local load s rt
	local -A median p90
	echo "# nebulon, runc and crun, side by side"
	echo
	echo "Machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC')."
	echo "Runtimes: $(for rt in "${runtimes[@]}"; do printf '%s %s; ' "$rt" "${rt_version[$rt]}"; done)"
	echo "Each latency is the median or p90 of $n interleaved samples; 'busy' runs $(nproc) busy loops, one per CPU, meanwhile."
	for load in "${loads[@]}"; do
		for s in "${scenarios[@]}"; do
			median=() p90=()
			for rt in "${runtimes[@]}"; do
				if [[ ! -e $work/failed.$load.$s.$rt ]]; then
					read -r "median[$rt]" "p90[$rt]" < <(stats "$work/samples.$load.$s.$rt")
				fi
			done
			echo
			echo "## $s, $load machine (ms)"
			echo
			echo "| runtime | median | p90 | vs runc | vs crun |"
			echo "|---|---|---|---|---|"
			for rt in "${runtimes[@]}"; do
				if [[ -e $work/failed.$load.$s.$rt ]]; then
					echo "| $rt | FAILED: $(<"$work/failed.$load.$s.$rt") | | | |"
				else
					echo "| $rt | ${median[$rt]} | ${p90[$rt]} | $(ratio "${median[$rt]}" "${median[runc]:-}") | $(ratio "${median[$rt]}" "${median[crun]:-}") |"
				fi
			done
		done
	done
	echo
	echo "## CPU time per sample, idle machine (ms)"
	echo
	echo "User and system time of every process the command starts, the container's /bin/true"
	echo "included (perf stat task-clock, mean of $n, the wrapper's own time taken off)."
	echo
	echo "| runtime | run | exec | run vs crun | exec vs crun |"
	echo "|---|---|---|---|---|"
	local -A cpu
	for rt in "${runtimes[@]}"; do
		for s in run exec; do
			cpu[$rt.$s]=$(cpu_ms "$rt" "$s")
		done
	done
	for rt in "${runtimes[@]}"; do
		echo "| $rt | ${cpu[$rt.run]} | ${cpu[$rt.exec]} | $(ratio "${cpu[$rt.run]}" "${cpu[crun.run]:-}") | $(ratio "${cpu[$rt.exec]}" "${cpu[crun.exec]:-}") |"
	done
}

# cpu_ms RUNTIME SCENARIO prints the task-clock ms of one sample, the wrapper's taken off.
cpu_ms() {
	awk '$1 == "task-clock" { v = $2 } END { printf "%.2f", v - w }' \
		w="$(awk '$1 == "task-clock" { print $2 }' "$work/perf.wrapper.$2")" "$work/perf.$1.$2"
}

# measure_cpu: perf stat over $n samples of run and exec for each runtime, and of the wrapper
# alone (perf_counters in lib.bash).
measure_cpu() {
	local rt s
	for s in run exec; do
		perf_counters "$work/perf.wrapper.$s" "$n" "$work/wrap-true"
		for rt in "${runtimes[@]}"; do
			if [[ $s == exec ]]; then
				oci "$rt" run --detach --bundle "$sleep_bundle" "nebulon-bench-cpu-$rt" </dev/null >/dev/null 2>&1
				perf_counters "$work/perf.$rt.$s" "$n" "${rt_wrap[$rt]}" --root "${rt_root[$rt]}" exec "nebulon-bench-cpu-$rt" /bin/true
				oci "$rt" delete --force "nebulon-bench-cpu-$rt" >/dev/null
			else
				perf_counters "$work/perf.$rt.$s" "$n" "${rt_wrap[$rt]}" --root "${rt_root[$rt]}" run --bundle "$bundle" "nebulon-bench-cpu-$rt"
			fi
		done
	done
}

# plot DIR writes DIR/latency.svg and DIR/latency.png: per scenario, the distribution
# (cumulative) of each runtime's latencies, idle (solid) and busy (dashed).
plot() {
	local dir=$1 s rt load i=0 cmd="" term
	local -a colors=("#1f77b4" "#d62728" "#2ca02c" "#9467bd")
	for s in "${scenarios[@]}"; do
		for rt in "${runtimes[@]}"; do
			for load in "${loads[@]}"; do
				[[ -e $work/samples.$load.$s.$rt ]] || continue
				sort -n "$work/samples.$load.$s.$rt" | awk '{ v[NR] = $1 } END { for (i = 1; i <= NR; i++) print v[i] / 1e6, i / NR }' >"$work/cdf.$load.$s.$rt"
			done
		done
	done
	local height=$((320 * ((${#scenarios[@]} + 1) / 2))) ext
	for ext in svg png; do
		case $ext in
		svg) term="svg size 1200,$height dynamic font 'sans,11'" ;;
		png) term="pngcairo size 1200,$height font 'sans,10'" ;;
		esac
		{
			echo "set terminal $term"
			echo "set termoption noenhanced"
			echo "set output '$dir/latency.$ext'"
			echo "set multiplot layout $(((${#scenarios[@]} + 1) / 2)),2"
			echo "set key bottom right"
			echo "set grid"
			echo "set xlabel 'ms'"
			echo "set ylabel 'fraction of samples'"
			echo "set yrange [0:1]"
			for s in "${scenarios[@]}"; do
				cmd=""
				i=0
				for rt in "${runtimes[@]}"; do
					for load in "${loads[@]}"; do
						[[ -e $work/cdf.$load.$s.$rt ]] || continue
						cmd+="${cmd:+, }'$work/cdf.$load.$s.$rt' using 1:2 with steps lw 2 lc rgb '${colors[i]}' dt $([[ $load == idle ]] && echo 1 || echo 2) title '$rt $load'"
					done
					i=$((i + 1))
				done
				echo "set title '$s'"
				echo "plot $cmd"
			done
			echo "unset multiplot"
		} >"$work/plot.gp"
		gnuplot "$work/plot.gp"
	done
}

# cleanup deletes what a failed or interrupted sample left: containers in the runtimes' roots,
# then empty cgroups named after the samples' ids, then the temp dir.
cleanup() {
	delete_all nebulon-bench-
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
	[[ -z ${cri_started:-} ]] || "$repo/tests/cri/env.sh" stop "$work/cri" || true
	{ grep -F " $work" /proc/self/mountinfo || true; } | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
	if [[ -n ${clock_PID:-} ]]; then
		kill "$clock_PID" 2>/dev/null || true
	fi
	rm -rf --one-file-system "$work"
}

# busy_start starts one busy loop per CPU; busy_stop ends them, by pid.
busy_start() {
	local c
	busy_pids=()
	for ((c = 0; c < $(nproc); c++)); do
		sh -c 'while :; do :; done' </dev/null >/dev/null 2>&1 &
		busy_pids+=($!)
	done
}

busy_stop() {
	((${#busy_pids[@]})) || return 0
	kill "${busy_pids[@]}" 2>/dev/null || true
	wait "${busy_pids[@]}" 2>/dev/null || true
	busy_pids=()
}

# time_all LOAD times every scenario, every runtime interleaved, into $work/samples.LOAD.*.
time_all() {
	local load=$1 s i j k rt id rc
	k=${#runtimes[@]}
	for s in "${scenarios[@]}"; do
		echo "timing $s, $load machine..." >&2
		for ((i = 0; i <= n; i++)); do
			for ((j = 0; j < k; j++)); do
				rt=${runtimes[(i + j) % k]}
				[[ -e $work/failed.$load.$s.$rt ]] && continue
				id=nebulon-bench-$rt-$s-$i
				rc=0
				sample "$s" "$rt" "$id" || rc=$?
				if ((rc != 0)); then
					echo "exit status $rc: $(tail -n 3 "$work/sample.log" | tr '\n' ' ')" >"$work/failed.$load.$s.$rt"
					oci "$rt" delete --force "$id" >/dev/null 2>&1 || true
					continue
				fi
				# Iteration 0 is the warm-up round.
				((i == 0)) || echo "$elapsed" >>"$work/samples.$load.$s.$rt"
			done
		done
	done
}

main() {
	local i load out
	if [[ ${1:-} == -h || ${1:-} == --help ]]; then
		usage
		return 0
	fi
	(($# == 0)) || die "unexpected arguments: $* (see -h)"
	((EUID == 0)) || die "must run as root"
	for i in go jq unshare perf gnuplot; do
		command -v "$i" >/dev/null || die "'$i' is needed (tests/install-deps.sh bench)"
	done
	# ldd fails on a static binary.
	if [[ ! -x /bin/busybox ]] || ldd /bin/busybox >/dev/null 2>&1; then
		die "/bin/busybox must be busybox-static (apt-get install busybox-static)"
	fi
	n=${BENCH_N:-50}
	[[ $n =~ ^[1-9][0-9]*$ ]] || die "BENCH_N must be a positive integer, not '$n'"
	case ${BENCH_LOAD:-both} in
	idle | busy) loads=("$BENCH_LOAD") ;;
	both) loads=(idle busy) ;;
	*) die "BENCH_LOAD must be idle, busy or both, not '$BENCH_LOAD'" ;;
	esac
	out=${BENCH_OUT:-$repo/bench-report}
	mkdir -p "$out" || die "cannot make the report directory $out"

	work=$(mktemp -d /tmp/nebulon-bench.XXXXXX)
	busy_pids=()
	trap 'busy_stop; cleanup' EXIT
	add_runtime nebulon "${NEBULON:-$repo/bin/nebulon}"
	add_runtime runc "$(type -P runc || true)"
	add_runtime crun "$(type -P crun || true)"
	((${#runtimes[@]})) || die "no runtime to time"
	wrapper_alone "$work/wrap-true"
	bundle=$work/bundle
	make_bundle "$bundle"
	setup_engines
	(cd "$repo" && go build -o "$work/monoclock" ./tests/bench/monoclock)
	coproc clock { exec "$work/monoclock"; }

	for load in "${loads[@]}"; do
		[[ $load == busy ]] && busy_start
		time_all "$load"
		busy_stop
	done
	echo "measuring CPU time..." >&2
	measure_cpu
	report_md >"$out/report.md"
	plot "$out"
	cat "$out/report.md"
	echo
	echo "report: $out/report.md, plot: $out/latency.svg and latency.png"
	! compgen -G "$work/failed.*" >/dev/null
}

main "$@"
