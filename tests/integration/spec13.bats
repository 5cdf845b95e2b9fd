#!/usr/bin/env bats
# runtime-spec 1.3 fields beyond the process and the mounts: linux.intelRdt and
# linux.netDevices.

load helpers

# create_refused TEXT...: create fails, stderr has every TEXT, and nothing is left. (The log
# line quotes the message: a TEXT holds no double quote.)
create_refused() {
	local text
	snapshot_host
	run --separate-stderr runtime create --bundle "$BUNDLE" "$CT"
	[ "$status" -ne 0 ] || fail "create succeeded"
	for text in "$@"; do
		# shellcheck disable=SC2154 # set by bats' run
		[[ "$stderr" == *"$text"* ]] || fail "stderr does not say '$text': $stderr"
	done
	assert_nothing_left
}

@test "linux.intelRdt without a resctrl mount fails create, naming the field, and leaves nothing" {
	skip_if_runc "runc 1.1.5 words it 'Intel RDT is not supported'"
	if grep -q ' resctrl ' /proc/self/mounts; then
		skip "this host has resctrl mounted"
	fi
	update_config '.linux.intelRdt = {"closID": "gold", "l3CacheSchema": "L3:0=f"}'
	create_refused "config.json: linux.intelRdt: no resctrl filesystem is mounted"
}

@test "a linux.intelRdt schema of the wrong resource is refused, naming the field, before anything is made" {
	skip_if_runc "runc 1.1.5 checks no schema"
	update_config '.linux.intelRdt = {"memBwSchema": "L3:0=f"}'
	create_refused 'config.json: linux.intelRdt.memBwSchema:' 'L3:0=f' 'want one line starting with MB:'
	update_config '.linux.intelRdt = {"closID": "../x"}'
	create_refused 'config.json: linux.intelRdt.closID:' '../x' 'is not the name of a resctrl group'
}

@test "features: intelRdt with schemata and monitoring, and netDevices" {
	skip_if_runc "runc 1.1.5 has neither"
	run --separate-stderr "$RUNTIME" features
	[ "$status" -eq 0 ]
	[ "$(jq -c .linux.intelRdt <<<"$output")" = '{"enabled":true,"schemata":true,"monitoring":true}' ]
	[ "$(jq -c .linux.netDevices <<<"$output")" = '{"enabled":true}' ]
}

# veth NAME: a veth pair on the host, NAME and its peer NAMEp, NAME with permanent global
# addresses (192.0.2.0/24 and 2001:db8::/32 are documentation ranges: no traffic is sent). The
# pair is removed at teardown if still on the host; moved into a container, NAME goes with its
# network namespace, and its peer with it.
veth() {
	ip link add "$1" type veth peer name "${1}p" || fail "ip link add $1"
	on_teardown "ip link del ${1}p"
	ip addr add 192.0.2.10/24 dev "$1"
	ip -6 addr add 2001:db8::10/64 dev "$1" nodad
}

@test "netDevices: a host interface moves into the container, renamed, with its permanent addresses, up" {
	skip_if_runc "runc 1.1.5 has no linux.netDevices"
	local dev="nbd${BATS_TEST_NUMBER}x$$"
	dev="${dev:0:14}"
	veth "$dev"
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.netDevices = {($d): {"name": "ctr0"}}' --arg d "$dev"
	set_cmd 'ip -o addr show dev ctr0; ip -o link show dev ctr0; sleep 1000'
	run_detached
	local pid out
	pid="$(state_of | jq -r .pid)"
	# The host no longer has it; the container has it under its new name.
	if ip link show "$dev" >/dev/null 2>&1; then fail "$dev is still on the host"; fi
	out="$(nsenter -t "$pid" -n ip -o addr show dev ctr0)"
	[[ "$out" == *"inet 192.0.2.10/24"* ]] || fail "no IPv4 address in the container: $out"
	[[ "$out" == *"inet6 2001:db8::10/64"* ]] || fail "no IPv6 address in the container: $out"
	out="$(nsenter -t "$pid" -n ip -o link show dev ctr0)"
	[[ "$out" == *"<"*"UP"*">"* ]] || fail "ctr0 is not up: $out"
	runtime delete --force "$CT"
	# A virtual interface goes with the namespace, its peer with it; it is never moved back.
	if ip link show "$dev" >/dev/null 2>&1; then fail "$dev came back to the host"; fi
	if ip link show "${dev}p" >/dev/null 2>&1; then fail "the peer ${dev}p is still on the host"; fi
}

@test "netDevices: a name ending in %d is a template the kernel fills in" {
	skip_if_runc "runc 1.1.5 has no linux.netDevices"
	local dev="nbd${BATS_TEST_NUMBER}x$$"
	dev="${dev:0:14}"
	veth "$dev"
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.netDevices = {($d): {"name": "lo%d"}}' --arg d "$dev"
	set_cmd 'sleep 1000'
	run_detached
	local out
	out="$(nsenter -t "$(state_of | jq -r .pid)" -n ip -o link show)"
	[[ "$out" =~ \ lo0[@:] ]] || fail "no lo0 in the container: $out"
}

@test "netDevices: a missing interface, a taken name or no network namespace fails create, naming the entry, and leaves nothing" {
	skip_if_runc "runc 1.1.5 has no linux.netDevices"
	update_config '.linux.netDevices = {"nbdnosuch0": {}}'
	create_refused "config.json: linux.netDevices.nbdnosuch0: no such interface on the host"
	local dev="nbd${BATS_TEST_NUMBER}x$$"
	dev="${dev:0:14}"
	veth "$dev"
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.netDevices = {($d): {"name": "lo"}}' --arg d "$dev"
	create_refused "config.json: linux.netDevices.$dev: the container has an interface named lo already"
	ip link show "$dev" >/dev/null || fail "$dev did not stay on the host"
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.netDevices = {($d): {}} | .linux.namespaces |= map(select(.type != "network"))' --arg d "$dev"
	create_refused "config.json: linux.netDevices: moving interfaces needs a new network namespace"
	update_config '.linux.netDevices = {"a/b": {}} | .linux.namespaces += [{"type": "network"}]'
	create_refused 'config.json: linux.netDevices.a/b:' 'is not an interface name'
}

@test "pids.limit 0 is a limit: pids.max is 0 and the container's process cannot fork" {
	skip_if_runc "runc 1.1.5 writes max for a limit of 0"
	use_host_dir
	update_config '.linux.resources.pids = {"limit": 0}'
	# The shell's own stderr: it says when it cannot fork, and exits.
	set_cmd 'exec 2>/host/err; echo started >/host/started; sleep 1000 & echo forked >/host/forked'
	create_ct
	[ "$(cat "/sys/fs/cgroup/pids/$CT/pids.max")" = 0 ]
	runtime start "$CT"
	wait_for_status "$CT" stopped
	[ "$(cat "$HOST_DIR/started")" = started ] || fail "the container's process did not run"
	grep -q "can't fork" "$HOST_DIR/err" || fail "the fork did not fail: $(cat "$HOST_DIR/err")"
	[ ! -e "$HOST_DIR/forked" ] || fail "the shell went on after its fork"
}

@test "an unknown capability fails create in a config for runtime-spec 1.0, and is a warning from 1.1 on" {
	skip_if_runc "1.1.5 refuses unknown capabilities whatever the version"
	update_config '.ociVersion = "1.0.2" | .process.capabilities.bounding += ["CAP_TEST"]'
	create_refused "config.json: process.capabilities.bounding:" "unknown capability" "CAP_TEST"
	update_config '.ociVersion = "1.1.0"'
	run --separate-stderr runtime run --bundle "$BUNDLE" "$CT"
	[ "$status" -eq 0 ] || fail "run failed: $stderr"
	[[ "$stderr" == *"ignoring unknown or unavailable capabilities"*CAP_TEST* ]] || fail "no warning: $stderr"
}
