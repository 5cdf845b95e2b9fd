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
           MemAvailable before less after, per container, the Pss of their processes, the
           kernel's share by kind (/proc/meminfo) and the slab caches that grew most
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

# meminfo_kib FILE: the /proc/meminfo fields of the memory breakdown, "NAME KIB" per line.
meminfo_kib() {
	awk '$1 ~ /^(MemAvailable|Shmem|Slab|SUnreclaim|KernelStack|PageTables|Percpu):$/ { sub(":", "", $1); print $1, $2 }' /proc/meminfo >"$1"
}

# slab_kib FILE: each slab cache's memory, "NAME KIB" per line (objects times their size).
slab_kib() {
	awk 'NR > 2 { printf "%s %d\n", $1, $3 * $4 / 1024 }' /proc/slabinfo >"$1"
}

# per_ct BEFORE AFTER NAME: how much NAME grew from BEFORE to AFTER, per container (KiB).
per_ct() {
	awk -v n="$3" -v p="$parallel" '$1 == n { v[FILENAME == ARGV[1]] = $2 } END { printf "%d", (v[0] - v[1]) / p }' "$1" "$2"
}

scale_memory() {
	local rt pss pid f slabs=""
	echo
	echo "## host memory per created container, $parallel created at once (KiB)"
	echo
	echo "MemAvailable drop, the Pss of the containers' processes, and the kernel's share by kind:"
	echo "files on tmpfs (state dirs), slab, of which unreclaimable, kernel stacks, page tables,"
	echo "per-CPU areas (memory cgroups). The slab caches that grew most follow."
	echo
	echo "| runtime | MemAvailable drop | Pss | Shmem | Slab | SUnreclaim | KernelStack | PageTables | Percpu |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for rt in "${runtimes[@]}"; do
		echo "creating $parallel containers on $rt at once..." >&2
		sync
		echo 3 >/proc/sys/vm/drop_caches
		sleep 1
		meminfo_kib "$work/mem.before"
		slab_kib "$work/slab.before"
		seq "$parallel" | xargs -P "$parallel" -I{} "${rt_wrap[$rt]}" --root "${rt_root[$rt]}" \
			create --bundle "$sleep_bundle" "nebulon-scale-p-$rt-{}" >/dev/null 2>"$work/parallel.log" ||
			die "$rt: a parallel create failed: $(sort "$work/parallel.log" | uniq -c | head -n 5)"
		sleep 1
		meminfo_kib "$work/mem.after"
		slab_kib "$work/slab.after"
		pss=0
		for pid in $(oci "$rt" list --format json | jq -r '.[] | select(.id | startswith("nebulon-scale-p-")) | .pid'); do
			pss=$((pss + $(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup")))
		done
		printf '| %s | %d | %d' "$rt" "$(per_ct "$work/mem.after" "$work/mem.before" MemAvailable)" $((pss / parallel))
		for f in Shmem Slab SUnreclaim KernelStack PageTables Percpu; do
			printf ' | %d' "$(per_ct "$work/mem.before" "$work/mem.after" "$f")"
		done
		echo " |"
		slabs+="$rt: $(join -j 1 <(sort "$work/slab.before") <(sort "$work/slab.after") |
			awk -v p="$parallel" '{ d = ($3 - $2) / p; if (d >= 1) printf "%s %.1f\n", $1, d }' |
			sort -k2 -g -r | head -n 6 | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }')"$'\n'
		seq "$parallel" | xargs -P 8 -I{} "${rt_wrap[$rt]}" --root "${rt_root[$rt]}" \
			delete --force "nebulon-scale-p-$rt-{}" >/dev/null 2>&1
	done
	echo
	echo "Slab caches that grew the most, KiB per container:"
	echo
	while read -r f; do echo "- $f"; done <<<"${slabs%$'\n'}"
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
