#!/usr/bin/env bats
# nb's networks: the default bridge, user networks whose containers reach each other by name,
# published ports, and teardown (no veth, iptables rule, address lease or namespace left), also
# after the monitor was killed. Traffic goes only to loopback and the tests' own containers.

load helpers

setup() {
	setup_store_with_image
	# Unique per run, so a failed run cannot collide with the next: the user networks' subnets
	# and the published port come from the test's pid.
	NET="nbt$$"
	SUBNET="10.123.$(($$ % 256)).0/24"
	SUBNET2="10.124.$(($$ % 256)).0/24"
	PORT=$((20000 + $$ % 20000))
}

teardown() {
	local id f br
	if [ -d "${STORE2:-}/containers" ]; then
		for id in $(nb2 ps -aq 2>/dev/null); do nb2 rm -f "$id" >/dev/null 2>&1; done
	fi
	if [ -d "${STORE:-}/containers" ]; then
		for id in $(nb ps -aq 2>/dev/null); do nb rm -f "$id" >/dev/null 2>&1; done
	fi
	for f in "${STORE:-/nonexistent}"/networks/*.json; do
		[ -f "$f" ] || continue
		br="$(jq -r .Bridge "$f")"
		nb network rm "$(jq -r .Name "$f")" >/dev/null 2>&1
		ip link del "$br" >/dev/null 2>&1 || true
	done
	for f in "${STORE2:-/nonexistent}"/networks/*.json; do
		[ -f "$f" ] || continue
		br="$(jq -r .Bridge "$f")"
		nb2 network rm "$(jq -r .Name "$f")" >/dev/null 2>&1
		ip link del "$br" >/dev/null 2>&1 || true
	done
	teardown_store
}

# nb2 ARGS...: nb on a second store of the test's.
nb2() { timeout -k 5 60 "$NB" --root "$STORE2" "$@"; }

# nat_rules: the NAT table as the plugins wrote it (iptables; its nft backend here).
nat_rules() { iptables -w -t nat -S; }

# lease_dir NETWORK: where host-local keeps NETWORK's leases: the default network's are the
# host's, shared by every store; another's are its store's.
lease_dir() {
	if [ "$1" = bridge ]; then echo /run/nb/ipam/nb0/bridge; else echo "$STORE/networks/ipam/$1"; fi
}

# assert_released ID IP [NETWORK]: nothing of container ID's attachment is left: no NAT rule
# naming it or its address, no lease file, no namespace file or mount, no libcni cache entry.
assert_released() {
	local id=$1 ip=$2
	run nat_rules
	! grep -E -- "$id|$ip/32|$ip:" <<<"$output" || fail "NAT rules of $id ($ip) are left"
	run iptables -w -S
	! grep -F -- "$ip/32" <<<"$output" || fail "filter rules of $ip are left"
	[ ! -e "$(lease_dir "${3:-bridge}")/$ip" ] || fail "the lease of $ip is left"
	[ ! -e "$STORE/containers/$id/netns" ] || fail "the network namespace of $id is left"
	! grep -F "$STORE/containers/$id/netns" /proc/self/mountinfo || fail "the namespace mount of $id is left"
	run ls "$STORE/networks/cache/results"
	! grep -F -- "$id" <<<"$output" || fail "libcni's cache of $id is left"
}

@test "nb create's default network is bridge: an address on nb0, the gateway answers, /etc files of nb's" {
	id="$(nb create --name box bb sh -c 'ip -4 -o addr show eth0; ping -c 1 -W 5 10.77.0.1; cat /etc/hosts /etc/hostname /etc/resolv.conf')"
	run nb run "$id"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" =~ inet\ 10\.77\.0\.[0-9]+/24 ]]
	grep -q "1 packets received" <<<"$output"
	grep -qx "127.0.0.1	localhost" <<<"$output"
	grep -qE "^10\.77\.0\.[0-9]+	${id:0:12}$" <<<"$output"
	grep -qx "${id:0:12}" <<<"$output"
	grep -q "^nameserver " <<<"$output"
	! grep -E "^nameserver (127\.|::1)" <<<"$output" || fail "a loopback nameserver is in the container's resolv.conf"
	[ "$(nb inspect "$id" | jq -r '.[0].config.network, .[0].network, .[0].ip_address')" = "bridge
bridge
null" ]
}

@test "the issue's example: a numeric user on a root without /etc/passwd pings the bridge's gateway" {
	local rootfs="$TEST_DIR/rootfs"
	mkdir -p "$rootfs"
	tar -C "$rootfs" -xf "$TEST_DIR/rootfs.tar"
	rm "$rootfs/etc/passwd" "$rootfs/etc/group"
	# Busybox's ping (1.35) opens only raw ICMP sockets, never the ICMP echo sockets that
	# net.ipv4.ping_group_range opens to every group: a user other than root needs CAP_NET_RAW
	# (in docker's default set) through the file capability distributions give ping.
	setcap cap_net_raw+ep "$rootfs/bin/busybox"
	id="$(nb create --hostname my-container --rootfs "$rootfs" --workdir / --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --uid 1000 --gid 1000 ping -c 1 10.77.0.1)"
	run nb run "$id"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q "1 packets transmitted, 1 packets received" <<<"$output"
}

@test "a detached container's masquerade rule, veth and lease exist while it runs, and are gone after stop and rm" {
	id="$(nb create bb sleep 300)"
	nb run -d "$id"
	ip="$(nb inspect "$id" | jq -r '.[0].ip_address')"
	[[ "$ip" =~ ^10\.77\.0\.[0-9]+$ ]] || fail "ip_address $ip"
	run nat_rules
	grep -E -- "-A POSTROUTING -s $ip/32 .*id: \\\\\"$id\\\\\"" <<<"$output" || fail "no masquerade rule for $ip: $output"
	[ -e "$(lease_dir bridge)/$ip" ] || fail "no lease of $ip in $(lease_dir bridge)"
	[ -n "$(ip -o link show master nb0 type veth)" ] || fail "no veth on nb0"
	run iptables -w -S CNI-FORWARD
	grep -q -- "-A CNI-FORWARD -d $ip/32 .*-j ACCEPT" <<<"$output" || fail "no FORWARD rule for $ip: $output"
	run nb network inspect bridge
	[ "$(jq -r ".[0].Containers[\"$id\"].IPv4Address" <<<"$output")" = "$ip" ]
	nb stop -t 1 "$id"
	assert_released "$id" "$ip"
	nb rm "$id"
	assert_released "$id" "$ip"
	[ -z "$(ip -o link show master nb0 type veth)" ] || fail "a veth is left on nb0"
}

@test "two stores' containers started at once on the default network never get one address" {
	STORE2="$TEST_DIR/store2"
	nb2 init >/dev/null
	nb2 image import "$TEST_DIR/rootfs.tar" bb >/dev/null
	nb create --name a bb sleep 300
	nb2 create --name b bb sleep 300
	# At once: both may make nb0 (the test's first), both take leases.
	local pa pb rc=0
	nb run -d a >"$TEST_DIR/a.out" 2>&1 &
	pa=$!
	nb2 run -d b >"$TEST_DIR/b.out" 2>&1 &
	pb=$!
	wait "$pa" || rc=$?
	[ "$rc" -eq 0 ] || fail "nb run -d a: $rc: $(cat "$TEST_DIR/a.out")"
	wait "$pb" || rc=$?
	[ "$rc" -eq 0 ] || fail "nb run -d b: $rc: $(cat "$TEST_DIR/b.out")"
	ipa="$(nb inspect a | jq -r '.[0].ip_address')"
	ipb="$(nb2 inspect b | jq -r '.[0].ip_address')"
	[[ "$ipa" =~ ^10\.77\.0\.[0-9]+$ && "$ipb" =~ ^10\.77\.0\.[0-9]+$ ]] || fail "addresses $ipa, $ipb"
	[ "$ipa" != "$ipb" ] || fail "both stores' containers got $ipa"
	[ -e "$(lease_dir bridge)/$ipa" ] && [ -e "$(lease_dir bridge)/$ipb" ] || fail "$(ls "$(lease_dir bridge)")"
	# One bridge: the second store's container reaches the first's.
	run nb2 exec b ping -c 1 -W 5 "$ipa"
	[ "$status" -eq 0 ] || fail "$output"
	ida="$(nb inspect a | jq -r '.[0].id')"
	idb="$(nb2 inspect b | jq -r '.[0].id')"
	nb rm -f a
	nb2 rm -f b
	assert_released "$ida" "$ipa"
	STORE="$STORE2" assert_released "$idb" "$ipb"
}

@test "a network of a second store with a subnet the first's bridge has is refused, nothing made" {
	nb network create --subnet "$SUBNET" "$NET"
	nb create --name a --network "$NET" bb sleep 300
	nb run -d a
	br="$(nb network inspect "$NET" | jq -r '.[0].Bridge')"
	STORE2="$TEST_DIR/store2"
	nb2 init >/dev/null
	nb2 image import "$TEST_DIR/rootfs.tar" bb >/dev/null
	nb2 network create --subnet "$SUBNET" "$NET"
	br2="$(nb2 network inspect "$NET" | jq -r '.[0].Bridge')"
	nb2 create --name b --network "$NET" bb sleep 300
	run nb2 run -d b
	[ "$status" -eq 1 ] || fail "b started: $output"
	[ "$output" = "nb: attach to network $NET: its subnet $SUBNET overlaps ${SUBNET%.0/24}.1/24 of the host's interface $br (another nb store's network, or the host's own)" ] || fail "$output"
	run ip link show "$br2"
	[ "$status" -ne 0 ] || fail "bridge $br2 was made"
	[ ! -e "$STORE2/containers/$(nb2 inspect b | jq -r '.[0].id')/netns" ] || fail "b's namespace is left"
	nb2 rm b
	nb2 network rm "$NET"
}

@test "after a kill -9 of the monitor, nb rm -f releases the network all the same" {
	id="$(nb create bb sleep 300)"
	nb run -d "$id"
	ip="$(nb inspect "$id" | jq -r '.[0].ip_address')"
	pid="$(nb inspect "$id" | jq -r '.[0].pid')"
	monitor="$(ps -o ppid= -p "$pid" | tr -d ' ')"
	[ "$(tr '\0' ' ' <"/proc/$monitor/cmdline")" = "/proc/self/exe --root $STORE __monitor $id " ] ||
		fail "the parent of $pid is not the monitor: $(tr '\0' ' ' <"/proc/$monitor/cmdline")"
	kill -9 "$monitor"
	nb rm -f "$id"
	assert_released "$id" "$ip"
	[ -z "$(ip -o link show master nb0 type veth)" ] || fail "a veth is left on nb0"
}

@test "after a kill -9 of the monitor, nb stop ends the container and releases its network" {
	id="$(nb create bb sleep 300)"
	nb run -d "$id"
	ip="$(nb inspect "$id" | jq -r '.[0].ip_address')"
	pid="$(nb inspect "$id" | jq -r '.[0].pid')"
	monitor="$(ps -o ppid= -p "$pid" | tr -d ' ')"
	grep -q __monitor "/proc/$monitor/cmdline" || fail "the parent of $pid is not the monitor"
	kill -9 "$monitor"
	run nb ps
	[[ "$output" == *"Up "* ]] || fail "the container does not run on without its monitor: $output"
	nb stop -t 1 "$id"
	[ "$(nb inspect "$id" | jq -r '.[0].status')" = exited ]
	assert_released "$id" "$ip"
	[ -z "$(ip -o link show master nb0 type veth)" ] || fail "a veth is left on nb0"
}

@test "an attach that fails half way (no address left) leaves no veth, lease or namespace" {
	# A /30 has one address besides the gateway: the second container's bridge plugin makes its
	# veth, then host-local has none to give.
	local sub30="10.125.$(($$ % 256)).0/30"
	nb network create --subnet "$sub30" "$NET"
	nb create --name a --network "$NET" bb sleep 300
	nb run -d a
	br="$(nb network inspect "$NET" | jq -r '.[0].Bridge')"
	nb create --name b --network "$NET" bb sleep 300
	run nb run -d b
	[ "$status" -eq 1 ] || fail "b started: $output"
	[[ "$output" == "nb: attach to network $NET: "*"no IP addresses available"* ]] || fail "$output"
	id="$(nb inspect b | jq -r '.[0].id')"
	[ "$(nb inspect b | jq -r '.[0].status, .[0].ip_address')" = "created
null" ]
	[ ! -e "$STORE/containers/$id/netns" ] || fail "b's namespace is left"
	! grep -F "$STORE/containers/$id/netns" /proc/self/mountinfo || fail "b's namespace mount is left"
	[ "$(ip -o link show master "$br" type veth | wc -l)" -eq 1 ] || fail "veths: $(ip -o link show master "$br")"
	[ "$(find "$STORE/networks/ipam/$NET" -name '10.*' | wc -l)" -eq 1 ] || fail "leases: $(ls "$STORE/networks/ipam/$NET")"
	run nat_rules
	! grep -F -- "$id" <<<"$output" || fail "rules of b are left"
	# And its address is there for it once a goes.
	nb rm -f a
	nb run -d b
	[ "$(nb inspect b | jq -r '.[0].ip_address')" = "10.125.$(($$ % 256)).2" ]
}

@test "containers on a user network reach each other by name; the network cannot go while they exist" {
	run nb network create --subnet "$SUBNET" "$NET"
	[ "$status" -eq 0 ]
	[ "$output" = "$NET" ]
	run nb network ls
	grep -E "^[0-9a-f]{8} +$NET +bridge +${SUBNET//./\\.}$" <<<"$output" || fail "$output"
	nb create --name srv --network "$NET" bb sleep 300
	nb run -d srv
	id="$(nb create --name cli --network "$NET" bb sh -c 'ping -c 1 -W 5 srv && cat /etc/hosts')"
	run nb run "$id"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q "1 packets received" <<<"$output"
	# The server's hosts file gained the client while it ran, and lost it after.
	run nb exec srv cat /etc/hosts
	! grep -qw cli <<<"$output" || fail "cli is still in srv's hosts: $output"
	run nb network inspect "$NET"
	[ "$(jq -r '.[0].Subnet, (.[0].Containers | length)' <<<"$output")" = "$SUBNET
1" ]
	br="$(jq -r '.[0].Bridge' <<<"$output")"
	run nb network rm "$NET"
	[ "$status" -eq 1 ]
	[ "$output" = "nb: network $NET is in use by container srv, cli: remove them first" ]
	ip="$(nb inspect srv | jq -r '.[0].ip_address')"
	nb rm -f srv cli
	assert_released srv "$ip" "$NET"
	run nb network rm "$NET"
	[ "$status" -eq 0 ]
	run ip link show "$br"
	[ "$status" -ne 0 ] || fail "bridge $br is left"
	[ ! -e "$STORE/networks/ipam/$NET" ]
}

@test "a new container's address is in the hosts files of those already running on its network" {
	nb network create --subnet "$SUBNET" "$NET"
	nb create --name a --network "$NET" bb sleep 300
	nb run -d a
	nb create --name b --network "$NET" bb sleep 300
	nb run -d b
	run nb exec a sh -c 'ping -c 1 -W 5 b && cat /etc/hosts'
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qE "^$(nb inspect b | jq -r '.[0].ip_address' | sed 's/\./\\./g')	b " <<<"$output"
}

@test "--network container:NAME shares the other's network namespace and hosts file" {
	nb create --name first bb sleep 300
	nb run -d first
	ip="$(nb inspect first | jq -r '.[0].ip_address')"
	id="$(nb create --network container:first bb sh -c 'ip -4 -o addr show eth0')"
	run nb run "$id"
	[ "$status" -eq 0 ]
	[[ "$output" =~ inet\ $ip/24 ]] || fail "$output"
	nb stop -t 1 first
	run nb run "$id"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--network container:$(nb inspect first | jq -r '.[0].id'): that container is not running"* ]] || fail "$output"
}

@test "-p 127.0.0.1:PORT:80: a server in the container answers on the host's loopback; the rules go with it" {
	nb create --name web -p "127.0.0.1:$PORT:80" bb sh -c 'mkdir -p /www && echo hello-from-nb >/www/index.html && httpd -f -p 80 -h /www'
	nb run -d web
	id="$(nb inspect web | jq -r '.[0].id')"
	run nat_rules
	grep -F -- "$id" <<<"$output" | grep -q -- "--dports $PORT" || fail "no DNAT rule for $PORT: $output"
	for _ in $(seq 50); do
		run curl -sS --max-time 5 "http://127.0.0.1:$PORT/"
		[ "$status" -eq 0 ] && break
		sleep 0.1
	done
	[ "$output" = hello-from-nb ] || fail "curl 127.0.0.1:$PORT: $output"
	# The port is taken: another container cannot publish it.
	nb create --name web2 -p "127.0.0.1:$PORT:80" bb true
	run nb run -d web2
	[ "$status" -eq 1 ]
	[ "$output" = "nb: -p 127.0.0.1:$PORT:80/tcp: port $PORT/tcp is already published by container web" ]
	[ ! -e "$STORE/containers/$(nb inspect web2 | jq -r '.[0].id')/netns" ] || fail "web2's namespace is left"
	ip="$(nb inspect web | jq -r '.[0].ip_address')"
	nb rm -f web
	assert_released "$id" "$ip"
	run nat_rules
	! grep -E -- "--dports? $PORT( |$)" <<<"$output" || fail "a rule for port $PORT is left"
	run curl -sS --max-time 2 "http://127.0.0.1:$PORT/"
	[ "$status" -ne 0 ] || fail "127.0.0.1:$PORT still answers: $output"
}

@test "bad --subnet, -p, --network and --restart: clear errors, nothing made" {
	run nb network create --subnet 10.1.2.3/24 "$NET"
	[ "$status" -eq 1 ]
	[ "$output" = "nb: network create: --subnet 10.1.2.3/24: not a network address: did you mean 10.1.2.0/24?" ]
	run nb network create --subnet banana "$NET"
	[ "$output" = 'nb: network create: --subnet "banana": want an IPv4 CIDR such as 10.78.0.0/24' ]
	nb network create --subnet "$SUBNET" "$NET"
	run nb network create --subnet 10.123.0.0/16 "${NET}b"
	[ "$status" -eq 1 ]
	[[ "$output" =~ overlaps\ network\ $NET ]] || fail "$output"
	run nb network create --subnet 10.77.0.0/16 "${NET}b"
	[[ "$output" == *"overlaps network bridge's subnet 10.77.0.0/24" ]] || fail "$output"
	run nb network create "$NET"
	[ "$output" = "nb: network create: network $NET already exists" ]
	run nb network rm bridge
	[ "$output" = "nb: network bridge is the default network: it cannot be removed" ]
	run nb network ls -q
	[ "$output" = "bridge
$NET" ]
	run nb create -p 80 bb true
	[ "$output" = 'nb: -p "80": no host port (nb does not pick one); want [IP:]HOSTPORT:CTRPORT[/tcp|udp]' ]
	run nb create -p 8080:80/sctp bb true
	[[ "$output" == *'protocol "sctp" is neither tcp nor udp'* ]] || fail "$output"
	run nb create --network none -p "$PORT:80" bb true
	[ "$output" = "nb: -p $PORT:80/tcp: publishing ports needs a network (--network bridge or a network's name), not --network none" ]
	run nb create --network nosuchnet bb true
	[ "$output" = "nb: --network nosuchnet: no such network: nosuchnet" ]
	run nb create --network container:nosuch bb true
	[ "$output" = "nb: --network container:nosuch: no such container: nosuch" ]
	run nb create --restart sometimes bb true
	[ "$output" = 'nb: --restart "sometimes": want no, on-failure[:N], always or unless-stopped' ]
	run nb ps -aq
	[ -z "$output" ]
	[ -z "$(ls "$STORE/containers")" ]
	run nb network rm "$NET"
	[ "$status" -eq 0 ]
	run nb network rm "$NET"
	[ "$output" = "nb: no such network: $NET" ]
}

@test "--network none has only lo and nb's /etc files; -p on a second network publishes there" {
	run nb run "$(nb create --network none bb sh -c 'ls /sys/class/net | tr "\n" " "; cat /etc/hostname')"
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^lo\ nb-[0-9a-f]{8}$ ]] || fail "$output"
	nb network create --subnet "$SUBNET2" "${NET}b"
	nb create --name udp --network "${NET}b" -p "127.0.0.1:$PORT:5353/udp" bb sleep 300
	nb run -d udp
	run nat_rules
	grep -F -- "$(nb inspect udp | jq -r '.[0].id')" <<<"$output" | grep -q -- "-p udp .*--dports $PORT" || fail "$output"
}
