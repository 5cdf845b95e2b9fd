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
	# The plugins change the host beyond nb0: the bridge plugin turns on ip_forward, portmap and
	# firewall make chains and jumps to them that outlive the containers. What was there before
	# (podman's, or the host's own setting) stays; what the test made goes.
	HOST_NET_BEFORE="$(host_net_state)"
	IP_FORWARD_BEFORE="$(cat /proc/sys/net/ipv4/ip_forward)"
	MADE_RUN_NB=1
	if [ -e /run/nb ]; then MADE_RUN_NB=; fi
}

# host_net_state: the host's networking state that nb's plugins change: ip_forward, the CNI-*
# chains of the filter and nat tables (IPv4 and IPv6), and the built-in chains' jumps to them.
host_net_state() {
	local ipt t
	{
		echo "ip_forward $(cat /proc/sys/net/ipv4/ip_forward)"
		for ipt in iptables ip6tables; do
			for t in filter nat; do
				"$ipt" -w -t "$t" -S 2>/dev/null |
					grep -E -- '^-N CNI-|^-A (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) .*-j CNI-' |
					sed "s/^/$ipt $t /" || true
			done
		done
	} | LC_ALL=C sort
}

# The chains the plugins share between containers, which stay when the last one goes; any other
# CNI-* chain is one container's and goes with its CNI DEL.
SHARED_CNI_CHAINS=" CNI-FORWARD CNI-ADMIN CNI-HOSTPORT-DNAT CNI-HOSTPORT-SETMARK CNI-HOSTPORT-MASQ "

# restore_host_net: undoes what host_net_state shows changed since setup_store, then checks that
# it is as it was: the jumps the test added, the chains it made (flushed first: they may jump to
# each other), ip_forward.
restore_host_net() {
	local line ipt t op chain rule
	while read -r ipt t op rule; do
		[ "$op" = -A ] || continue
		xargs "$ipt" -w -t "$t" -D <<<"$rule" || true
	done < <(comm -13 <(echo "$HOST_NET_BEFORE") <(host_net_state))
	local -a made=()
	while read -r line; do made+=("$line"); done < <(comm -13 <(echo "$HOST_NET_BEFORE") <(host_net_state) | grep -- ' -N ' || true)
	local leaked=
	for line in "${made[@]}"; do
		read -r ipt t op chain <<<"$line"
		[[ "$SHARED_CNI_CHAINS" == *" $chain "* ]] || leaked+=" $ipt/$t/$chain"
	done
	for line in "${made[@]}"; do
		read -r ipt t op chain <<<"$line"
		"$ipt" -w -t "$t" -F "$chain" || true
	done
	for line in "${made[@]}"; do
		read -r ipt t op chain <<<"$line"
		"$ipt" -w -t "$t" -X "$chain" || true
	done
	echo "$IP_FORWARD_BEFORE" >/proc/sys/net/ipv4/ip_forward
	[ -z "$leaked" ] || fail "a container's chains were left after its nb rm:$leaked"
	local after
	after="$(host_net_state)"
	[ "$after" = "$HOST_NET_BEFORE" ] || fail "the host's networking is not as the test found it: before:
$HOST_NET_BEFORE
after:
$after"
}

# teardown_store removes what the test made: its containers (through nb), nb0, /run/nb and the
# plugins' chains and ip_forward if it made them, mounts left below its directory, the directory.
teardown_store() {
	[ -n "${TEST_DIR:-}" ] || return 0
	local id
	if [ -d "$STORE/containers" ]; then
		for id in $(nb ps -aq 2>/dev/null); do nb rm -f "$id" >/dev/null 2>&1; done
	fi
	[ -z "${MADE_NB0:-}" ] || ip link del nb0 >/dev/null 2>&1 || true
	[ -z "${MADE_RUN_NB:-}" ] || rm -rf /run/nb
	grep -F " $TEST_DIR" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
	rm -rf "$TEST_DIR"
	restore_host_net
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
