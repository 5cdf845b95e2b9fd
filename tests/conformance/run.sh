#!/usr/bin/env bash
# Runs the OCI runtime-tools v0.9.0 validation suite against an OCI runtime and checks the
# outcome against expected-pass.txt. Usage: tests/conformance/run.sh -h
set -euo pipefail

readonly suite_module=github.com/opencontainers/runtime-tools@v0.9.0
readonly uuid_re='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
readonly here repo

usage() {
	cat <<EOF
usage: [RUNTIME=PATH] tests/conformance/run.sh [TEST...]

Builds the OCI runtime-tools v0.9.0 validation suite (once per go.mod/go.sum/Go version), runs
each of its tests (or only the TESTs named) against RUNTIME, prints a table and the line
'all tests: N passed, M failed', then the gate, 'expected-pass: N passed, M failed'. Exits
non-zero when a test listed in expected-pass.txt did not pass.
A test passes when it exits 0 and each TAP stream it prints has a plan, as many results as
planned and no 'not ok' ('# SKIP' is fine); the lifecycle tests, which plan 1..0 and report
errors as diagnostics, pass when they print none, and process_capabilities_fail and
process_rlimits_fail pass when they print nothing. Must run as root.

Environment:
  RUNTIME              runtime to test, a path or a command name (default: $repo/bin/nebulon);
                       RUNTIME=runc compares with runc, RUNTIME=$here/crun-wrapper with crun
  CONFORMANCE_CACHE    where the suite is built (default: \${XDG_CACHE_HOME:-\$HOME/.cache}/nebulon-conformance)
  CONFORMANCE_RESULTS  where each test's TAP (NAME.tap), stderr (NAME.stderr) and the table
                       (summary.txt) go (default: tests/conformance/results/<runtime name>)
  CONFORMANCE_TIMEOUT  seconds each test may take (default: 60)
  STATE_ROOT           the runtime's default state root, searched for containers the suite left
                       behind (default: /run/<runtime name>; a NAME-wrapper runs NAME)
EOF
}

die() {
	echo "conformance: $*" >&2
	exit 2
}

warn() {
	echo "conformance: $*" >&2
}

# abs_runtime prints the absolute path of the runtime named by $1 (a path or a command in PATH).
abs_runtime() {
	local rt=$1
	if [[ $rt != */* ]]; then
		rt=$(type -P -- "$rt") || die "runtime '$1' not found in PATH"
	fi
	[[ -f $rt && -x $rt ]] || die "runtime '$rt' is not an executable file (run 'make build' or set RUNTIME)"
	printf '%s/%s\n' "$(cd "$(dirname "$rt")" && pwd)" "$(basename "$rt")"
}

# build_suite builds runtimetest and every validation program into $1/<key>, where the key
# hashes what decides the build, and prints that directory. An existing build is reused.
build_suite() {
	local cache=$1 key dir tmp modsrc
	key=$(cat "$here/runtime-tools.go.mod" "$here/runtime-tools.go.sum" <(go version) <(echo "$suite_module") |
		sha256sum | cut -c1-16)
	dir=$cache/$key
	if [[ -e $dir/complete ]]; then
		echo "$dir"
		return
	fi
	echo "building $suite_module into $dir" >&2
	mkdir -p "$cache"
	tmp=$(mktemp -d "$cache/build.XXXXXX")
	modsrc=$(go env GOMODCACHE)/$suite_module
	# The download runs outside any module (in the cache), so it cannot touch a go.mod. The
	# module cache is read-only, hence the chmod. As the suite's Makefile builds them:
	# runtimetest static (it runs inside the test rootfs), then each validation/<name> program.
	if ! (cd "$tmp" && export GOWORK=off &&
		go mod download "$suite_module" &&
		cp -R "$modsrc" src && chmod -R u+w src &&
		cp "$here/runtime-tools.go.mod" src/go.mod && cp "$here/runtime-tools.go.sum" src/go.sum &&
		cd src &&
		CGO_ENABLED=0 go build -o runtimetest ./cmd/runtimetest &&
		go build -o "$tmp/bin/" ./validation/...) >&2; then
		rm -rf "$tmp"
		die "building $suite_module failed"
	fi
	touch "$tmp/complete"
	# Another run may have finished the same build meanwhile; keep whichever came first.
	mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
	echo "$dir"
}

# expected_tests prints the test names listed in expected-pass.txt.
expected_tests() {
	sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$here/expected-pass.txt"
}

# state_ids prints the ids of the containers in the runtime's state root that look like the
# suite's (UUIDs).
state_ids() {
	[[ -d $state_root ]] || return 0
	find "$state_root" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | grep -E -x "$uuid_re" || true
}

# suite_cgroups prints, children first, the cgroup directories the suite may have made: its
# fixed /cgrouptest and testdir/cgrouptest/container paths, and containers' UUID-named ones.
suite_cgroups() {
	find /sys/fs/cgroup -depth -mindepth 2 -type d \
		\( -name cgrouptest -o -name testdir -o -path '*/testdir/cgrouptest/*' \
		-o -regextype posix-extended -regex ".*/$uuid_re" \) 2>/dev/null || true
}

# remove_tree removes a test's TMPDIR. A runtime that leaked a mount into this mount namespace
# must not make rm walk into the mounted tree, so such mounts are detached (and reported) first.
remove_tree() {
	local dir=$1 mnt
	local -a mnts
	mapfile -t mnts < <(awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
	if ((${#mnts[@]})); then
		warn "$(basename "$dir"): detaching ${#mnts[@]} mount(s) left in this mount namespace, the first ${mnts[-1]}"
		for mnt in "${mnts[@]}"; do
			umount -l "$mnt" || true
		done
	fi
	rm -rf --one-file-system "$dir"
}

# cleanup removes what the run left behind: containers the suite made (UUID ids absent before
# the run) through the runtime, their state dirs if the runtime could not, empty cgroups the
# suite made, and the scratch dir. It is idempotent: it runs at exit too.
cleanup() {
	local id dir
	[[ -n ${scratch:-} ]] || return 0
	while read -r id; do
		grep -q -x -F "$id" "$scratch/ids.before" && continue
		warn "deleting container $id left behind by the suite"
		"$runtime" delete --force "$id" >/dev/null 2>&1 || true
		if [[ -d $state_root/$id ]]; then
			warn "'delete --force $id' failed; removing $state_root/$id"
			rm -rf --one-file-system "${state_root:?}/$id"
		fi
	done < <(state_ids)
	while read -r dir; do
		if [[ $(basename "$dir") =~ ^$uuid_re$ ]] && grep -q -x -F "$dir" "$scratch/cgroups.before"; then
			continue
		fi
		rmdir "$dir" 2>/dev/null || warn "cgroup $dir left in place: it still has processes or children"
	done < <(suite_cgroups)
	for dir in "$scratch"/*/; do
		if [[ -d $dir ]]; then
			remove_tree "${dir%/}"
		fi
	done
	rm -rf "$scratch"
	scratch=
}

# tap_summary prints "OK NOTOK SKIP PROBLEM" for a test's TAP output, where PROBLEM is empty, or
# why the output is not a complete, clean record. How the suite reports (v0.9.0):
#   - most tests print one TAP stream, "TAP version 13", results, then the plan "1..N";
#   - some print two streams (linux_cgroups_cpus), each with its own plan;
#   - the lifecycle tests (hooks, poststart, prestart_fail, ...) print no result, plan "1..0",
#     and report a failure only as a YAML diagnostic ("  ---" ... "  ...") holding the error;
#   - tests that embed runtimetest's TAP put it in a YAML string, indented: only lines at
#     column 0 count.
# A stream passes with as many results as its plan says, or, with plan 1..0, with no
# diagnostic. Empty output gives the PROBLEM "no TAP output".
tap_summary() {
	awk '
		function close_stream() {
			if (!open) return
			if (plan == "") problem = problem "; no TAP plan"
			else if (n == 0 && yaml) problem = problem "; error reported as a diagnostic"
			else if (n != plan) problem = problem "; plan 1.." plan ", " n " results"
			open = 0
		}
		function open_stream() { close_stream(); open = 1; n = 0; plan = ""; yaml = 0 }
		/^TAP version/ { open_stream(); next }
		!open && NF { open_stream() }
		/^ok( |$)/ { ok++; n++; if (toupper($0) ~ /^OK [0-9]* *# SKIP/) skip++ }
		/^not ok( |$)/ { notok++; n++ }
		/^1\.\.[0-9]+/ { sub(/^1\.\./, ""); plan = $0 + 0 }
		/^  ---$/ { yaml = 1 }
		END {
			close_stream()
			if (NR == 0) problem = "; no TAP output"
			printf "%d %d %d %s\n", ok, notok, skip, substr(problem, 3)
		}
	' "$1"
}

# verdict prints why test $1 failed, or nothing when it passed, from its exit status and
# tap_summary. process_capabilities_fail and process_rlimits_fail expect the runtime to refuse
# the config: they print nothing and exit 0 when it does.
verdict() {
	local name=$1 rc=$2 notok=$3 problem=$4
	if ((rc == 124 || rc == 137)); then
		echo "timed out after ${test_timeout}s"
	elif ((rc != 0)); then
		echo "exit status $rc"
	elif ((notok > 0)); then
		echo "$notok not ok"
	elif [[ $problem == "no TAP output" && ($name == process_capabilities_fail || $name == process_rlimits_fail) ]]; then
		return 0
	else
		echo "$problem"
	fi
}

main() {
	local name rc ok notok skip problem why result tmp t
	local -a all tests expected passed=() failed=() missing=() unlisted=()
	if [[ ${1:-} == -h || ${1:-} == --help ]]; then
		usage
		return 0
	fi
	((EUID == 0)) || die "must run as root (the suite creates containers)"
	for t in go tar timeout sha256sum; do
		command -v "$t" >/dev/null || die "'$t' is needed"
	done

	runtime=$(abs_runtime "${RUNTIME:-$repo/bin/nebulon}")
	local rt_name
	rt_name=$(basename "$runtime")
	state_root=${STATE_ROOT:-/run/${rt_name%-wrapper}}
	test_timeout=${CONFORMANCE_TIMEOUT:-60}
	local results=${CONFORMANCE_RESULTS:-$here/results/$rt_name}
	local build
	build=$(build_suite "${CONFORMANCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nebulon-conformance}")

	mapfile -t all < <(ls "$build/bin")
	mapfile -t expected < <(expected_tests)
	for name in "${expected[@]}"; do
		[[ -x $build/bin/$name ]] || die "expected-pass.txt names '$name', which is not a test of the suite"
	done
	tests=("$@")
	((${#tests[@]})) || tests=("${all[@]}")
	for name in "${tests[@]}"; do
		[[ -x $build/bin/$name ]] || die "no test '$name'; the tests are: ${all[*]}"
	done

	mkdir -p "$results"
	rm -f "$results"/*.tap "$results"/*.stderr "$results/summary.txt"
	scratch=$(mktemp -d "${TMPDIR:-/tmp}/nebulon-conformance.XXXXXX")
	# Searchable by everyone, as /tmp is: a container in a user namespace (linux_uid_mappings)
	# is not root here, and its runtime must still reach the bundle below.
	chmod 755 "$scratch"
	trap cleanup EXIT
	state_ids >"$scratch/ids.before"
	suite_cgroups >"$scratch/cgroups.before"

	echo "runtime: $runtime"
	echo "results: $results"
	printf '%-34s %-6s %4s %6s %4s  %s\n' test result ok 'not ok' skip note | tee "$results/summary.txt"
	for name in "${tests[@]}"; do
		tmp=$(mktemp -d "$scratch/$name.XXXXXX")
		chmod 755 "$tmp"
		rc=0
		# From the source dir, as the suite's Makefile runs it: tests read runtimetest and
		# rootfs-amd64.tar.gz from the working directory; bundles go to TMPDIR.
		(cd "$build/src" && TMPDIR=$tmp RUNTIME=$runtime timeout -k 10 "$test_timeout" "$build/bin/$name") \
			</dev/null >"$results/$name.tap" 2>"$results/$name.stderr" || rc=$?
		remove_tree "$tmp"
		read -r ok notok skip problem < <(tap_summary "$results/$name.tap")
		why=$(verdict "$name" "$rc" "$notok" "$problem")
		if [[ -z $why ]]; then
			passed+=("$name")
			result=pass
		else
			failed+=("$name")
			result=FAIL
		fi
		printf '%-34s %-6s %4d %6d %4d  %s\n' "$name" "$result" "$ok" "$notok" "$skip" "$why" |
			sed 's/ *$//' | tee -a "$results/summary.txt"
	done
	cleanup
	trap - EXIT

	for name in "${expected[@]}"; do
		if [[ " ${failed[*]} " == *" $name "* ]]; then
			missing+=("$name")
		fi
	done
	for name in "${passed[@]}"; do
		[[ " ${expected[*]} " == *" $name "* ]] || unlisted+=("$name")
	done
	if ((${#unlisted[@]})); then
		echo "passed but not in expected-pass.txt (consider adding): ${unlisted[*]}"
	fi
	if ((${#missing[@]})); then
		echo "FAILED: listed in expected-pass.txt but did not pass: ${missing[*]} (TAP logs in $results)"
	fi
	echo "all tests: ${#passed[@]} passed, ${#failed[@]} failed" | tee -a "$results/summary.txt"
	# The last line is the gate: the listed tests that ran, and how many of them failed.
	local gated=0
	for name in "${expected[@]}"; do
		[[ " ${passed[*]} ${failed[*]} " == *" $name "* ]] && gated=$((gated + 1))
	done
	echo "expected-pass: $((gated - ${#missing[@]})) passed, ${#missing[@]} failed" | tee -a "$results/summary.txt"
	((${#missing[@]} == 0))
}

main "$@"
