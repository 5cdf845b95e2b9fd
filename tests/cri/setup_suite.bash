#!/usr/bin/env bash
# The CRI suite's private node (tests/cri/env.sh), made once for all its files, with the
# nebulon and runc handlers behind logging wrappers, and removed at the end, also after a
# failure half way.

setup_suite() {
	# shellcheck source=helpers.bash
	source "$(dirname "${BASH_SOURCE[0]}")/helpers.bash"
	[ "$(id -u)" -eq 0 ] || fail "the CRI suite needs root" || return 1
	[ -x "$NEBULON" ] || fail "$NEBULON is not built" || return 1
	# containerd 2 wants runc 1.2 or later for rro and id-mapped mounts: the one tools.sh builds.
	export CRI_TOOLS
	CRI_TOOLS="${CRI_TOOLS:-$("$CRI_DIR/tools.sh")}" || return 1
	export RUNC="${CRI_RUNC:-$CRI_TOOLS/runc}"
	# Not under bats' own temporary directories, which are 0700: a user-namespaced pod's root,
	# an unprivileged host uid, must reach its root filesystem under containerd's state, as it
	# does under /run/containerd.
	export E
	E="$(mktemp -d /tmp/nbcri.XXXXXX)" || return 1
	chmod 0711 "$E"
	make_wrappers "$E"
	"$CRI_DIR/env.sh" start "$E" "nebulon=$E/bin/nebulon" "runc=$E/bin/runc"
}

teardown_suite() {
	[ -n "${E:-}" ] || return 0
	"$(dirname "${BASH_SOURCE[0]}")/env.sh" stop "$E"
}
