#!/usr/bin/env bash
# Scale figures of nebulon, crun and runc side by side. Usage: tests/bench/scale.sh -h
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
readonly here repo
# shellcheck source=lib.bash
source "$here/lib.bash"

usage() {
	cat <<EOF
usage: tests/bench/scale.sh [-h]

Every runtime through the wrapper of tests/bench/bench.sh, on its busybox bundle:
  mounts   'create' + 'delete --force' (median of BENCH_N) with 50 and with 5000 extra tmpfs
           mounts in the mount table the runtime starts from (a private mount namespace)
  many     SCALE_COUNT containers created (their inits waiting for start), then 'list' and
           'state' of one of them (median of 20 each)
  memory   SCALE_PARALLEL containers created at once, then the host memory they hold:
           MemAvailable before less after, per container, and the Pss of their processes
Prints a Markdown table per figure. Needs root, jq, unshare and busybox-static.

Environment:
  BENCH_N         samples for 'mounts' (default: 20)
  SCALE_COUNT     containers for 'many' (default: 1000)
  SCALE_PARALLEL  containers for 'memory' (default: 100)
  SCALE_ONLY      the figures to make (default: "mounts many memory")
  NEBULON         nebulon binary (default: $repo/bin/nebulon)
EOF
}

cleanup() {
	delete_all nebulon-scale-
	{ grep -F " $work" /proc/self/mountinfo || true; } | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
	rm -rf --one-file-system "$work"
}

now_us() { echo "${EPOCHREALTIME/./}"; }

# median: the median of the numbers on stdin (µs), in ms.
median() {
	sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", ((NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) / 1000 }'
}

# mounts_inner N: run in a private mount namespace by scale_mounts; adds N tmpfs mounts, then
# prints "RUNTIME MEDIAN_MS" of create + delete for each runtime.
mounts_inner() {
	local n=$1 i rt t0
	mount -t tmpfs scale "$work/mnt"
	for ((i = 0; i < n; i++)); do
		mkdir "$work/mnt/$i"
		mount -t tmpfs "scale$i" "$work/mnt/$i"
	done
	for rt in "${runtimes[@]}"; do
		for ((i = 0; i <= samples; i++)); do
			t0=$(now_us)
			oci "$rt" create --bundle "$sleep_bundle" "nebulon-scale-m-$rt" </dev/null >/dev/null 2>&1 ||
				die "$rt create with $n mounts failed"
			oci "$rt" delete --force "nebulon-scale-m-$rt" >/dev/null
			((i == 0)) || echo $(($(now_us) - t0))
		done | median | sed "s/^/$rt /"
		echo
	done
	# The wrapper's own share: its unshare copies the mount table too, twice a sample.
	for ((i = 0; i <= samples; i++)); do
		t0=$(now_us)
		"$work/wrap-true" && "$work/wrap-true"
		((i == 0)) || echo $(($(now_us) - t0))
	done | median | sed "s/^/wrapper /"
	echo
}

scale_mounts() {
	local n rt
	local -A ms
	for n in 50 5000; do
		echo "create + delete with $n extra mounts..." >&2
		while read -r rt v; do ms[$rt.$n]=$v; done < <(
			SCALE_INNER=mounts SCALE_MOUNTS=$n unshare --mount --propagation private "$0"
		)
	done
	echo
	echo "## create + delete --force with the host's mount table grown (ms, median of $samples)"
	echo
	echo "| runtime | 50 mounts | 5000 mounts | ratio |"
	echo "|---|---|---|---|"
	for rt in "${runtimes[@]}"; do
		echo "| $rt | ${ms[$rt.50]} | ${ms[$rt.5000]} | $(ratio "${ms[$rt.5000]}" "${ms[$rt.50]}") |"
	done
	echo "| (the wrapper alone, twice) | ${ms[wrapper.50]} | ${ms[wrapper.5000]} | |"
}

scale_many() {
	local rt i t0 list_ms state_ms
	echo
	echo "## list and state with $count containers created (ms, median of 20)"
	echo
	echo "| runtime | list | state of one | containers listed |"
	echo "|---|---|---|---|"
	for rt in "${runtimes[@]}"; do
		echo "creating $count containers on $rt..." >&2
		for ((i = 0; i < count; i++)); do
			oci "$rt" create --bundle "$sleep_bundle" "nebulon-scale-$rt-$i" </dev/null >/dev/null 2>&1 ||
				die "$rt: create $i of $count failed"
		done
		list_ms=$(for ((i = 0; i < 20; i++)); do
			t0=$(now_us)
			oci "$rt" list >/dev/null
			echo $(($(now_us) - t0))
		done | median)
		state_ms=$(for ((i = 0; i < 20; i++)); do
			t0=$(now_us)
			oci "$rt" state "nebulon-scale-$rt-$((count / 2))" >/dev/null
			echo $(($(now_us) - t0))
		done | median)
		echo "| $rt | $list_ms | $state_ms | $(oci "$rt" list -q | grep -c "^nebulon-scale-$rt-") |"
		echo "deleting them..." >&2
		for ((i = 0; i < count; i++)); do
			oci "$rt" delete --force "nebulon-scale-$rt-$i" >/dev/null
		done
	done
}

avail_kib() { awk '/^MemAvailable:/ { print $2 }' /proc/meminfo; }

scale_memory() {
	local rt before after pss pid
	echo
	echo "## host memory per created container, $parallel created at once (KiB)"
	echo
	echo "| runtime | MemAvailable drop per container | Pss of its processes |"
	echo "|---|---|---|"
	for rt in "${runtimes[@]}"; do
		echo "creating $parallel containers on $rt at once..." >&2
		sync
		echo 3 >/proc/sys/vm/drop_caches
		sleep 1
		before=$(avail_kib)
		seq "$parallel" | xargs -P "$parallel" -I{} "${rt_wrap[$rt]}" --root "${rt_root[$rt]}" \
			create --bundle "$sleep_bundle" "nebulon-scale-p-$rt-{}" >/dev/null 2>"$work/parallel.log" ||
			die "$rt: a parallel create failed: $(sort "$work/parallel.log" | uniq -c | head -n 5)"
		sleep 1
		after=$(avail_kib)
		pss=0
		for pid in $(oci "$rt" list --format json | jq -r '.[] | select(.id | startswith("nebulon-scale-p-")) | .pid'); do
			pss=$((pss + $(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup")))
		done
		echo "| $rt | $(((before - after) / parallel)) | $((pss / parallel)) |"
		seq "$parallel" | xargs -P 8 -I{} "${rt_wrap[$rt]}" --root "${rt_root[$rt]}" \
			delete --force "nebulon-scale-p-$rt-{}" >/dev/null 2>&1
	done
}

main() {
	local s
	if [[ ${1:-} == -h || ${1:-} == --help ]]; then
		usage
		return 0
	fi
	(($# == 0)) || die "unexpected arguments: $* (see -h)"
	((EUID == 0)) || die "must run as root"
	samples=${BENCH_N:-20} count=${SCALE_COUNT:-1000} parallel=${SCALE_PARALLEL:-100}
	for s in "$samples" "$count" "$parallel"; do
		[[ $s =~ ^[1-9][0-9]*$ ]] || die "BENCH_N, SCALE_COUNT and SCALE_PARALLEL must be positive integers, not '$s'"
	done
	if [[ ${SCALE_INNER:-} == mounts ]]; then
		# Re-run in a private mount namespace by scale_mounts, with the parent's temp dir.
		work=$SCALE_WORK
		add_runtimes >/dev/null
		sleep_bundle=$work/bundle-sleep
		mounts_inner "$SCALE_MOUNTS"
		return
	fi
	work=$(mktemp -d /tmp/nebulon-scale.XXXXXX)
	export SCALE_WORK=$work
	trap cleanup EXIT
	add_runtimes
	wrapper_alone "$work/wrap-true"
	mkdir -p "$work/mnt"
	make_bundle "$work/bundle" >/dev/null
	echo "# scale: $(nproc) CPUs, $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC')"
	for s in ${SCALE_ONLY:-mounts many memory}; do
		declare -F "scale_$s" >/dev/null || die "SCALE_ONLY: no figure '$s' (mounts, many, memory)"
		"scale_$s"
	done
}

# add_runtimes registers nebulon, crun and runc (lib.bash's add_runtime).
add_runtimes() {
	add_runtime nebulon "${NEBULON:-$repo/bin/nebulon}"
	add_runtime crun "$(type -P crun || true)"
	add_runtime runc "$(type -P runc || true)"
	((${#runtimes[@]})) || die "no runtime to measure"
}

main "$@"
