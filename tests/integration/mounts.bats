#!/usr/bin/env bats
# mounts[]: options (recursive attributes, unknown options), id-mapped mounts,
# and the smaller mount behaviours scripts written for runc rely on.

load helpers

# add_mount DEST TYPE SOURCE [OPTION...]
add_mount() {
	local dest="$1" type="$2" src="$3"
	shift 3
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.mounts += [{"destination": $d, "type": $t, "source": $s, "options": $o}]' \
		--arg d "$dest" --arg t "$type" --arg s "$src" --argjson o "$(jq -cn '$ARGS.positional' --args "$@")"
}

# host_tmpfs DIR [OPTIONS]: a tmpfs at DIR on the host, unmounted at teardown;
# OPTIONS are its per-mount flags (set by a bind remount: the superblock stays rw).
host_tmpfs() {
	mkdir -p "$1"
	mount -t tmpfs tmpfs "$1" || fail "mount tmpfs on $1"
	on_teardown "umount -l '$1'"
	mount -o "remount,bind,${2:-rw}" "$1" || fail "remount $1 with $2"
}

# opts_of MOUNTPOINT: the per-mount options of the topmost mount at
# MOUNTPOINT in $output (a mountinfo).
opts_of() {
	awk -v mp="$1" '$5 == mp { v = $6 } END { print v }' <<<"$output"
}

has_opt() { # LIST OPT: comma-separated LIST contains OPT
	[[ ",$1," == *",$2,"* ]]
}

# src_with_submount: $TEST_DIR/src holds a file, and a tmpfs submount at
# sub/ made with host mount options $1.
src_with_submount() {
	mkdir -p "$TEST_DIR/src"
	echo top >"$TEST_DIR/src/file"
	host_tmpfs "$TEST_DIR/src/sub" "${1:-rw}"
}

@test "rro makes the nested submount of an rbind read-only too" {
	skip_if_runc "1.1.5 has no recursive mount attributes"
	src_with_submount
	add_mount /data bind "$TEST_DIR/src" rbind rro
	ct_run 'touch /data/sub/x; touch /data/y; cat /data/file'
	[ "$(grep -c 'Read-only file system' <<<"$output")" -eq 2 ] || fail "both writes must fail with EROFS"
	[[ "$output" == *top* ]]
	# The host's mounts are untouched: still writable there.
	touch "$TEST_DIR/src/sub/host-ok" "$TEST_DIR/src/host-ok"
}

@test "each recursive attribute is set on the mount and its submounts (mountinfo)" {
	skip_if_runc "1.1.5 has no recursive mount attributes"
	src_with_submount
	add_mount /data bind "$TEST_DIR/src" rbind rro rnosuid rnodev rnoexec rnodiratime rnoatime rnosymfollow
	ct_run 'cat /proc/self/mountinfo'
	[ "$status" -eq 0 ]
	local mp o
	for mp in /data /data/sub; do
		o="$(opts_of "$mp")"
		for want in ro nosuid nodev noexec nodiratime noatime nosymfollow; do
			has_opt "$o" "$want" || fail "$mp: $o lacks $want"
		done
	done
	# And on the host, nothing changed.
	o="$(awk -v mp="$TEST_DIR/src/sub" '$5 == mp {print $6}' /proc/self/mountinfo)"
	has_opt "$o" rw || fail "host's submount became $o"
}

@test "the recursive attributes that clear a flag clear it on the submounts too" {
	skip_if_runc "1.1.5 has no recursive mount attributes"
	src_with_submount ro,nosuid,nodev,noexec,nodiratime,noatime,nosymfollow
	add_mount /data bind "$TEST_DIR/src" rbind rrw rsuid rdev rexec rdiratime ratime rsymfollow
	ct_run 'touch /data/sub/x && echo written; cat /proc/self/mountinfo'
	[ "$status" -eq 0 ]
	[[ "$output" == *written* ]]
	local o
	o="$(opts_of /data/sub)"
	[[ "$o" == rw,relatime ]] || fail "/data/sub: $o, want rw,relatime"
	o="$(awk -v mp="$TEST_DIR/src/sub" '$5 == mp {print $6}' /proc/self/mountinfo)"
	has_opt "$o" ro || fail "host's submount became $o"
}

@test "rstrictatime and rrelatime set the access-time mode of every submount" {
	skip_if_runc "1.1.5 has no recursive mount attributes"
	src_with_submount noatime
	add_mount /a bind "$TEST_DIR/src" rbind rstrictatime
	add_mount /b bind "$TEST_DIR/src" rbind rnoatime rrelatime
	ct_run 'cat /proc/self/mountinfo'
	[ "$status" -eq 0 ]
	local o
	o="$(opts_of /a/sub)"
	if has_opt "$o" noatime || has_opt "$o" relatime; then fail "/a/sub: $o, want strictatime"; fi
	[[ "$(opts_of /b/sub)" == rw,relatime ]] || fail "/b/sub: $(opts_of /b/sub)"
}

@test "an unknown bind mount option is refused, naming the mount and the option" {
	skip_if_runc "1.1.5 ignores unknown bind mount options"
	add_mount /data bind "$HOST_DIR" bind noexce
	refused '*mounts\[*/data*noexce*' run --bundle "$BUNDLE" "$CT"
}

@test "unknown options of a filesystem mount are its data (tmpfs size=)" {
	add_mount /t tmpfs tmpfs nosuid size=64k
	ct_run 'df -k /t | tail -1; grep " /t " /proc/self/mountinfo'
	[ "$status" -eq 0 ]
	[[ "$output" == *size=64k* ]]
	[[ "$output" == *nosuid* ]]
}

@test "a bind of a read-only nodev noexec mount keeps its flags in a user namespace" {
	skip_if_runc "1.1.5 remounts with flags that drop the source's locked ones: EPERM"
	host_tmpfs "$TEST_DIR/locked" ro,nodev,noexec,nosuid,strictatime
	add_userns
	mkdir "$BUNDLE/rootfs/data"
	add_mount /data bind "$TEST_DIR/locked" bind nosuid
	ct_run 'grep " /data " /proc/self/mountinfo; touch /data/x'
	[ "$status" -ne 0 ]
	[[ "$output" == *"Read-only file system"* ]]
	local o
	o="$(opts_of /data)"
	for want in ro nosuid nodev noexec; do
		has_opt "$o" "$want" || fail "/data: $o lacks $want"
	done
}

@test "features lists every recursive attribute and nosymfollow" {
	skip_if_runc "1.1.5 lists no recursive attributes"
	run --separate-stderr "$RUNTIME" features
	[ "$status" -eq 0 ]
	local o
	for o in rro rrw rnosuid rsuid rnodev rdev rnoexec rexec rnodiratime rdiratime rrelatime rnorelatime \
		rnoatime ratime rstrictatime rnostrictatime rnosymfollow rsymfollow nosymfollow symfollow tmpcopyup; do
		jq -e --arg o "$o" '.mountOptions | index($o)' <<<"$output" >/dev/null || fail "mountOptions lacks $o"
	done
}

# idmap_src: $TEST_DIR/idsrc holds "file", owned by 1000:1000 on the host.
idmap_src() {
	mkdir -p "$TEST_DIR/idsrc"
	echo mapped >"$TEST_DIR/idsrc/file"
	chown 1000:1000 "$TEST_DIR/idsrc/file"
	mkdir -p "$BUNDLE/rootfs/data"
}

# add_idmapped DEST SOURCE UID_MAPS GID_MAPS [OPTION...]: a bind mount with
# its own id maps (JSON arrays, [] for none).
add_idmapped() {
	local dest="$1" src="$2" uids="$3" gids="$4"
	shift 4
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.mounts += [{"destination": $d, "type": "bind", "source": $s, "options": $o}
		+ (if $u == [] then {} else {"uidMappings": $u, "gidMappings": $g} end)]' \
		--arg d "$dest" --arg s "$src" --argjson u "$uids" --argjson g "$gids" \
		--argjson o "$(jq -cn '$ARGS.positional' --args "$@")"
}

@test "uidMappings and gidMappings id-map a bind mount without a user namespace" {
	skip_if_runc "1.1.5 has no id-mapped mounts"
	idmap_src
	# As in a user namespace's maps (and runc's): containerID is the id on the
	# source filesystem, hostID the id the mount shows.
	add_idmapped /data "$TEST_DIR/idsrc" '[{"containerID": 1000, "hostID": 2000, "size": 10}]' \
		'[{"containerID": 1000, "hostID": 3000, "size": 10}]' bind idmap
	ct_run 'stat -c %u:%g /data/file; cat /data/file; grep " /data " /proc/self/mountinfo'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 2000:3000 ]
	[ "${lines[1]}" = mapped ]
	[[ "${lines[2]}" == *idmapped* ]] || fail "/data is not id-mapped in mountinfo"
	# On the host the file keeps its owner.
	[ "$(stat -c %u:%g "$TEST_DIR/idsrc/file")" = 1000:1000 ]
}

@test "idmap without maps of its own takes the container's user namespace" {
	skip_if_runc "1.1.5 has no id-mapped mounts"
	idmap_src
	add_userns
	add_idmapped /data "$TEST_DIR/idsrc" '[]' '[]' bind idmap
	ct_run 'stat -c %u:%g /data/file; touch /data/new && echo created'
	[ "$status" -eq 0 ]
	# Host 1000 shows as 1000 inside (not as the overflow id 65534), and what
	# the container's root creates is root's on the host (not 100000's).
	[ "${lines[0]}" = 1000:1000 ]
	[ "${lines[1]}" = created ]
	[ "$(stat -c %u:%g "$TEST_DIR/idsrc/new")" = 0:0 ]
	[ "$(stat -c %u:%g "$TEST_DIR/idsrc/file")" = 1000:1000 ]
}

@test "a mount's own maps apply inside a container user namespace" {
	skip_if_runc "1.1.5 has no id-mapped mounts"
	idmap_src
	add_userns
	# The mount maps host 1000 to 100005/200005, the container's 5.
	add_idmapped /data "$TEST_DIR/idsrc" '[{"containerID": 1000, "hostID": 100005, "size": 1}]' \
		'[{"containerID": 1000, "hostID": 200005, "size": 1}]' bind ridmap
	ct_run 'stat -c %u:%g /data/file'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 5:5 ]
	[ "$(stat -c %u:%g "$TEST_DIR/idsrc/file")" = 1000:1000 ]
}

@test "a filesystem that cannot be id-mapped is refused, naming the mount" {
	skip_if_runc "1.1.5 has no id-mapped mounts"
	mkdir -p "$BUNDLE/rootfs/data"
	# sysfs does not allow id-mapped mounts.
	add_idmapped /data /sys/kernel '[{"containerID": 0, "hostID": 1000, "size": 1}]' \
		'[{"containerID": 0, "hostID": 1000, "size": 1}]' rbind idmap
	refused '*mounts\[*/data*cannot be id-mapped*' run --bundle "$BUNDLE" "$CT"
}

@test "idmap without maps or a user namespace is refused, naming the mount" {
	skip_if_runc "1.1.5 has no id-mapped mounts"
	idmap_src
	add_idmapped /data "$TEST_DIR/idsrc" '[]' '[]' bind idmap
	refused '*mounts\[*options*/data*user namespace*' run --bundle "$BUNDLE" "$CT"
}

@test "features reports id-mapped mounts and the idmap options" {
	skip_if_runc "1.1.5 has no id-mapped mounts"
	run --separate-stderr "$RUNTIME" features
	[ "$status" -eq 0 ]
	[ "$(jq -r .linux.mountExtensions.idmap.enabled <<<"$output")" = true ]
	jq -e '.mountOptions | index("idmap") and index("ridmap") and index("rro")' <<<"$output" >/dev/null
}

@test "a destination that is a dangling symlink is made where it points, inside the root" {
	echo "10.0.0.1 mapped" >"$TEST_DIR/hosts"
	rm -f "$BUNDLE/rootfs/etc/hosts"
	ln -s "/tmp/dangling-$CT/bar/baz/hosts" "$BUNDLE/rootfs/etc/hosts"
	add_mount /etc/hosts bind "$TEST_DIR/hosts" bind ro
	ct_run 'cat /etc/hosts; readlink /etc/hosts; cat /tmp/dangling-*/bar/baz/hosts'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "10.0.0.1 mapped" ]
	[ "${lines[1]}" = "/tmp/dangling-$CT/bar/baz/hosts" ]
	[ "${lines[2]}" = "10.0.0.1 mapped" ]
	# Made in the rootfs, never on the host.
	[ -f "$BUNDLE/rootfs/tmp/dangling-$CT/bar/baz/hosts" ]
	[ ! -e "/tmp/dangling-$CT" ] || fail "the symlink's target was made on the host"
}

@test "a relative destination is relative to the root" {
	echo rel >"$HOST_DIR/file"
	add_mount data/rel bind "$HOST_DIR" rbind ro
	add_mount scratch tmpfs tmpfs size=64k
	ct_run 'cat /data/rel/file; grep -E " /(data/rel|scratch) " /proc/self/mountinfo | wc -l'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = rel ]
	[ "${lines[1]}" = 2 ]
	[ -d "$BUNDLE/rootfs/data/rel" ]
}

@test "a tmpfs takes the mode of the directory it covers, unless mode= is given" {
	mkdir -p "$BUNDLE/rootfs/covered" "$BUNDLE/rootfs/explicit"
	chmod 0750 "$BUNDLE/rootfs/covered"
	chmod 0750 "$BUNDLE/rootfs/explicit"
	add_mount /covered tmpfs tmpfs nosuid
	add_mount /explicit tmpfs tmpfs mode=0711
	add_mount /fresh tmpfs tmpfs
	ct_run 'stat -c %a /covered /explicit /fresh; grep " /covered " /proc/self/mountinfo'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 750 ]
	[ "${lines[2]}" = 1777 ]
	# runc 1.1.5 chmods the mount point after mounting, losing an explicit
	# mode= (later runc honours it).
	if ! is_runc; then
		[ "${lines[1]}" = 711 ]
		[[ "${lines[3]}" == *mode=750* ]]
	fi
	# The image's directory itself is left as it was.
	[ "$(stat -c %a "$BUNDLE/rootfs/covered")" = 750 ]
}

@test "masked directories share one read-only tmpfs, and a duplicate entry is fine" {
	skip_if_runc "1.1.5 masks each directory with a tmpfs of its own"
	mkdir -p "$BUNDLE/rootfs/m1" "$BUNDLE/rootfs/m2"
	echo secret >"$BUNDLE/rootfs/m1/s"
	echo secret >"$BUNDLE/rootfs/m2/s"
	update_config '.linux.maskedPaths += ["/m1", "/m2", "/m1"]'
	ct_run 'ls -A /m1 /m2 | grep -c s; touch /m2/x; grep -E " /m[12] " /proc/self/mountinfo'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 0 ] || fail "a masked directory shows its files"
	[[ "${lines[1]}" == *"Read-only file system"* ]]
	[ "${#lines[@]}" -eq 4 ] || fail "want one mount on each of /m1 and /m2"
	local d1 d2
	d1="$(awk '$5 == "/m1" {print $3}' <<<"$output")"
	d2="$(awk '$5 == "/m2" {print $3}' <<<"$output")"
	[ -n "$d1" ] && [ "$d1" = "$d2" ] || fail "/m1 ($d1) and /m2 ($d2) are not one tmpfs"
	# The image keeps its files.
	[ "$(cat "$BUNDLE/rootfs/m1/s")" = secret ]
}

@test "--no-pivot hides the host's procfs: a nested user namespace cannot mount a fresh procfs" {
	# In a user namespace of its own, a process may mount procfs only where
	# the kernel sees a fully visible one in its mount namespace
	# (mount_too_revealing): the container's /proc is masked, and the host's,
	# left under the moved rootfs by --no-pivot, must be out of reach too.
	update_config '.process.capabilities.bounding += ["CAP_SETFCAP", "CAP_SETUID", "CAP_SETGID"]
		| .process.capabilities.effective = .process.capabilities.bounding
		| .process.capabilities.permitted = .process.capabilities.bounding'
	set_cmd 'exec 2>&1; unshare -Urmpf --mount-proc true && echo mounted || echo refused'
	run runtime run --no-pivot --bundle "$BUNDLE" "$CT"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"can't mount proc"* ]] || fail "unshare did not get as far as mounting procfs"
	[[ "$output" == *refused* ]] || fail "a fresh procfs was mounted: the host's /proc is reachable"
	# The host's /proc is untouched.
	grep -q ' /proc proc ' /proc/mounts
}

@test "--no-pivot works in a user namespace, where the host's procfs is covered rather than unmounted" {
	add_userns
	set_cmd 'exec 2>&1; cat /proc/self/uid_map; ls /proc/self/fd >/dev/null && echo ok'
	run runtime run --no-pivot --bundle "$BUNDLE" "$CT"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *100000* ]]
	[[ "$output" == *ok* ]]
	grep -q ' /proc proc ' /proc/mounts
}
