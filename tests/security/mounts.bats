#!/usr/bin/env bats
# Mount paths an attacker controls: symlinks in the rootfs (placed by the
# image, or swapped by a container sharing a volume) that point mount
# destinations or bind sources at the host (CVE-2021-30465), or make the
# runtime create files and directories there (CVE-2024-45310).

load ../integration/helpers

setup() {
	setup_bundle
	update_config '.root.readonly = false'
	HOSTDIR="$TEST_DIR/hostdir"
	mkdir -p "$HOSTDIR"
	echo secret >"$HOSTDIR/secret"
}

# host_untouched: $HOSTDIR holds only its secret, and nothing is mounted on it.
host_untouched() {
	[ "$(ls -A "$HOSTDIR")" = secret ] || fail "host dir now holds: $(ls -A "$HOSTDIR")" || return 1
	! grep -q " $HOSTDIR" /proc/self/mountinfo || fail "something is mounted on the host dir"
}

@test "CVE-2021-30465: a mount destination through a symlink to a host path stays inside the rootfs" {
	ln -s "$HOSTDIR" "$BUNDLE/rootfs/vol"
	update_config '.mounts += [{"destination": "/vol/sub", "type": "tmpfs", "source": "tmpfs"}]'
	set_cmd 'ls -d /vol/sub'
	run --separate-stderr runtime run -b "$BUNDLE" "$CT"
	# shellcheck disable=SC2154 # set by bats' run
	echo "status $status, stdout: $output, stderr: $stderr"
	host_untouched
	if [ "$status" -eq 0 ]; then
		[ "$output" = /vol/sub ]
	else
		# The link dangles inside the rootfs: nothing is made through it.
		[[ "$stderr" == *"mounts["*"/vol/sub"* ]]
	fi
	# With its target made inside the rootfs, the mount lands there.
	mkdir -p "$BUNDLE/rootfs$HOSTDIR"
	run --separate-stderr runtime run -b "$BUNDLE" "$CT"
	echo "status $status, stdout: $output, stderr: $stderr"
	[ "$status" -eq 0 ]
	[ -d "$BUNDLE/rootfs$HOSTDIR/sub" ]
	host_untouched
}

@test "CVE-2021-30465: a bind source inside the rootfs is resolved inside it, not through a symlink to the host" {
	skip_if_runc "1.1.5 resolves a bind source on the host, through the rootfs's symlinks"
	ln -s "$HOSTDIR" "$BUNDLE/rootfs/src"
	mkdir -p "$BUNDLE/rootfs$HOSTDIR"
	echo decoy >"$BUNDLE/rootfs$HOSTDIR/decoy"
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.mounts += [{"destination": "/data", "type": "bind", "source": $s, "options": ["bind"]}]' \
		--arg s "$BUNDLE/rootfs/src"
	ct_run 'ls /data'
	[ "$status" -eq 0 ]
	[ "$output" = decoy ]
	host_untouched
}

@test "CVE-2021-30465: an id-mapped bind source inside the rootfs is resolved inside it too, though the runtime opens it" {
	skip_if_runc "1.1.5 has no id-mapped mounts"
	# The runtime, not the init, opens an id-mapped mount's source: on the host's side.
	ln -s "$HOSTDIR" "$BUNDLE/rootfs/src"
	mkdir -p "$BUNDLE/rootfs$HOSTDIR"
	echo decoy >"$BUNDLE/rootfs$HOSTDIR/decoy"
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.mounts += [{"destination": "/data", "type": "bind", "source": $s, "options": ["bind"],
		"uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
		"gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}]' --arg s "$BUNDLE/rootfs/src"
	ct_run 'ls /data'
	[ "$status" -eq 0 ]
	[ "$output" = decoy ]
	host_untouched
}

@test "CVE-2024-45310: a destination swapped between a directory and a host symlink during create never reaches the host" {
	update_config '.mounts += [{"destination": "/vol/a/b", "type": "tmpfs", "source": "tmpfs"}]'
	set_cmd true
	# The swapper plays a container process sharing /vol: it flips it as fast
	# as it can while the runtime makes and mounts /vol/a/b.
	(
		set +e
		while :; do
			rm -rf "$BUNDLE/rootfs/vol" 2>/dev/null
			mkdir -p "$BUNDLE/rootfs/vol" 2>/dev/null
			rm -rf "$BUNDLE/rootfs/vol" 2>/dev/null
			ln -s "$HOSTDIR" "$BUNDLE/rootfs/vol" 2>/dev/null
		done
	) &
	BG_PIDS+=($!)
	local i
	for i in $(seq 30); do
		run --separate-stderr runtime run -b "$BUNDLE" "$CT-$i"
		host_untouched
	done
	# The swapper ran all along.
	kill "${BG_PIDS[-1]}"
	wait "${BG_PIDS[-1]}" 2>/dev/null || true
	[ -z "$(runtime list -q)" ]
}
