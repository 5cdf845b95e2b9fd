#!/usr/bin/env bats
# Default devices, /dev symlinks, linux.devices and the devices cgroup.

load helpers

# add_device PATH TYPE MAJOR MINOR MODE UID GID
add_device() {
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.devices += [{"path": $p, "type": $t, "major": ($ma|tonumber),
		"minor": ($mi|tonumber), "fileMode": ($mo|tonumber), "uid": ($u|tonumber), "gid": ($g|tonumber)}]' \
		--arg p "$1" --arg t "$2" --arg ma "$3" --arg mi "$4" --arg mo "$5" --arg u "$6" --arg g "$7"
}

# allow_device TYPE MAJOR MINOR: a devices-cgroup allow rule.
allow_device() {
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.resources.devices += [{"allow": true, "type": $t,
		"major": ($ma|tonumber), "minor": ($mi|tonumber), "access": "rwm"}]' \
		--arg t "$1" --arg ma "$2" --arg mi "$3"
}

@test "default devices exist as character devices with the right major:minor and mode 666" {
	# stat %t:%T prints major:minor in hex; all of these are < 10.
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	ct_run 'for d in null zero full random urandom tty; do stat -c "%n %F %t:%T %a" /dev/$d; done'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "/dev/null character special file 1:3 666" ]
	[ "${lines[1]}" = "/dev/zero character special file 1:5 666" ]
	[ "${lines[2]}" = "/dev/full character special file 1:7 666" ]
	[ "${lines[3]}" = "/dev/random character special file 1:8 666" ]
	[ "${lines[4]}" = "/dev/urandom character special file 1:9 666" ]
	[ "${lines[5]}" = "/dev/tty character special file 5:0 666" ]
}

@test "default devices work: null swallows, zero reads zeros, full returns ENOSPC, urandom reads" {
	ct_run 'echo x > /dev/null && echo null-ok
		head -c 4 /dev/zero | od -An -tx1 | tr -d " "
		echo x 2>&1 >/dev/full; echo "full-rc=$?"
		head -c 16 /dev/urandom | wc -c'
	[ "${lines[0]}" = null-ok ]
	[ "${lines[1]}" = 00000000 ]
	[[ "${lines[2]}" == *"No space left on device"* ]]
	[ "${lines[3]}" = "full-rc=1" ]
	[ "${lines[4]}" = 16 ]
}

@test "/dev has the fd, stdin, stdout, stderr and ptmx symlinks" {
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	ct_run 'for l in fd stdin stdout stderr ptmx; do echo "$l -> $(readlink /dev/$l)"; done'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "fd -> /proc/self/fd" ]
	[ "${lines[1]}" = "stdin -> /proc/self/fd/0" ]
	[ "${lines[2]}" = "stdout -> /proc/self/fd/1" ]
	[ "${lines[3]}" = "stderr -> /proc/self/fd/2" ]
	[ "${lines[4]}" = "ptmx -> pts/ptmx" ]
}

@test "/dev holds only the default devices, no host devices" {
	ct_run 'ls /dev | tr "\n" " "'
	[ "$status" -eq 0 ]
	[ "$output" = "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero " ]
}

@test "linux.devices adds /dev/fuse with the given major, minor, mode and owner" {
	add_device /dev/fuse c 10 229 438 0 0
	allow_device c 10 229
	ct_run 'stat -c "%F %t:%T %a %u %g" /dev/fuse'
	[ "$status" -eq 0 ]
	# 10:229 is a:e5 in hex; fileMode 438 is 0666.
	[ "$output" = "character special file a:e5 666 0 0" ]
}

@test "linux.devices creates a char device with custom mode, uid and gid (even in a new dir)" {
	# 1:3 is the null device, so the container can also use it.
	add_device /dev/sub/mynull c 1 3 416 1000 1001
	# The owner may write it (root without CAP_DAC_OVERRIDE may not).
	update_config '.process.user = {"uid": 1000, "gid": 1001}'
	ct_run 'stat -c "%F %t:%T %a %u %g" /dev/sub/mynull; echo data > /dev/sub/mynull && echo write-ok'
	[ "$status" -eq 0 ]
	# fileMode 416 is 0640.
	[ "${lines[0]}" = "character special file 1:3 640 1000 1001" ]
	[ "${lines[1]}" = write-ok ]
}

@test "the devices cgroup denies a device node that resources.devices does not allow" {
	# /dev/mem (1:1) is created but no rule allows it.
	add_device /dev/mem-ish c 1 1 432 0 0
	ct_run 'head -c1 /dev/mem-ish 2>&1; echo "rc=$?"'
	[[ "${lines[0]}" == *"Operation not permitted"* ]]
	[ "${lines[1]}" = "rc=1" ]
}

@test "a node made with mknod inside can be opened only if the devices cgroup allows it" {
	update_config '.process.capabilities.bounding += ["CAP_MKNOD"] | .process.capabilities.effective += ["CAP_MKNOD"]
		| .process.capabilities.permitted += ["CAP_MKNOD"] | .root.readonly = false'
	ct_run 'mknod /tmp/mem c 1 1; head -c1 /tmp/mem 2>&1; echo "rc=$?"
		mknod /tmp/nul c 1 3 && echo x > /tmp/nul && echo allowed-ok'
	[[ "${lines[0]}" == *"Operation not permitted"* ]]
	[ "${lines[1]}" = "rc=1" ]
	[ "${lines[2]}" = allowed-ok ]
}
