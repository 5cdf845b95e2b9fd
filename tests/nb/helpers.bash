#!/usr/bin/env bash
bats_require_minimum_version 1.5.0

# Harness for the nb suite: nb used as a person uses it, each test with its own store.

NB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$NB_DIR/../.." && pwd)"
NB="${NB:-$REPO_ROOT/bin/nb}"
# shellcheck source=../lib/pty.bash
source "$NB_DIR/../lib/pty.bash"

setup() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	[ -x "$NB" ] || skip "$NB not built (make build)"
	STORE="$(mktemp -d /tmp/nb-test.XXXXXX)/store"
}

teardown() {
	[ -n "${STORE:-}" ] || return 0
	rm -rf "$(dirname "$STORE")"
}

# nb ARGS...: nb on the test's store.
nb() {
	timeout -k 5 60 "$NB" --root "$STORE" "$@"
}

fail() {
	echo "FAIL: $*" >&2
	return 1
}
