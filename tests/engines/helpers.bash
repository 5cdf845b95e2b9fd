#!/usr/bin/env bash
bats_require_minimum_version 1.5.0

# Harness for the engine suite: podman and containerd driving nebulon as their OCI runtime.
#
# Each file gets private engine state under $BATS_FILE_TMPDIR (podman's storage and runroot,
# containerd's root, state and socket) and one busybox-static image. Every scenario is a
# function that prints what the engine's user sees; `compare SCENARIO` runs it with nebulon
# and, when runc is installed, with runc, and fails on any difference. The runtimes are reached
# through logging wrappers, so a test can prove nebulon really ran the container (some engine
# options silently fall back to the default runc).

ENGINES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$ENGINES_DIR/../.." && pwd)"
NEBULON="${NEBULON:-$REPO_ROOT/bin/nebulon}"
RUNC="${RUNC:-$(command -v runc || true)}"
ENGINE_TIMEOUT="${ENGINE_TIMEOUT:-60}"
# shellcheck source=../lib/pty.bash
# shellcheck source=../lib/pty.bash
source "$ENGINES_DIR/../lib/pty.bash"
# shellcheck disable=SC2034 # used by the bats files that load this
IMAGE=localhost/nbtest:latest

require_engine() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	[ -x "$NEBULON" ] || skip "$NEBULON not built"
	command -v "$1" >/dev/null || skip "$1 is not installed (tests/install-deps.sh engines)"
}

# runtimes: nebulon, and runc when installed.
runtimes() {
	echo nebulon
	[ -n "$RUNC" ] && echo runc
	return 0
}

# make_wrappers DIR: DIR/bin/nebulon and DIR/bin/runc log each call to DIR/calls.<name> and
# exec the real runtime.
make_wrappers() {
	local dir="$1" name real
	mkdir -p "$dir/bin"
	for name in nebulon runc; do
		real="$NEBULON"
		[ "$name" = runc ] && real="$RUNC"
		[ -n "$real" ] || continue
		cat >"$dir/bin/$name" <<-WRAPPER
			#!/bin/sh
			echo "\$*" >>"$dir/calls.$name"
			exec "$real" "\$@"
		WRAPPER
		chmod 755 "$dir/bin/$name"
	done
}

# make_image_tar FILE: a busybox-static root filesystem as a tarball.
make_image_tar() {
	"$ENGINES_DIR/mkimage.sh" rootfs "$1"
}

# ran_nebulon CALLS_BEFORE: nebulon's wrapper logged a create since the log had CALLS_BEFORE
# lines (calls_of nebulon).
calls_of() {
	local f="$E/calls.$1"
	[ -f "$f" ] && wc -l <"$f" || echo 0
}

assert_nebulon_ran() {
	local before="$1" after
	after="$(calls_of nebulon)"
	tail -n +"$((before + 1))" "$E/calls.nebulon" 2>/dev/null | grep -q "create " ||
		fail "nebulon was not asked to create a container ($before -> $after calls)"
}

# compare SCENARIO [ARGS...]: SCENARIO RUNTIME ARGS... with nebulon, then runc; their outputs
# must match. Sets $output (nebulon's) and $status.
compare() {
	local fn="$1" other st
	shift
	local before
	before="$(calls_of nebulon)"
	set +e
	output="$("$fn" nebulon "$@" 2>&1)"
	status=$?
	set -e
	echo "nebulon ($status):"
	printf '%s\n' "$output"
	assert_nebulon_ran "$before" || return 1
	[ -n "$RUNC" ] || return 0
	set +e
	other="$("$fn" runc "$@" 2>&1)"
	st=$?
	set -e
	echo "runc ($st):"
	printf '%s\n' "$other"
	[ "$st" = "$status" ] || fail "exit status: nebulon $status, runc $st" || return 1
	[ "$output" = "$other" ] || fail "output differs: $(diff <(echo "$output") <(echo "$other"))"
}

fail() {
	echo "FAIL: $*" >&2
	return 1
}


# make_oci_archive FILE NAME: an OCI image archive of that root filesystem, named NAME.
make_oci_archive() {
	"$ENGINES_DIR/mkimage.sh" oci "$1" "$2"
}

# podman_setup_file: a file's own podman state under $E ($BATS_FILE_TMPDIR/podman: storage,
# runroot, a containers.conf naming the logging wrappers as runtimes nebulon and runc) and the
# test image; for setup_file. podman_teardown_file removes it all.
podman_setup_file() {
	require_engine podman
	export E="$BATS_FILE_TMPDIR/podman"
	mkdir -p "$E"
	make_wrappers "$E"
	"$ENGINES_DIR/engine.sh" podman-conf "$E/containers.conf" "nebulon=$E/bin/nebulon" "runc=$E/bin/runc"
	export CONTAINERS_CONF="$E/containers.conf"
	# conmon makes libpod_parent/conmon in every hierarchy; removed at the end if it is ours.
	[ -d /sys/fs/cgroup/memory/libpod_parent ] && touch "$E/had-libpod-parent"
	make_image_tar "$E/image.tar"
	podman --root "$E/storage" --runroot "$E/run" import "$E/image.tar" "$IMAGE" >/dev/null
}

podman_teardown_file() {
	[ -n "${E:-}" ] || return 0
	podman --root "$E/storage" --runroot "$E/run" rm -af -t 0 >/dev/null 2>&1
	podman --root "$E/storage" --runroot "$E/run" system reset -f >/dev/null 2>&1
	grep -F " $E" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
	if [ ! -e "$E/had-libpod-parent" ]; then
		find /sys/fs/cgroup -maxdepth 3 -type d -path "*/libpod_parent/conmon" -exec rmdir {} + 2>/dev/null
		find /sys/fs/cgroup -maxdepth 2 -type d -name libpod_parent -exec rmdir {} + 2>/dev/null
	fi
	rm -rf "$E"
}
