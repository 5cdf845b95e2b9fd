#!/usr/bin/env bash
# Where a run and an exec spend their time and CPU: nebulon's own steps, and the cost of every
# runtime's process tree side by side. Usage: tests/bench/breakdown.sh -h
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
readonly here repo
# shellcheck source=lib.bash
source "$here/lib.bash"

usage() {
	cat <<EOF
usage: tests/bench/breakdown.sh [-h]

Two tables per scenario, run ('run ID' of /bin/true) and exec ('exec ID /bin/true' into a
running sleep), on the busybox bundle tests/bench/bench.sh uses, every runtime through its
wrapper (see bench.sh -h):

1. nebulon's steps: the median time from each of its --debug log records to the next, over
   BENCH_N runs: the runtime's own (config, state, cgroups, stage0 and namespaces) and, sent
   by the init, the init's (its Go runtime start, cgroups, mounts, pivot, process setup).
2. The process tree of each runtime, counted by perf stat over BENCH_N runs (means): CPU time
   (task-clock: user and system time of every process, the container's /bin/true included),
   page faults, context switches, processes forked and programs exec'd. The wrapper's own
   cost (unshare, sh, umount, measured alone) is taken off.

Environment:
  BENCH_N   runs per measure (default: 30)
  NEBULON   nebulon binary (default: $repo/bin/nebulon)
Needs root, perf (linux-perf), jq, unshare and busybox-static.
EOF
}

cleanup() {
	delete_all nebulon-bd-
	rm -rf --one-file-system "$work"
}

# scenario_args RUNTIME SCENARIO [FLAGS...]: the runtime's arguments for one sample, global
# FLAGS first.
scenario_args() {
	local rt=$1 s=$2
	shift 2
	case $s in
	run) echo "$@" run --bundle "$bundle" "nebulon-bd-$rt-run" ;;
	exec) echo "$@" exec "nebulon-bd-$rt-exec" /bin/true ;;
	esac
}

# with_container RUNTIME SCENARIO CMD...: runs CMD with the scenario's container in place (the
# running sleep that exec enters), deleted afterwards.
with_container() {
	local rt=$1 s=$2 rc=0
	shift 2
	if [[ $s == exec ]]; then
		oci "$rt" run --detach --bundle "$sleep_bundle" "nebulon-bd-$rt-exec" </dev/null >/dev/null 2>&1
	fi
	"$@" || rc=$?
	if [[ $s == exec ]]; then
		oci "$rt" delete --force "nebulon-bd-$rt-exec" >/dev/null
	fi
	return "$rc"
}

# steps SCENARIO prints nebulon's steps as a Markdown table: its --debug records (the "init:"
# ones are stamped by the init's clock) in time order, each with the median ms since the record
# before it and since the first, over $n runs after one warm-up.
steps() {
	local s=$1 i
	for ((i = 0; i <= n; i++)); do
		rm -f "$work/debug.log"
		# shellcheck disable=SC2046 # scenario_args's words are the arguments
		oci nebulon $(scenario_args nebulon "$s" --debug --log-format json --log "$work/debug.log") </dev/null >/dev/null
		((i == 0)) && continue
		# "ns<TAB>msg", in time order; then "msg<TAB>since the record before<TAB>since the first".
		jq -r 'select(.level == "DEBUG" or .level == "debug") | [.time, .msg] | @tsv' "$work/debug.log" |
			awk -F'\t' '{ split(substr($1, 12), t, ":"); printf "%.0f\t%s\n", (t[1] * 3600 + t[2] * 60 + t[3]) * 1e9, $2 }' |
			sort -n |
			awk -F'\t' 'NR == 1 { first = $1 } NR > 1 { printf "%s\t%d\t%d\n", $2, $1 - prev, $1 - first } { prev = $1 }'
	done >"$work/steps.$s"
	echo
	echo "nebulon $s, step by step (medians of $n runs, ms; the first record is 'nebulon started', after the CLI's own Go start):"
	echo
	echo "| step done | since the step before | since the first record |"
	echo "|---|---|---|"
	awk -F'\t' '
		function median(list,   v, k, i, j, x) {
			k = split(list, v, " ")
			for (i = 2; i <= k; i++) { # insertion sort: mawk has no asort
				x = v[i] + 0
				for (j = i - 1; j >= 1 && v[j] + 0 > x; j--) v[j + 1] = v[j]
				v[j + 1] = x
			}
			return ((k % 2) ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2) / 1e6
		}
		{ d[$1] = d[$1] " " $2; a[$1] = a[$1] " " $3 }
		END { for (m in d) printf "%.2f\t%s\t%.2f\n", median(a[m]), m, median(d[m]) }' "$work/steps.$s" |
		sort -n | awk -F'\t' '{ printf "| %s | %.2f | %.2f |\n", $2, $3, $1 }'
}

# counters RUNTIME SCENARIO writes perf_counters' means for the runtime's samples to
# $work/perf.RUNTIME.SCENARIO. Each sample is the runtime's wrapper script (lib.bash's
# add_runtime); RUNTIME "wrapper" is the same script running /bin/true.
counters() {
	local rt=$1 s=$2
	local -a cmd
	if [[ $rt == wrapper ]]; then
		cmd=("$work/wrap-true")
	else
		read -ra cmd <<<"$(scenario_args "$rt" "$s")"
		cmd=("${rt_wrap[$rt]}" --root "${rt_root[$rt]}" "${cmd[@]}")
	fi
	with_container "${rt/wrapper/nebulon}" "$s" perf_counters "$work/perf.$rt.$s" "$n" "${cmd[@]}"
}

# tree_table SCENARIO prints the runtimes' process-tree costs as a Markdown table, the wrapper's
# taken off.
tree_table() {
	local s=$1 rt e v base
	echo
	echo "$s, the whole process tree per sample (perf stat, mean of $n; the wrapper's own cost taken off):"
	echo
	echo "| runtime | CPU ms | page faults | context switches | forks | execs |"
	echo "|---|---|---|---|---|---|"
	for rt in "${runtimes[@]}"; do
		local row="| $rt |"
		for e in task-clock page-faults context-switches sched:sched_process_fork sched:sched_process_exec; do
			v=$(awk -v e="$e" '$1 == e { print $2 }' "$work/perf.$rt.$s")
			base=$(awk -v e="$e" '$1 == e { print $2 }' "$work/perf.wrapper.$s")
			row+=" $(awk -v v="$v" -v b="$base" 'BEGIN { d = v - b; printf (d == int(d) ? "%d" : "%.2f"), d }') |"
		done
		echo "$row"
	done
	echo "| (wrapper alone) | $(awk '$1 == "task-clock" { printf "%.2f", $2 }' "$work/perf.wrapper.$s") |" \
		"$(awk '$1 == "page-faults" { print int($2) }' "$work/perf.wrapper.$s") | | | |"
}

main() {
	local s rt
	if [[ ${1:-} == -h || ${1:-} == --help ]]; then
		usage
		return 0
	fi
	(($# == 0)) || die "unexpected arguments: $* (see -h)"
	((EUID == 0)) || die "must run as root"
	for s in jq unshare perf; do
		command -v "$s" >/dev/null || die "'$s' is needed"
	done
	n=${BENCH_N:-30}
	[[ $n =~ ^[1-9][0-9]*$ ]] || die "BENCH_N must be a positive integer, not '$n'"
	work=$(mktemp -d /tmp/nebulon-breakdown.XXXXXX)
	trap cleanup EXIT
	add_runtime nebulon "${NEBULON:-$repo/bin/nebulon}"
	add_runtime crun "$(type -P crun || true)"
	add_runtime runc "$(type -P runc || true)"
	[[ -n ${rt_path[nebulon]:-} ]] || die "no nebulon binary to break down"
	wrapper_alone "$work/wrap-true"
	bundle=$work/bundle
	make_bundle "$bundle" >/dev/null
	echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%d)"
	for rt in "${runtimes[@]}"; do
		echo "$rt: $(stat -c %s "${rt_path[$rt]}") bytes, $(file -b "${rt_path[$rt]}" | grep -oE "(statically|dynamically) linked")"
	done
	for s in run exec; do
		echo "breaking down $s..." >&2
		with_container nebulon "$s" steps "$s"
		counters wrapper "$s"
		for rt in "${runtimes[@]}"; do
			counters "$rt" "$s"
		done
		tree_table "$s"
	done
}

main "$@"
