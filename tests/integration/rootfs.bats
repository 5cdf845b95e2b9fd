#!/usr/bin/env bats
# root (path, readonly), rootfsPropagation, --no-pivot, and mounts.

load helpers

# add_mount DEST TYPE SOURCE [OPTION...]
add_mount() {
	local dest="$1" type="$2" src="$3"
	shift 3
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.mounts += [{"destination": $d, "type": $t, "source": $s, "options": $o}]' \
		--arg d "$dest" --arg t "$type" --arg s "$src" --argjson o "$(jq -cn '$ARGS.positional' --args "$@")"
}

# mi_field MOUNTPOINT FIELD: one field of the topmost mount at MOUNTPOINT in
# $MOUNTINFO (the container's /proc/self/mountinfo, from run_mountinfo).
# FIELD: id, parent, root, opts (per-mount options), optional (propagation
# tags such as shared:N), fstype, source, super (superblock options).
mi_field() {
	awk -v mp="$1" -v f="$2" '$5 == mp {
		for (i = 7; $i != "-"; i++) opt = opt (opt ? " " : "") $i
		sep = i
		if (f == "opts") v = $6; else if (f == "fstype") v = $(sep+1)
		else if (f == "source") v = $(sep+2); else if (f == "super") v = $(sep+3)
		else if (f == "id") v = $1; else if (f == "parent") v = $2
		else if (f == "optional") v = opt
		else if (f == "root") v = $4
		opt = ""
	} END { print v }' <<<"$MOUNTINFO"
}

# run_mountinfo: run the container printing its mountinfo; sets MOUNTINFO.
run_mountinfo() {
	ct_run "${1:-true}; cat /proc/self/mountinfo"
	[ "$status" -eq 0 ] || fail "container failed ($status): $output"
	MOUNTINFO="$output"
}

has_opt() { # LIST OPT: comma-separated LIST contains OPT
	[[ ",$1," == *",$2,"* ]]
}

@test "root.path is resolved relative to the bundle, not the cwd" {
	mv "$BUNDLE/rootfs" "$BUNDLE/myroot"
	echo marker >"$BUNDLE/myroot/marker"
	update_config '.root.path = "myroot"'
	set_cmd 'cat /marker'
	cd /
	run runtime run --bundle "$BUNDLE" "$CT"
	[ "$status" -eq 0 ]
	[ "$output" = marker ]
}

@test "root.path may be absolute" {
	mv "$BUNDLE/rootfs" "$TEST_DIR/elsewhere"
	echo abs >"$TEST_DIR/elsewhere/marker"
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.root.path = $p' --arg p "$TEST_DIR/elsewhere"
	ct_run 'cat /marker'
	[ "$status" -eq 0 ]
	[ "$output" = abs ]
}

@test "root.readonly: writing to the rootfs fails with EROFS and / is mounted ro" {
	update_config '.root.readonly = true'
	run_mountinfo 'touch /newfile 2>&1; echo "rc=$?"'
	[[ "${lines[0]}" == *"Read-only file system"* ]]
	[ "${lines[1]}" = "rc=1" ]
	has_opt "$(mi_field / opts)" ro
	[ ! -e "$BUNDLE/rootfs/newfile" ]
}

@test "root.readonly false: the rootfs is writable and writes reach the bundle" {
	update_config '.root.readonly = false'
	run_mountinfo 'echo hi > /newfile'
	has_opt "$(mi_field / opts)" rw
	[ "$(cat "$BUNDLE/rootfs/newfile")" = hi ]
}

@test "rootfsPropagation shared makes / a shared mount inside" {
	skip_if_runc "1.1.5 leaves / private (runc issue #1755, fixed in 1.2.7/1.3)"
	update_config '.linux.rootfsPropagation = "shared"'
	run_mountinfo
	[[ "$(mi_field / optional)" == *shared:* ]]
}

@test "rootfsPropagation private makes / private inside" {
	update_config '.linux.rootfsPropagation = "private"'
	run_mountinfo
	[ -z "$(mi_field / optional)" ]
}

@test "rootfsPropagation slave makes / a slave mount inside" {
	skip_if_runc "1.1.5 leaves / private (runc issues #1755, #5192)"
	update_config '.linux.rootfsPropagation = "slave"'
	# A slave needs a shared master: make the bundle a shared mount first.
	mount --bind "$BUNDLE" "$BUNDLE"
	on_teardown "umount -l $BUNDLE"
	mount --make-shared "$BUNDLE"
	run_mountinfo
	[[ "$(mi_field / optional)" == *master:* ]]
}

@test "rootfsPropagation rslave makes / a slave of the host's shared mount" {
	update_config '.linux.rootfsPropagation = "rslave"'
	mount --bind "$BUNDLE" "$BUNDLE"
	on_teardown "umount -l $BUNDLE"
	mount --make-shared "$BUNDLE"
	run_mountinfo
	[[ "$(mi_field / optional)" == master:* ]]
}

@test "--no-pivot runs the container with the rootfs as /" {
	echo marker >"$BUNDLE/rootfs/marker"
	set_cmd 'cat /marker; ls /bin/busybox; readlink /proc/self/root'
	run runtime run --no-pivot --bundle "$BUNDLE" "$CT"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = marker ]
	[ "${lines[1]}" = /bin/busybox ]
	[ "${lines[2]}" = / ]
}

@test "bind mount with ro: contents visible, writes fail, mountinfo says ro" {
	mkdir "$TEST_DIR/src"
	echo content >"$TEST_DIR/src/file"
	add_mount /data bind "$TEST_DIR/src" bind ro
	run_mountinfo 'cat /data/file; touch /data/new 2>&1; echo "rc=$?"'
	[ "${lines[0]}" = content ]
	[[ "${lines[1]}" == *"Read-only file system"* ]]
	[ "${lines[2]}" = "rc=1" ]
	has_opt "$(mi_field /data opts)" ro
	[ ! -e "$TEST_DIR/src/new" ]
}

@test "bind mount rw: writes reach the host directory" {
	mkdir "$TEST_DIR/src"
	add_mount /data bind "$TEST_DIR/src" bind rw
	run_mountinfo 'echo from-ct > /data/new'
	has_opt "$(mi_field /data opts)" rw
	[ "$(cat "$TEST_DIR/src/new")" = from-ct ]
}

@test "rbind carries submounts into the container, bind does not" {
	mkdir -p "$TEST_DIR/src/sub"
	mount -t tmpfs -o size=1m nbt-sub "$TEST_DIR/src/sub"
	on_teardown "umount -l $TEST_DIR/src/sub"
	echo in-sub >"$TEST_DIR/src/sub/file"
	add_mount /r bind "$TEST_DIR/src" rbind
	add_mount /b bind "$TEST_DIR/src" bind
	run_mountinfo 'cat /r/sub/file; ls /b/sub | wc -l'
	[ "${lines[0]}" = in-sub ]
	[ "${lines[1]}" = 0 ]
	[ "$(mi_field /r/sub fstype)" = tmpfs ]
	[ -z "$(mi_field /b/sub fstype)" ]
}

@test "tmpfs with size= and mode=: the kernel reports them and the dir has that mode" {
	add_mount /scratch tmpfs tmpfs size=2m mode=1750 nosuid nodev noexec
	run_mountinfo 'stat -c %a /scratch'
	[ "${lines[0]}" = 1750 ]
	[ "$(mi_field /scratch fstype)" = tmpfs ]
	super="$(mi_field /scratch super)"
	has_opt "$super" size=2048k
	has_opt "$super" mode=1750
}

@test "mount flags ro, nosuid, nodev, noexec, relatime appear in mountinfo" {
	add_mount /t1 tmpfs tmpfs ro nosuid nodev noexec relatime
	add_mount /t2 tmpfs tmpfs rw noatime
	add_mount /t3 tmpfs tmpfs rw strictatime
	run_mountinfo
	opts="$(mi_field /t1 opts)"
	for o in ro nosuid nodev noexec relatime; do has_opt "$opts" $o || fail "/t1 lacks $o: $opts"; done
	opts="$(mi_field /t2 opts)"
	has_opt "$opts" rw
	has_opt "$opts" noatime
	! has_opt "$opts" nosuid || fail "/t2 is nosuid: $opts"
	opts="$(mi_field /t3 opts)"
	! has_opt "$opts" relatime || fail "/t3 is relatime: $opts"
	! has_opt "$opts" noatime || fail "/t3 is noatime: $opts"
}

@test "noexec mount: executing a file from it fails" {
	mkdir "$TEST_DIR/src"
	cp "$BUSYBOX" "$TEST_DIR/src/busybox"
	add_mount /x bind "$TEST_DIR/src" bind noexec
	add_mount /y bind "$TEST_DIR/src" bind
	ct_run '/y/busybox true && echo y-ok; /x/busybox true 2>&1; echo "rc=$?"'
	[ "${lines[0]}" = y-ok ]
	[[ "${lines[1]}" == *"Permission denied"* ]]
	[ "${lines[2]}" = "rc=126" ]
}

@test "proc, sysfs, devpts, mqueue, tmpfs and cgroup mounts have their fstypes" {
	update_config '.mounts |= map(select(.destination != "/sys/fs/cgroup"))'
	add_mount /sys/fs/cgroup cgroup cgroup nosuid noexec nodev relatime ro
	add_mount /p2 proc proc
	run_mountinfo
	[ "$(mi_field /proc fstype)" = proc ]
	[ "$(mi_field /p2 fstype)" = proc ]
	[ "$(mi_field /sys fstype)" = sysfs ]
	[ "$(mi_field /dev fstype)" = tmpfs ]
	[ "$(mi_field /dev/pts fstype)" = devpts ]
	[ "$(mi_field /dev/shm fstype)" = tmpfs ]
	[ "$(mi_field /dev/mqueue fstype)" = mqueue ]
	# cgroup v1: a tmpfs at /sys/fs/cgroup holding one cgroup mount per
	# hierarchy, each read-only as asked.
	[ "$(mi_field /sys/fs/cgroup fstype)" = tmpfs ]
	[ "$(mi_field /sys/fs/cgroup/cpu fstype)" = cgroup ]
	[ "$(mi_field /sys/fs/cgroup/memory fstype)" = cgroup ]
	has_opt "$(mi_field /sys/fs/cgroup/memory opts)" ro
	# The devpts options from the default spec.
	super="$(mi_field /dev/pts super)"
	has_opt "$super" newinstance || has_opt "$super" ptmxmode=666
	has_opt "$super" mode=620
	has_opt "$super" gid=5
}

@test "mounts are made in config order: a later mount nests inside an earlier one" {
	add_mount /data tmpfs tmpfs size=1m
	add_mount /data/sub tmpfs tmpfs size=2m
	run_mountinfo
	[ -n "$(mi_field /data id)" ]
	[ "$(mi_field /data/sub parent)" = "$(mi_field /data id)" ]
	has_opt "$(mi_field /data/sub super)" size=2048k
}

@test "a mount destination that does not exist yet is created (dir and file)" {
	mkdir "$TEST_DIR/src"
	echo filesrc >"$TEST_DIR/file-src"
	# Even on a read-only rootfs: mount points are made before the remount.
	update_config '.root.readonly = true'
	add_mount /does/not/exist/yet bind "$TEST_DIR/src" bind
	add_mount /etc/newfile bind "$TEST_DIR/file-src" bind
	[ ! -e "$BUNDLE/rootfs/does" ]
	run_mountinfo '[ -d /does/not/exist/yet ] && echo dir; cat /etc/newfile'
	[ "${lines[0]}" = dir ]
	[ "${lines[1]}" = filesrc ]
	[ -n "$(mi_field /does/not/exist/yet id)" ]
	[ -n "$(mi_field /etc/newfile id)" ]
}

@test "a symlinked mount destination pointing at a host path cannot mount or create on the host" {
	# Host paths a runtime would reach by following the links on the host.
	target_abs="$TEST_DIR/host-target"
	target_rel="$TEST_DIR/host-target-rel"
	mkdir "$target_abs" "$target_rel"
	echo keep >"$target_abs/keep"
	echo keep >"$target_rel/keep"
	ln -s "$target_abs" "$BUNDLE/rootfs/evil"
	# rootfs/evil2 -> ../../host-target-rel climbs out of the rootfs on the host.
	ln -s ../../host-target-rel "$BUNDLE/rootfs/evil2"
	ln -s ../../../../../../../.. "$BUNDLE/rootfs/evil3"
	ln -s "$TEST_DIR/missing/deeper" "$BUNDLE/rootfs/evil4"
	ln -s / "$BUNDLE/rootfs/evil5"
	update_config '.root.readonly = false'
	add_mount /evil tmpfs tmpfs size=1m
	add_mount /evil2/sub tmpfs tmpfs size=1m
	add_mount "/evil3$TEST_DIR/host-target/sub3" tmpfs tmpfs size=1m
	add_mount /evil4 tmpfs tmpfs size=1m
	add_mount "/evil5$TEST_DIR/host-target/sub5" tmpfs tmpfs size=1m
	set_cmd 'touch /evil/x /evil2/sub/x 2>/dev/null; exec sleep 100'
	runtime run -d --bundle "$BUNDLE" "$CT" || true # error or contained: both fine
	sleep 0.5
	# Nothing was mounted on or created in the host targets.
	run grep -F -e "$target_abs" -e "$target_rel" -e "$TEST_DIR/missing" /proc/self/mountinfo
	[ "$status" -eq 1 ]
	[ "$(ls -A "$target_abs")" = keep ]
	[ "$(ls -A "$target_rel")" = keep ]
	[ ! -e "$TEST_DIR/missing" ]
}

@test "a bind mount source that is a symlink is followed on the host" {
	mkdir "$TEST_DIR/real"
	echo via-link >"$TEST_DIR/real/f"
	ln -s "$TEST_DIR/real" "$TEST_DIR/link"
	add_mount /data bind "$TEST_DIR/link" bind
	ct_run 'cat /data/f'
	[ "$status" -eq 0 ]
	[ "$output" = via-link ]
}

@test "maskedPaths: a masked file reads empty, a masked dir is empty and read-only" {
	update_config '.root.readonly = false'
	mkdir -p "$BUNDLE/rootfs/secret-dir"
	echo secret >"$BUNDLE/rootfs/secret-dir/file"
	echo secret >"$BUNDLE/rootfs/secret-file"
	update_config '.linux.maskedPaths = ["/secret-file", "/secret-dir", "/proc/cmdline", "/does-not-exist"]'
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	ct_run 'echo "[$(cat /secret-file)]"; ls -A /secret-dir | wc -l; touch /secret-dir/x 2>&1; echo "rc=$?"
		echo "[$(head -c 10 /proc/cmdline)]"'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "[]" ]
	[ "${lines[1]}" = 0 ]
	[[ "${lines[2]}" == *"Read-only file system"* ]]
	[ "${lines[3]}" = "rc=1" ]
	[ "${lines[4]}" = "[]" ]
	# The bundle's files are untouched.
	[ "$(cat "$BUNDLE/rootfs/secret-file")" = secret ]
}

@test "readonlyPaths: writes under a read-only path fail, elsewhere succeed" {
	update_config '.root.readonly = false'
	mkdir -p "$BUNDLE/rootfs/ro-dir" "$BUNDLE/rootfs/rw-dir"
	update_config '.linux.readonlyPaths = ["/ro-dir", "/proc/sys"]'
	update_config '.process.capabilities.bounding += ["CAP_SYS_ADMIN"] | .process.capabilities.effective += ["CAP_SYS_ADMIN"]
		| .process.capabilities.permitted += ["CAP_SYS_ADMIN"]'
	update_config '.hostname = "before"'
	run_mountinfo 'touch /ro-dir/x 2>&1; echo "rc=$?"; touch /rw-dir/x && echo rw-ok
		echo after > /proc/sys/kernel/hostname 2>&1; echo "rc=$?"; hostname'
	[[ "${lines[0]}" == *"Read-only file system"* ]]
	[ "${lines[1]}" = "rc=1" ]
	[ "${lines[2]}" = rw-ok ]
	[[ "${lines[3]}" == *"Read-only file system"* ]]
	[ "${lines[4]}" = "rc=1" ]
	[ "${lines[5]}" = before ]
	has_opt "$(mi_field /ro-dir opts)" ro
	has_opt "$(mi_field /proc/sys opts)" ro
}

@test "without a mount namespace, delete removes the container's mounts and keeps an engine's mount on the rootfs" {
	skip_if_runc "1.1.5 leaves the container's mounts on the host"
	# An engine's own mount on the rootfs, as containerd mounts its snapshot there.
	mount --bind "$BUNDLE/rootfs" "$BUNDLE/rootfs"
	on_teardown "umount -l $BUNDLE/rootfs"
	update_config '.linux.namespaces = [] | .hostname = "" | .linux.maskedPaths = [] | .linux.readonlyPaths = []'
	before="$(grep -c " $BUNDLE/rootfs" /proc/self/mountinfo)"
	runtime run --bundle "$BUNDLE" "$CT"
	[ "$(grep -c " $BUNDLE/rootfs" /proc/self/mountinfo)" = "$before" ]
	# A create that fails before its own bind mount must not take the engine's.
	update_config '.linux.namespaces = [{"type": "user"}]
		| .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 0}]
		| .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 1}]'
	! runtime create --bundle "$BUNDLE" "$CT" || fail "create with a size-0 uid mapping succeeded"
	[ "$(grep -c " $BUNDLE/rootfs" /proc/self/mountinfo)" = "$before" ]
}

@test "a tmpfs with tmpcopyup starts with a copy of the directory it covers (podman --read-only)" {
	mkdir -p "$BUNDLE/rootfs/run/app/sub"
	echo cfg >"$BUNDLE/rootfs/run/app/conf"
	ln -s conf "$BUNDLE/rootfs/run/app/link"
	chown 1000:1000 "$BUNDLE/rootfs/run/app/conf"
	chmod 1777 "$BUNDLE/rootfs/run"
	update_config '.root.readonly = true
		| .mounts += [{"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["rw", "nosuid", "nodev", "tmpcopyup"]}]'
	ct_run 'stat -c "%a %n" /run; stat -c "%u:%g %n" /run/app/conf; cat /run/app/link; [ -d /run/app/sub ] && echo sub;
		echo new >/run/app/new && echo written; grep " /run " /proc/self/mountinfo | grep -c " - tmpfs "'
	[ "$status" -eq 0 ]
	[ "$output" = "1777 /run
1000:1000 /run/app/conf
cfg
sub
written
1" ]
	# The image is untouched.
	[ ! -e "$BUNDLE/rootfs/run/app/new" ]
}
