#!/usr/bin/env bash
bats_require_minimum_version 1.5.0

# Harness for the nb suite: nb used as a person uses it, each test with its own store.

NB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$NB_DIR/../.." && pwd)"
NB="${NB:-$REPO_ROOT/bin/nb}"
# shellcheck source=../lib/pty.bash
# shellcheck source=../lib/pty.bash
source "$NB_DIR/../lib/pty.bash"

# setup_store: the test's directory ($TEST_DIR) and its store path ($STORE, not initialised).
setup_store() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	[ -x "$NB" ] || skip "$NB not built (make build)"
	TEST_DIR="$(mktemp -d /tmp/nb-test.XXXXXX)"
	STORE="$TEST_DIR/store"
	# nb's default network's bridge stays when its containers go, as docker0 does: a test that
	# made it removes it.
	MADE_NB0=1
	if ip link show nb0 >/dev/null 2>&1; then MADE_NB0=; fi
}

# teardown_store removes what the test made: its containers (through nb), nb0 if it made it,
# mounts left below its directory, the directory.
teardown_store() {
	[ -n "${TEST_DIR:-}" ] || return 0
	local id
	if [ -d "$STORE/containers" ]; then
		for id in $(nb ps -aq 2>/dev/null); do nb rm -f "$id" >/dev/null 2>&1; done
	fi
	[ -z "${MADE_NB0:-}" ] || ip link del nb0 >/dev/null 2>&1 || true
	grep -F " $TEST_DIR" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
	rm -rf "$TEST_DIR"
}

setup() { setup_store; }
teardown() { teardown_store; }

# nb ARGS...: nb on the test's store.
nb() {
	timeout -k 5 60 "$NB" --root "$STORE" "$@"
}

fail() {
	echo "FAIL: $*" >&2
	return 1
}

# setup_store_with_image: setup_store, an initialised store, and the busybox rootfs imported as
# image bb.
setup_store_with_image() {
	setup_store
	"$REPO_ROOT/tests/engines/mkimage.sh" rootfs "$TEST_DIR/rootfs.tar"
	nb init >/dev/null
	nb image import "$TEST_DIR/rootfs.tar" bb >/dev/null
}
