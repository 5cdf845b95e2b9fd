#!/usr/bin/env bats
# linux.resources on a cgroup v1 host, every field proven from inside the
# container and read back on the host (/sys/fs/cgroup/<ctrl>/<cgroupsPath>/),
# plus cgroupsPath, pause/resume, update, events, ps and kill --all.
#
# With SYSTEMD_CGROUP=1, $RUNTIME runs with --systemd-cgroup (tests/systemd runs
# this file so on its hybrid systemd guest, through a wrapper that adds the
# flag): each container is the scope system.slice/nebulon-<id>.scope, and the
# tests of cgroupfs paths skip (the driver's paths are tested in
# tests/cgroupv2/systemd*_linux_test.go).

load helpers

setup() {
	setup_bundle
	if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
		skip "cgroup v1 tests; this host is cgroup v2"
	fi
	# A cgroupsPath named after the container: both runtimes put it in the
	# same place, and teardown finds it by name. For cgroupfs an absolute
	# path; for the systemd driver a scope in system.slice.
	CG_DIR="$(cg_dir "$CT")"
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.cgroupsPath = $p' --arg p "$(cgroups_path "$CT")"
}

# cgroups_path ID: the cgroupsPath setup gives container ID.
cgroups_path() {
	if systemd_driver; then
		echo "system.slice:nebulon:$1"
	else
		echo "/$1"
	fi
}

# cg_dir ID: the cgroup (below a hierarchy's root) of container ID with that cgroupsPath.
cg_dir() {
	if systemd_driver; then
		echo "system.slice/nebulon-$1.scope"
	else
		echo "$1"
	fi
}

# systemd_driver: $RUNTIME runs with --systemd-cgroup (SYSTEMD_CGROUP=1).
systemd_driver() {
	[ "${SYSTEMD_CGROUP:-}" = 1 ]
}

# cgroupfs_only: skip a test of cgroupfs paths under the systemd driver.
cgroupfs_only() {
	if systemd_driver; then
		skip "a cgroupfs path; with --systemd-cgroup cgroupsPath is slice:prefix:name (tests/cgroupv2/systemd*_linux_test.go)"
	fi
}

# cg CTRL [FILE]: the container's cgroup directory (or a file in it) in the
# v1 hierarchy CTRL, for the cgroupsPath of setup.
cg() {
	echo "/sys/fs/cgroup/$1/$CG_DIR${2:+/$2}"
}

# start_ct [SCRIPT]: run the container detached with /host bound; it runs
# SCRIPT, then serves in_ct requests until it is killed.
# shellcheck disable=SC2120 # SCRIPT is optional: most callers pass none
start_ct() {
	use_host_dir
	set_cmd "$1
		touch /host/ready
		while :; do
			if [ -e /host/cmd ]; then
				sh /host/cmd >/host/out.tmp 2>&1
				echo \"rc=\$?\" >>/host/out.tmp
				rm /host/cmd
				mv /host/out.tmp /host/out
			fi
			sleep 0.05
		done"
	run_detached
	wait_for_file "$HOST_DIR/ready"
}

# in_ct SCRIPT: run SCRIPT with sh inside the container start_ct started (the
# runtimes here have no exec); its output and then "rc=N" land in $output.
in_ct() {
	rm -f "$HOST_DIR/out"
	printf '%s\n' "$1" >"$HOST_DIR/cmd.tmp"
	mv "$HOST_DIR/cmd.tmp" "$HOST_DIR/cmd"
	wait_for_file "$HOST_DIR/out" || return 1
	output="$(cat "$HOST_DIR/out")"
	mapfile -t lines <"$HOST_DIR/out"
	echo "in container: $1 -> $output"
}

# own_cgroup CTRL: this shell's (and so the runtime's) cgroup in hierarchy CTRL.
own_cgroup() {
	awk -F: -v c="$1" '$2 == c {print $3}' /proc/self/cgroup
}

# create_fails FIELD: create must fail, stderr must name FIELD, and nothing
# may be left behind.
create_fails() {
	snapshot_host
	run --separate-stderr runtime create --bundle "$BUNDLE" "$CT"
	[ "$status" -ne 0 ] || fail "create succeeded" || return 1
	# shellcheck disable=SC2154 # set by bats' run
	[[ "$stderr" == *"$1"* ]] || fail "stderr does not name $1: $stderr" || return 1
	assert_nothing_left
}

# update_fails WORD... ARGS: update must fail with stderr naming every WORD
# (case-insensitively). Words come first, then --, then the update args.
update_fails() {
	local words=() w
	while [ "$1" != -- ]; do
		words+=("$1")
		shift
	done
	shift
	run --separate-stderr runtime update "$@"
	[ "$status" -ne 0 ] || fail "update $* succeeded" || return 1
	for w in "${words[@]}"; do
		[[ "${stderr,,}" == *"${w,,}"* ]] || fail "update $*: stderr does not name '$w': $stderr" || return 1
	done
}

# runtime_stdin INPUT ARGS...: like runtime, with INPUT on standard input.
runtime_stdin() {
	local in="$1"
	shift
	timeout -k 5 "$RUNTIME_TIMEOUT" "$RUNTIME" --root "$ROOT" "$@" <<<"$in" 3>&-
}

# block_device: "NAME MAJOR:MINOR" of a real block device of this host (not
# a loop, ram or zram device).
block_device() {
	local d
	for d in /sys/block/*; do
		case "${d##*/}" in loop* | ram* | zram* | nbd* | dm-*) continue ;; esac
		[ -e "$d/dev" ] && echo "${d##*/} $(cat "$d/dev")" && return 0
	done
	return 1
}

# --- memory -----------------------------------------------------------------

@test "memory limit, reservation, swap and swappiness go to the v1 memory files and are seen inside" {
	update_config '.linux.resources.memory = {"limit": 33554432, "reservation": 16777216,
		"swap": 67108864, "swappiness": 10}'
	start_ct
	[ "$(cat "$(cg memory memory.limit_in_bytes)")" = 33554432 ]
	[ "$(cat "$(cg memory memory.soft_limit_in_bytes)")" = 16777216 ]
	[ "$(cat "$(cg memory memory.memsw.limit_in_bytes)")" = 67108864 ]
	[ "$(cat "$(cg memory memory.swappiness)")" = 10 ]
	in_ct 'cd /sys/fs/cgroup/memory && cat memory.limit_in_bytes memory.soft_limit_in_bytes \
		memory.memsw.limit_in_bytes memory.swappiness'
	[ "$output" = "$(printf '33554432\n16777216\n67108864\n10\nrc=0')" ]
}

@test "disableOOMKiller sets oom_kill_disable 1: a process at the limit waits instead of being killed" {
	# The shell doubles a string in user space: its page faults wait for
	# memory at the limit (a kernel-side charge would fail with ENOMEM).
	update_config '.linux.resources.memory = {"limit": 16777216, "disableOOMKiller": true}'
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	set_cmd 'a=aaaaaaaa; while :; do a=$a$a; done'
	run_detached
	local oom
	oom="$(cg memory memory.oom_control)"
	grep -qx "oom_kill_disable 1" "$oom"
	for _ in $(seq 100); do grep -qx "under_oom 1" "$oom" && break; sleep 0.1; done
	cat "$oom"
	grep -qx "under_oom 1" "$oom"
	sleep 0.5
	[ "$(status_of)" = running ]
	grep -qx "oom_kill 0" "$oom"
}

@test "without disableOOMKiller the OOM killer stays enabled" {
	update_config '.linux.resources.memory = {"limit": 33554432}'
	start_ct
	grep -qx "oom_kill_disable 0" "$(cg memory memory.oom_control)"
}

@test "a process that outgrows memory.limit is OOM-killed: run exits 137" {
	update_config '.linux.resources.memory = {"limit": 16777216} | .process.args = ["tail", "/dev/zero"]'
	run runtime run --bundle "$BUNDLE" "$CT"
	[ "$status" -eq 137 ]
}

@test "an OOM kill counts in memory.failcnt and events prints {\"type\":\"oom\"}" {
	use_host_dir
	update_config '.linux.resources.memory = {"limit": 16777216}'
	# The init outlives its OOM-killed child, so that the cgroup is still there to read (the
	# systemd driver's scope goes once it is empty).
	set_cmd 'while [ ! -e /host/go ]; do sleep 0.05; done; tail /dev/zero; touch /host/killed; exec sleep 1000'
	run_detached
	timeout 60 "$RUNTIME" --root "$ROOT" events --interval 200ms "$CT" \
		>"$TEST_DIR/events" 2>"$TEST_DIR/events.err" </dev/null 3>&- &
	# shellcheck disable=SC2030 # bats runs setup, the test and teardown in one process: nothing is lost
	BG_PIDS+=("$!")
	# The first stats line: events is watching.
	for _ in $(seq 50); do [ -s "$TEST_DIR/events" ] && break; sleep 0.1; done
	[ -s "$TEST_DIR/events" ]
	touch "$HOST_DIR/go"
	wait_for_file "$HOST_DIR/killed" 30
	[ "$(cat "$(cg memory memory.failcnt)")" -gt 0 ]
	for _ in $(seq 50); do grep -q '"oom"' "$TEST_DIR/events" && break; sleep 0.1; done
	cat "$TEST_DIR/events" "$TEST_DIR/events.err"
	[ "$(jq -c 'select(.type == "oom")' "$TEST_DIR/events" | head -n1)" = "{\"type\":\"oom\",\"id\":\"$CT\"}" ]
}

@test "the runtime's memory is not charged: run with memory.limit 512 KiB works in a cgroup namespace" {
	skip_if_runc "1.1.5 puts runc init in the cgroup before it sets the limit; with ~2 MiB already charged there, 'unable to set memory limit to 524288 (current usage: ...)'"
	# The default spec, runc's, has a cgroup namespace only on a cgroup v2 host.
	update_config '.linux.resources.memory = {"limit": 524288}
		| .process.args = ["cat", "/proc/self/cgroup", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
		| .linux.namespaces += [{"type": "cgroup"}]'
	run runtime run --bundle "$BUNDLE" "$CT"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -Eqx '[0-9]+:memory:/' <<<"$output"
	[ "${lines[-1]}" = 524288 ]
}

@test "the runtime's memory is not charged: run with memory.limit 512 KiB works without a cgroup namespace" {
	skip_if_runc "1.1.5 puts runc init in the cgroup before it sets the limit; with ~2 MiB already charged there, 'unable to set memory limit to 524288 (current usage: ...)'"
	update_config '.linux.resources.memory = {"limit": 524288}
		| .process.args = ["cat", "/proc/self/cgroup", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
		| .linux.namespaces |= map(select(.type != "cgroup"))'
	run runtime run --bundle "$BUNDLE" "$CT"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -Eqx "[0-9]+:memory:/$CG_DIR" <<<"$output"
	[ "${lines[-1]}" = 524288 ]
}

@test "the init's setup is not charged: a created container's memory cgroup holds under 64 KiB" {
	skip_if_runc "1.1.5 puts runc init in the cgroup before it sets the limit: ~2 MiB of it are charged there"
	# 8 MiB: a limit small enough that the systemd driver's init is the one in Go, whose runtime
	# stays alive, waiting for start, in the cgroups systemd made around it.
	update_config '.linux.resources.memory = {"limit": 8388608} | .process.args = ["true"]'
	create_ct
	# memory.stat's counts and kmem rather than memory.usage_in_bytes, which is ahead of them by
	# what each CPU has charged in advance (up to 64 pages).
	local rss cache kmem
	rss="$(awk '$1 == "rss" {print $2}' "$(cg memory memory.stat)")"
	cache="$(awk '$1 == "cache" {print $2}' "$(cg memory memory.stat)")"
	kmem="$(cat "$(cg memory memory.kmem.usage_in_bytes)")"
	echo "# charged after create: rss $rss, cache $cache, kmem $kmem" >&3
	[ $((rss + cache + kmem)) -lt 65536 ]
	runtime start "$CT"
}

@test "the smallest memory.limit (of 64K..512K) with which run of /bin/true works is found and printed" {
	skip_if_runc "1.1.5 charges ~2 MiB of runc init to the cgroup before it sets the limit: none of these limits can be set"
	local k min=
	snapshot_host
	for k in 64 96 128 192 256 512; do
		# shellcheck disable=SC2016 # $ is jq's
		update_config '.linux.resources.memory = {"limit": ($k|tonumber * 1024)} | .process.args = ["true"]
			| .linux.cgroupsPath = $p' --arg k "$k" --arg p "$(cgroups_path "$CT-$k")"
		if runtime run --bundle "$BUNDLE" "$CT-$k"; then
			min="${k}K"
			break
		fi
	done
	echo "# smallest memory.limit for run of /bin/true: ${min:-none of 64K..512K}" >&3
	[ -n "$min" ]
	assert_nothing_left
}

# --- cpu --------------------------------------------------------------------

@test "cpu shares, quota and period go to cpu.shares and cpu.cfs_* and are seen inside" {
	update_config '.linux.resources.cpu = {"shares": 512, "quota": 20000, "period": 50000}'
	start_ct
	[ "$(cat "$(cg cpu cpu.shares)")" = 512 ]
	[ "$(cat "$(cg cpu cpu.cfs_quota_us)")" = 20000 ]
	[ "$(cat "$(cg cpu cpu.cfs_period_us)")" = 50000 ]
	in_ct 'cd /sys/fs/cgroup/cpu && cat cpu.shares cpu.cfs_quota_us cpu.cfs_period_us'
	[ "$output" = "$(printf '512\n20000\n50000\nrc=0')" ]
}

@test "a busy loop under quota 10000/period 100000 is throttled and gets at most ~10% of a CPU" {
	update_config '.linux.resources.cpu = {"quota": 10000, "period": 100000}'
	set_cmd 'while :; do :; done'
	run_detached
	local u0 u1
	u0="$(cat "$(cg cpuacct cpuacct.usage)")"
	sleep 1
	u1="$(cat "$(cg cpuacct cpuacct.usage)")"
	echo "cpu used in 1 s: $(((u1 - u0) / 1000000)) ms; $(cat "$(cg cpu cpu.stat)")"
	# 10% of 1 s is 100 ms; without the quota the loop would take ~1000 ms.
	[ $((u1 - u0)) -lt 300000000 ]
	[ "$(awk '$1 == "nr_throttled" {print $2}' "$(cg cpu cpu.stat)")" -gt 0 ]
	run runtime events --stats "$CT"
	[ "$status" -eq 0 ]
	[ "$(jq '.data.cpu.throttling.throttledPeriods' <<<"$output")" -gt 0 ]
}

@test "cpus and mems go to cpuset.cpus and cpuset.mems and bound Cpus_allowed_list inside" {
	local last=$(($(nproc) - 1))
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.resources.cpu = {"cpus": $c, "mems": "0"}' --arg c "$last"
	start_ct
	[ "$(cat "$(cg cpuset cpuset.cpus)")" = "$last" ]
	[ "$(cat "$(cg cpuset cpuset.mems)")" = 0 ]
	in_ct 'grep -E "^(Cpus|Mems)_allowed_list" /proc/self/status'
	[ "${lines[0]}" = "$(printf 'Cpus_allowed_list:\t%s' "$last")" ]
	[ "${lines[1]}" = "$(printf 'Mems_allowed_list:\t0')" ]
}

@test "realtimeRuntime and realtimePeriod go to cpu.rt_runtime_us and cpu.rt_period_us" {
	[ -e /sys/fs/cgroup/cpu/cpu.rt_runtime_us ] || skip "no cpu.rt_runtime_us (kernel without RT group scheduling)"
	update_config '.linux.resources.cpu = {"realtimeRuntime": 10000, "realtimePeriod": 500000}'
	start_ct
	[ "$(cat "$(cg cpu cpu.rt_runtime_us)")" = 10000 ]
	[ "$(cat "$(cg cpu cpu.rt_period_us)")" = 500000 ]
	in_ct 'cat /sys/fs/cgroup/cpu/cpu.rt_runtime_us /sys/fs/cgroup/cpu/cpu.rt_period_us'
	[ "$output" = "$(printf '10000\n500000\nrc=0')" ]
}

@test "cpu idle goes to cpu.idle" {
	skip_if_runc "1.1.5 does not know linux.resources.cpu.idle and ignores it"
	[ -e /sys/fs/cgroup/cpu/cpu.idle ] || skip "no cpu.idle on this kernel"
	update_config '.linux.resources.cpu = {"idle": 1}'
	start_ct
	[ "$(cat "$(cg cpu cpu.idle)")" = 1 ]
	in_ct 'cat /sys/fs/cgroup/cpu/cpu.idle'
	[ "$output" = "$(printf '1\nrc=0')" ]
}

@test "cpu burst goes to cpu.cfs_burst_us" {
	skip_if_runc "1.1.5 does not know linux.resources.cpu.burst and ignores it"
	[ -e /sys/fs/cgroup/cpu/cpu.cfs_burst_us ] || skip "no cpu.cfs_burst_us on this kernel"
	update_config '.linux.resources.cpu = {"quota": 50000, "period": 100000, "burst": 20000}'
	start_ct
	[ "$(cat "$(cg cpu cpu.cfs_burst_us)")" = 20000 ]
	in_ct 'cat /sys/fs/cgroup/cpu/cpu.cfs_burst_us'
	[ "$output" = "$(printf '20000\nrc=0')" ]
}

# --- pids -------------------------------------------------------------------

@test "a fork past pids.limit fails with 'Resource temporarily unavailable'" {
	use_host_dir
	update_config '.linux.resources.pids = {"limit": 5}'
	# Two shells and three sleeps make five; the fourth sleep's fork fails,
	# and the inner shell, which a failed fork ends, reports how far it got.
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	set_cmd 'sh -c "for i in 1 2 3 4 5 6; do sleep 1000 & echo \$i >/host/forked; done" 2>/host/err
		touch /host/ready
		exec sleep 1000'
	run_detached
	wait_for_file "$HOST_DIR/ready"
	cat "$HOST_DIR/err"
	grep -q "can't fork: Resource temporarily unavailable" "$HOST_DIR/err"
	[ "$(cat "$HOST_DIR/forked")" = 3 ]
	[ "$(cat "$(cg pids pids.max)")" = 5 ]
	# The inner shell is gone: the init and three sleeps remain.
	[ "$(cat "$(cg pids pids.current)")" = 4 ]
	[ "$(wc -l <"$(cg pids cgroup.procs)")" = 4 ]
}

# --- blockIO ----------------------------------------------------------------

# blkio_file NAME...: the first of the named blkio files that a non-root
# blkio cgroup has (weight files are not on the root cgroup), or nothing.
blkio_file() {
	local probe="/sys/fs/cgroup/blkio/$CT-probe" f
	mkdir "$probe" || return 1
	for f in "$@"; do
		[ -e "$probe/$f" ] && echo "$f" && break
	done
	rmdir "$probe"
}

# throttle_json MAJ:MIN READ_BPS WRITE_BPS READ_IOPS WRITE_IOPS: a
# linux.resources.blockIO object throttling one device.
throttle_json() {
	jq -n --arg mm "$1" --argjson rb "$2" --argjson wb "$3" --argjson ri "$4" --argjson wi "$5" '
		($mm | split(":") | map(tonumber)) as [$ma, $mi]
		| {"throttleReadBpsDevice": [{"major": $ma, "minor": $mi, "rate": $rb}],
		   "throttleWriteBpsDevice": [{"major": $ma, "minor": $mi, "rate": $wb}],
		   "throttleReadIOPSDevice": [{"major": $ma, "minor": $mi, "rate": $ri}],
		   "throttleWriteIOPSDevice": [{"major": $ma, "minor": $mi, "rate": $wi}]}'
}

@test "blockIO throttle bps and iops entries for a real disk go to blkio.throttle.* and are seen inside" {
	local dev majmin
	dev="$(block_device)" || skip "no real block device in /sys/block"
	read -r _ majmin <<<"$dev"
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.resources.blockIO = $b' --argjson b "$(throttle_json "$majmin" 1048576 2097152 300 400)"
	start_ct
	[ "$(cat "$(cg blkio blkio.throttle.read_bps_device)")" = "$majmin 1048576" ]
	[ "$(cat "$(cg blkio blkio.throttle.write_bps_device)")" = "$majmin 2097152" ]
	[ "$(cat "$(cg blkio blkio.throttle.read_iops_device)")" = "$majmin 300" ]
	[ "$(cat "$(cg blkio blkio.throttle.write_iops_device)")" = "$majmin 400" ]
	in_ct 'cd /sys/fs/cgroup/blkio && cat blkio.throttle.read_bps_device blkio.throttle.write_bps_device \
		blkio.throttle.read_iops_device blkio.throttle.write_iops_device'
	[ "$output" = "$(printf '%s 1048576\n%s 2097152\n%s 300\n%s 400\nrc=0' "$majmin" "$majmin" "$majmin" "$majmin")" ]
}

@test "a read bps throttle of 1 MiB/s slows O_DIRECT reads of a block device inside to that rate" {
	# A loop device: the sandbox may refuse to open its real disks.
	truncate -s 8M "$TEST_DIR/disk.img"
	local loop majmin
	loop="$(losetup -f --show "$TEST_DIR/disk.img")" || skip "cannot set up a loop device"
	on_teardown "losetup -d $loop"
	majmin="$(cat "/sys/block/${loop#/dev/}/dev")"
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.resources.blockIO = $b
		| .linux.devices += [{"path": "/dev/blk", "type": "b", "major": ($mm|split(":")[0]|tonumber),
			"minor": ($mm|split(":")[1]|tonumber), "fileMode": 288, "uid": 0, "gid": 0}]
		| .linux.resources.devices += [{"allow": true, "type": "b", "major": ($mm|split(":")[0]|tonumber),
			"minor": ($mm|split(":")[1]|tonumber), "access": "r"}]' \
		--arg mm "$majmin" --argjson b "$(throttle_json "$majmin" 1048576 0 0 0 | jq '{throttleReadBpsDevice}')"
	start_ct
	[ "$(cat "$(cg blkio blkio.throttle.read_bps_device)")" = "$majmin 1048576" ]
	# 3 MiB at 1 MiB/s take 2 s or more (the first slice may pass at once);
	# unthrottled, milliseconds.
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	in_ct 't0=$(cut -d" " -f1 /proc/uptime)
		dd if=/dev/blk of=/dev/null bs=64k count=48 iflag=direct 2>&1 | grep "records in"
		t1=$(cut -d" " -f1 /proc/uptime)
		awk -v a="$t0" -v b="$t1" "BEGIN {print int((b - a) * 1000)}"'
	[ "${lines[-1]}" = rc=0 ]
	[ "${lines[0]}" = "48+0 records in" ]
	[ "${lines[-2]}" -ge 1500 ]
	echo "# 3 MiB read in ${lines[-2]} ms under a 1 MiB/s throttle" >&3
}

@test "blockIO.weight goes to the blkio weight file the host has" {
	local file
	file="$(blkio_file blkio.bfq.weight blkio.weight)"
	[ -n "$file" ] || skip "no blkio.weight or blkio.bfq.weight in a blkio cgroup here"
	update_config '.linux.resources.blockIO = {"weight": 500}'
	start_ct
	[[ "$(cat "$(cg blkio "$file")")" =~ ^(default\ )?500$ ]]
	in_ct "cat /sys/fs/cgroup/blkio/$file"
	[[ "${lines[0]}" =~ ^(default\ )?500$ ]]
}

@test "blockIO.weight on a host without a blkio weight file fails at create, naming the field" {
	[ -z "$(blkio_file blkio.bfq.weight blkio.weight)" ] || skip "this host has a blkio weight file"
	skip_if_runc "1.1.5 names the file, not the field: 'openat2 .../blkio.weight: no such file or directory'"
	update_config '.linux.resources.blockIO = {"weight": 500}'
	create_fails "linux.resources.blockIO.weight"
}

@test "blockIO.leafWeight on a host without blkio.leaf_weight fails at create, naming the field" {
	[ -z "$(blkio_file blkio.leaf_weight)" ] || skip "this host has blkio.leaf_weight (CFQ)"
	skip_if_runc "1.1.5 names the file, not the field: 'openat2 .../blkio.leaf_weight: no such file or directory'"
	update_config '.linux.resources.blockIO = {"leafWeight": 500}'
	create_fails "linux.resources.blockIO.leafWeight"
}

@test "a kernel memory limit the kernel accepts and ignores fails at create, naming the field" {
	skip_if_runc "1.1.5 ignores kernel memory limits with a warning"
	local probe=/sys/fs/cgroup/memory/nbt-kmem-probe-$$
	mkdir "$probe"
	echo 67108864 >"$probe/memory.kmem.limit_in_bytes" 2>/dev/null || true
	local got
	got=$(cat "$probe/memory.kmem.limit_in_bytes")
	rmdir "$probe"
	[ "$got" != 67108864 ] || skip "this kernel still enforces memory.kmem.limit_in_bytes"
	update_config '.linux.resources.memory = {"limit": 134217728, "kernel": 67108864}'
	create_fails "linux.resources.memory.kernel"
}

# --- devices ----------------------------------------------------------------

@test "the devices cgroup denies a node without a rule, allows one with a rule, and devices.list shows the rules" {
	# /dev/loop-control and /dev/fuse open for root without capabilities, so
	# only the devices cgroup can refuse them.
	update_config '.linux.devices += [
			{"path": "/dev/loop-control", "type": "c", "major": 10, "minor": 237, "fileMode": 438, "uid": 0, "gid": 0},
			{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0}]
		| .linux.resources.devices += [{"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}]'
	start_ct
	in_ct '(exec 3</dev/loop-control) 2>&1; echo "loop-control rc=$?"
		(exec 4<>/dev/fuse) && echo fuse-ok
		echo x >/dev/null && echo null-ok'
	[[ "${lines[0]}" == *"/dev/loop-control: Operation not permitted" ]]
	[ "${lines[1]}" != "loop-control rc=0" ]
	[ "${lines[2]}" = fuse-ok ]
	[ "${lines[3]}" = null-ok ]
	local list
	list="$(cat "$(cg devices devices.list)")"
	echo "$list"
	grep -qx "c 10:229 rw" <<<"$list"
	grep -qx "c 1:3 rwm" <<<"$list"
	! grep -q "^c 10:237 " <<<"$list" || fail "loop-control (c 10:237) is allowed: $list"
	! grep -qx "a \*:\* rwm" <<<"$list" || fail "every device is allowed: $list"
}

# --- what the host cannot honour -------------------------------------------

@test "hugepageLimits without a hugetlb hierarchy fails at create, naming the field" {
	[ ! -d /sys/fs/cgroup/hugetlb ] || skip "this host has a hugetlb hierarchy"
	skip_if_runc "1.1.5 says 'cannot set hugetlb limit: container could not join or create cgroup'"
	update_config '.linux.resources.hugepageLimits = [{"pageSize": "2MB", "limit": 4194304}]'
	create_fails "linux.resources.hugepageLimits"
}

@test "network.classID without a net_cls hierarchy fails at create, naming the field" {
	[ ! -d /sys/fs/cgroup/net_cls ] || skip "this host has a net_cls hierarchy"
	skip_if_runc "1.1.5 says 'cannot set net_cls limit: container could not join or create cgroup'"
	update_config '.linux.resources.network = {"classID": 1048577}'
	create_fails "linux.resources.network.classID"
}

@test "unified on a cgroup v1 host fails at create, naming the field" {
	update_config '.linux.resources.unified = {"memory.high": "33554432"}'
	create_fails "unified"
}

@test "memory.swappiness 101 fails at create, naming the field" {
	skip_if_runc "1.1.5 says 'invalid memory swappiness value: 101 (valid range is 0-100)', not the field"
	update_config '.linux.resources.memory = {"swappiness": 101}'
	create_fails "linux.resources.memory.swappiness"
}

@test "memory.swap below memory.limit fails at create, naming the field" {
	skip_if_runc "1.1.5 says 'failed to write \"16777216\": write .../memory.memsw.limit_in_bytes: invalid argument', not the field"
	update_config '.linux.resources.memory = {"limit": 33554432, "swap": 16777216}'
	create_fails "linux.resources.memory.swap"
}

# --- cgroupsPath ------------------------------------------------------------

@test "an absolute cgroupsPath is the container's cgroup in every hierarchy" {
	cgroupfs_only
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.cgroupsPath = $p | .linux.namespaces |= map(select(.type != "cgroup"))' --arg p "/$CT-abs"
	start_ct
	local pid c
	pid="$(state_of | jq -r .pid)"
	for c in cpu cpuacct cpuset memory devices freezer blkio pids; do
		[ -d "/sys/fs/cgroup/$c/$CT-abs" ] || fail "no /sys/fs/cgroup/$c/$CT-abs"
		grep -qx "$pid" "/sys/fs/cgroup/$c/$CT-abs/cgroup.procs" || fail "init $pid not in $c/$CT-abs"
	done
	in_ct 'cat /proc/self/cgroup'
	grep -qx "[0-9]*:memory:/$CT-abs" <<<"$output"
	grep -qx "[0-9]*:pids:/$CT-abs" <<<"$output"
}

@test "a relative cgroupsPath is below the runtime's own cgroup in each hierarchy" {
	cgroupfs_only
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.cgroupsPath = $p | .linux.namespaces |= map(select(.type != "cgroup"))' --arg p "$CT-rel"
	start_ct
	local c own
	in_ct 'cat /proc/self/cgroup'
	for c in cpu memory pids; do
		own="$(own_cgroup "$c")"
		[ -d "/sys/fs/cgroup/$c${own%/}/$CT-rel" ] || fail "no /sys/fs/cgroup/$c${own%/}/$CT-rel"
		grep -qx "[0-9]*:$c:${own%/}/$CT-rel" <<<"$output" || fail "container not in $c:${own%/}/$CT-rel"
	done
}

@test "an empty cgroupsPath means /<id> in every hierarchy" {
	cgroupfs_only
	skip_if_runc "1.1.5 puts an empty cgroupsPath below its own cgroup (<own>/<id>), not at /<id>"
	update_config 'del(.linux.cgroupsPath)'
	start_ct
	local c
	for c in cpu cpuacct cpuset memory devices freezer blkio pids; do
		[ -d "/sys/fs/cgroup/$c/$CT" ] || fail "no /sys/fs/cgroup/$c/$CT"
	done
}

@test "delete removes the cgroups it made after the init was killed with SIGKILL from the host" {
	update_config '.process.args = ["sleep", "1000"]'
	run_detached
	[ -d "$(cg memory)" ]
	kill -KILL "$(state_of | jq -r .pid)"
	wait_for_status "$CT" stopped
	runtime delete "$CT"
	[ -z "$(test_cgroups)" ]
}

@test "delete does not remove an existing cgroup named by cgroupsPath, only the ones it made" {
	cgroupfs_only
	skip_if_runc "1.1.5 delete removes the cgroup at cgroupsPath in every hierarchy, also one it did not make"
	mkdir "$(cg pids)" "$(cg memory)"
	update_config '.process.args = ["sleep", "1000"]'
	run_detached
	[ -d "$(cg cpu)" ]
	runtime delete --force "$CT"
	[ -d "$(cg pids)" ]
	[ -d "$(cg memory)" ]
	[ ! -d "$(cg cpu)" ]
	[ ! -d "$(cg freezer)" ]
}

# --- pause and resume -------------------------------------------------------

# start_counter: a container that counts in /host/n (atomically replaced) 20
# times a second.
start_counter() {
	use_host_dir
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	set_cmd 'i=0; while :; do i=$((i+1)); echo $i >/host/n.tmp; mv /host/n.tmp /host/n; sleep 0.05; done'
	run_detached
	wait_for_file "$HOST_DIR/n"
}

@test "pause freezes every process: paused in state and list, freezer FROZEN, the counter stops; resume thaws" {
	start_counter
	runtime pause "$CT"
	[ "$(status_of)" = paused ]
	[ "$(runtime list --format json | jq -r --arg id "$CT" '.[] | select(.id == $id) | .status')" = paused ]
	[ "$(cat "$(cg freezer freezer.state)")" = FROZEN ]
	local n0
	n0="$(cat "$HOST_DIR/n")"
	sleep 0.5
	[ "$(cat "$HOST_DIR/n")" = "$n0" ]

	runtime resume "$CT"
	[ "$(status_of)" = running ]
	[ "$(cat "$(cg freezer freezer.state)")" = THAWED ]
	for _ in $(seq 50); do [ "$(cat "$HOST_DIR/n")" != "$n0" ] && break; sleep 0.1; done
	[ "$(cat "$HOST_DIR/n")" -gt "$n0" ]
}

@test "start of a paused created container fails and leaves it paused" {
	update_config '.process.args = ["true"]'
	create_ct
	runtime pause "$CT"
	run --separate-stderr runtime start "$CT"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"cannot start a container in the paused state"* ]]
	[ "$(status_of)" = paused ]
	runtime resume "$CT"
	[ "$(status_of)" = created ]
}

@test "pause of a stopped container fails: not running" {
	run_detached
	wait_for_status "$CT" stopped
	run --separate-stderr runtime pause "$CT"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"not running"* ]]
	[ "$(status_of)" = stopped ]
}

@test "resume of a running container fails: not paused" {
	update_config '.process.args = ["sleep", "1000"]'
	run_detached
	run --separate-stderr runtime resume "$CT"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"not paused"* ]]
	[ "$(status_of)" = running ]
}

@test "delete --force of a paused container kills it and removes its cgroups" {
	start_counter
	local pid
	pid="$(state_of | jq -r .pid)"
	runtime pause "$CT"
	runtime delete --force "$CT"
	wait_for_exit "$pid"
	run runtime state "$CT"
	[ "$status" -ne 0 ]
	[ -z "$(test_cgroups)" ]
}

@test "delete without --force of a paused container fails and leaves it paused" {
	start_counter
	local pid
	pid="$(state_of | jq -r .pid)"
	runtime pause "$CT"
	run --separate-stderr runtime delete "$CT"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"not stopped"* ]]
	[ "$(status_of)" = paused ]
	kill -0 "$pid"
	[ "$(cat "$(cg freezer freezer.state)")" = FROZEN ]
}

@test "kill KILL of a paused container kills it: status stopped" {
	start_counter
	local pid
	pid="$(state_of | jq -r .pid)"
	runtime pause "$CT"
	runtime kill "$CT" KILL
	wait_for_exit "$pid"
	wait_for_status "$CT" stopped
}

# --- update -----------------------------------------------------------------

@test "update --memory, --memory-swap and --memory-reservation change the host files and the container sees them" {
	update_config '.linux.resources.memory = {"limit": 33554432, "swap": 50331648}'
	start_ct
	# Raising both past the old memory+swap limit: memory+swap goes first.
	runtime update --memory 64m --memory-swap 128m --memory-reservation 32m "$CT"
	[ "$(cat "$(cg memory memory.limit_in_bytes)")" = 67108864 ]
	[ "$(cat "$(cg memory memory.memsw.limit_in_bytes)")" = 134217728 ]
	[ "$(cat "$(cg memory memory.soft_limit_in_bytes)")" = 33554432 ]
	in_ct 'cd /sys/fs/cgroup/memory && cat memory.limit_in_bytes memory.memsw.limit_in_bytes memory.soft_limit_in_bytes'
	[ "$output" = "$(printf '67108864\n134217728\n33554432\nrc=0')" ]
	# Lowering both below the old memory limit: memory goes first.
	runtime update --memory 16m --memory-swap 24m "$CT"
	[ "$(cat "$(cg memory memory.limit_in_bytes)")" = 16777216 ]
	[ "$(cat "$(cg memory memory.memsw.limit_in_bytes)")" = 25165824 ]
}

@test "update --memory -1 without --memory-swap lifts the memory+swap limit too, as runc does" {
	# v1 keeps memory <= memory+swap; runc sets memory+swap to -1 with memory
	# when --memory-swap is not given (libcontainer/cgroups/fs/memory.go).
	update_config '.linux.resources.memory = {"limit": 33554432, "swap": 67108864} | .process.args = ["sleep", "1000"]'
	run_detached
	runtime update --memory -1 "$CT"
	local unlimited
	unlimited="$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
	[ "$(cat "$(cg memory memory.limit_in_bytes)")" = "$unlimited" ]
	[ "$(cat "$(cg memory memory.memsw.limit_in_bytes)")" = "$unlimited" ]
}

@test "update --cpu-quota, --cpu-period, --cpu-share, --cpuset-cpus and --pids-limit change the host files and the container sees them" {
	local last=$(($(nproc) - 1))
	start_ct
	runtime update --cpu-quota 30000 --cpu-period 60000 --cpu-share 256 --cpuset-cpus "$last" --pids-limit 42 "$CT"
	[ "$(cat "$(cg cpu cpu.cfs_quota_us)")" = 30000 ]
	[ "$(cat "$(cg cpu cpu.cfs_period_us)")" = 60000 ]
	[ "$(cat "$(cg cpu cpu.shares)")" = 256 ]
	[ "$(cat "$(cg cpuset cpuset.cpus)")" = "$last" ]
	[ "$(cat "$(cg pids pids.max)")" = 42 ]
	in_ct 'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us \
		/sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/pids/pids.max
		grep Cpus_allowed_list /proc/self/status'
	[ "$output" = "$(printf '30000\n60000\n256\n42\nCpus_allowed_list:\t%s\nrc=0' "$last")" ]
}

@test "update --blkio-weight changes the blkio weight file the host has" {
	local file
	file="$(blkio_file blkio.bfq.weight blkio.weight)"
	[ -n "$file" ] || skip "no blkio.weight or blkio.bfq.weight in a blkio cgroup here"
	update_config '.process.args = ["sleep", "1000"]'
	run_detached
	runtime update --blkio-weight 300 "$CT"
	[[ "$(cat "$(cg blkio "$file")")" =~ ^(default\ )?300$ ]]
}

@test "update --blkio-weight fails on a host without a blkio weight file, naming the field" {
	[ -z "$(blkio_file blkio.bfq.weight blkio.weight)" ] || skip "this host has a blkio weight file"
	skip_if_runc "1.1.5 names the file, not the field"
	update_config '.process.args = ["sleep", "1000"]'
	run_detached
	update_fails "blockIO.weight" -- --blkio-weight 500 "$CT"
}

@test "update --resources FILE applies a linux.resources JSON file" {
	start_ct
	echo '{"memory": {"limit": 50331648}, "pids": {"limit": 33}, "cpu": {"shares": 300}}' >"$TEST_DIR/res.json"
	runtime update --resources "$TEST_DIR/res.json" "$CT"
	[ "$(cat "$(cg memory memory.limit_in_bytes)")" = 50331648 ]
	[ "$(cat "$(cg pids pids.max)")" = 33 ]
	[ "$(cat "$(cg cpu cpu.shares)")" = 300 ]
	in_ct 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max'
	[ "$output" = "$(printf '50331648\n33\nrc=0')" ]
}

@test "update --resources - reads linux.resources JSON from standard input" {
	start_ct
	runtime_stdin '{"memory": {"limit": 41943040}, "cpu": {"quota": 25000, "period": 100000}}' \
		update --resources - "$CT"
	[ "$(cat "$(cg memory memory.limit_in_bytes)")" = 41943040 ]
	[ "$(cat "$(cg cpu cpu.cfs_quota_us)")" = 25000 ]
	in_ct 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us'
	[ "$output" = "$(printf '41943040\n25000\nrc=0')" ]
}

@test "a failing update (--memory 256m --cpu-share 333 --cpuset-cpus 0-999) leaves the old limits" {
	update_config '.linux.resources.memory = {"limit": 134217728} | .linux.resources.cpu = {"shares": 1000}
		| .process.args = ["sleep", "1000"]'
	run_detached
	local cpus
	cpus="$(cat "$(cg cpuset cpuset.cpus)")"
	update_fails "cpu" -- --memory 256m --cpu-share 333 --cpuset-cpus 0-999 "$CT"
	[ "$(cat "$(cg memory memory.limit_in_bytes)")" = 134217728 ]
	[ "$(cat "$(cg cpu cpu.shares)")" = 1000 ]
	[ "$(cat "$(cg cpuset cpuset.cpus)")" = "$cpus" ]
}

@test "update --memory lots is a clear error naming the flag and the value" {
	update_config '.process.args = ["sleep", "1000"]'
	run_detached
	local before
	before="$(cat "$(cg memory memory.limit_in_bytes)")"
	update_fails memory lots -- --memory lots "$CT"
	[ "$(cat "$(cg memory memory.limit_in_bytes)")" = "$before" ]
}

@test "update of a stopped container fails" {
	run_detached
	wait_for_status "$CT" stopped
	update_fails "not running" -- --memory 64m "$CT"
}

@test "update --l3-cache-schema is a clear error naming Intel RDT" {
	update_config '.process.args = ["sleep", "1000"]'
	run_detached
	update_fails "l3" "Intel RDT" -- --l3-cache-schema "L3:0=f" "$CT"
}

# --- events -----------------------------------------------------------------

@test "events --stats prints one stats line whose cpu, memory and pids match the host files" {
	update_config '.linux.resources.memory = {"limit": 67108864} | .linux.resources.pids = {"limit": 100}'
	use_host_dir
	set_cmd 'sleep 1000 & sleep 1000 & touch /host/ready; wait'
	run_detached
	wait_for_file "$HOST_DIR/ready"
	run --separate-stderr runtime events --stats "$CT"
	[ "$status" -eq 0 ]
	echo "$output"
	[ "${#lines[@]}" -eq 1 ]
	[ "$(jq -r .type <<<"$output")" = stats ]
	[ "$(jq -r .id <<<"$output")" = "$CT" ]
	[ "$(jq .data.pids.current <<<"$output")" = "$(cat "$(cg pids pids.current)")" ]
	[ "$(jq .data.pids.current <<<"$output")" = 3 ]
	[ "$(jq .data.pids.limit <<<"$output")" = 100 ]
	[ "$(jq .data.memory.usage.limit <<<"$output")" = 67108864 ]
	local usage max cpu
	usage="$(jq .data.memory.usage.usage <<<"$output")"
	max="$(cat "$(cg memory memory.max_usage_in_bytes)")"
	[ "$usage" -gt 0 ] && [ "$usage" -le "$max" ]
	cpu="$(jq .data.cpu.usage.total <<<"$output")"
	[ "$cpu" -gt 0 ] && [ "$cpu" -le "$(cat "$(cg cpuacct cpuacct.usage)")" ]
}

@test "events --interval 200ms prints stats lines until the container stops, then exits 0" {
	skip_if_runc "1.1.5 events keeps printing the stopped container's last stats and never exits"
	update_config '.process.args = ["sleep", "1.5"]'
	run_detached
	run --separate-stderr runtime events --interval 200ms "$CT"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -ge 3 ]
	[ "$(jq -r .type <<<"$output" | sort -u)" = stats ]
	[ "$(jq -r .id <<<"$output" | sort -u)" = "$CT" ]
	[ "$(status_of)" = stopped ]
}

# --- ps ---------------------------------------------------------------------

# start_three: a container of three processes (sh, two sleeps) that do not
# change; sets PIDS to their host pids, sorted.
start_three() {
	use_host_dir
	set_cmd 'sleep 1000 & sleep 1001 & touch /host/ready; wait'
	run_detached
	wait_for_file "$HOST_DIR/ready"
	PIDS="$(sort -n "$(cg pids cgroup.procs)")"
	[ "$(wc -l <<<"$PIDS")" -eq 3 ]
}

@test "ps prints ps's header and exactly the container's processes by host pid" {
	start_three
	run --separate-stderr runtime ps "$CT"
	echo "$output"
	[ "$status" -eq 0 ]
	local col
	col="$(awk 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == "PID") print i}' <<<"$output")"
	[ -n "$col" ]
	[ "$(tail -n +2 <<<"$output" | awk -v c="$col" '{print $c}' | sort -n)" = "$PIDS" ]
	grep -q "sleep 1001" <<<"$output"
}

@test "ps --format json prints the container's host pids as a JSON array" {
	start_three
	run --separate-stderr runtime ps --format json "$CT"
	[ "$status" -eq 0 ]
	[ "$(jq -r 'type' <<<"$output")" = array ]
	[ "$(jq '.[]' <<<"$output" | sort -n)" = "$PIDS" ]
}

@test "ps ID -o pid,comm passes the options to ps" {
	start_three
	run --separate-stderr runtime ps "$CT" -o pid,comm
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^\ *PID\ +COMMAND$ ]]
	[ "$(tail -n +2 <<<"$output" | awk '{print $2}' | sort | tr '\n' ' ')" = "sh sleep sleep " ]
	[ "$(tail -n +2 <<<"$output" | awk '{print $1}' | sort -n)" = "$PIDS" ]
}

@test "ps lists only the container's processes when cgroupsPath names a cgroup shared with a host process" {
	cgroupfs_only
	skip_if_runc "1.1.5 lists every process in the cgroup, the host's too"
	local cg="/sys/fs/cgroup/pids/$CT-shared"
	mkdir "$cg"
	sleep 1000 &
	local host_pid=$!
	# shellcheck disable=SC2031 # bats runs setup, the test and teardown in one process: nothing is lost
	BG_PIDS+=("$host_pid")
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.linux.cgroupsPath = $p | .process.args = ["sleep", "1001"]' --arg p "/$CT-shared"
	run_detached
	# The host process joins after create, which refuses a cgroup that is not empty.
	echo "$host_pid" >"$cg/cgroup.procs"
	run --separate-stderr runtime ps --format json "$CT"
	[ "$status" -eq 0 ]
	[ "$(jq -c . <<<"$output")" = "[$(state_of | jq -r .pid)]" ]
	run --separate-stderr runtime ps "$CT"
	[ "$status" -eq 0 ]
	! grep -q "sleep 1000" <<<"$output" || fail "ps lists the host's process: $output"
	grep -q "sleep 1001" <<<"$output"
}

# --- kill --all ---------------------------------------------------------------

@test "kill --all signals every process in the cgroup; kill without it only the init" {
	use_host_dir
	# Each shell records the USR1 it gets; the init shell waits in a loop so
	# its trap runs.
	set_cmd 'sh -c "trap \"touch /host/got-a; exit\" USR1; while :; do sleep 0.1; done" &
		sh -c "trap \"touch /host/got-b; exit\" USR1; while :; do sleep 0.1; done" &
		trap "touch /host/got-init" USR1
		touch /host/ready
		while :; do sleep 0.1; done'
	run_detached
	wait_for_file "$HOST_DIR/ready"
	runtime kill "$CT" USR1
	wait_for_file "$HOST_DIR/got-init"
	sleep 0.3
	[ ! -e "$HOST_DIR/got-a" ] && [ ! -e "$HOST_DIR/got-b" ]
	rm "$HOST_DIR/got-init"

	runtime kill --all "$CT" USR1
	wait_for_file "$HOST_DIR/got-init"
	wait_for_file "$HOST_DIR/got-a"
	wait_for_file "$HOST_DIR/got-b"
}

@test "a systemd slice:prefix:name cgroupsPath without --systemd-cgroup fails at create, naming the flag" {
	cgroupfs_only
	skip_if_runc "1.1.5 takes the path as a cgroupfs path"
	update_config '.linux.cgroupsPath = "system.slice:nebulon:test"'
	create_fails "--systemd-cgroup"
}

@test "--systemd-cgroup fails at create, saying why, when systemd is not PID 1" {
	[ "$(cat /proc/1/comm)" != systemd ] || skip "systemd is PID 1 on this host"
	update_config '.linux.cgroupsPath = "system.slice:nebulon:test"'
	snapshot_host
	run --separate-stderr runtime --systemd-cgroup create --bundle "$BUNDLE" "$CT"
	[ "$status" -ne 0 ] || fail "create succeeded"
	if is_runc; then
		[[ "$stderr" == *"systemd"* ]] || fail "stderr does not name systemd: $stderr"
	else
		[[ "$stderr" == *"systemd is not running as PID 1"* ]] || fail "stderr does not say why: $stderr"
	fi
	assert_nothing_left
}

@test "--systemd-cgroup as root of a user namespace with no user bus asks the system's systemd, as runc" {
	# Root of an LXD, Incus, rootless kind or sysbox container (a user namespace mapping 0 to a
	# user of the host) runs its engines with the systemd driver against its own systemd on the
	# system bus, and has no user bus. Here a pid namespace whose PID 1 is called systemd stands
	# for that container; there is no systemd on its system bus, so create fails, naming it.
	[ "$(cat /proc/1/comm)" != systemd ] || skip "systemd is PID 1 on this host"
	command -v setpriv >/dev/null || skip "no setpriv"
	update_config '.linux.cgroupsPath = "system.slice:nebulon:test"'
	local nsroot="$TEST_DIR/nsroot"
	mkdir "$nsroot" && chown 65534:65534 "$nsroot"
	printf '#!/bin/sh\n"$@"\n' >"$TEST_DIR/systemd" && chmod 0755 "$TEST_DIR/systemd"
	snapshot_host
	run --separate-stderr env -u DBUS_SESSION_BUS_ADDRESS -u XDG_RUNTIME_DIR \
		timeout -k 5 "$RUNTIME_TIMEOUT" setpriv --reuid=65534 --regid=65534 --clear-groups \
		unshare -Urpf --mount-proc "$TEST_DIR/systemd" \
		"$RUNTIME" --root "$nsroot" --systemd-cgroup create --bundle "$BUNDLE" "$CT"
	[ "$status" -ne 0 ] || fail "create succeeded"
	[[ "$stderr" != *"user's"* && "$stderr" != *DBUS_SESSION_BUS_ADDRESS* ]] || fail "the user's systemd was asked for: $stderr"
	if ! is_runc; then
		[[ "$stderr" == *"the system bus"* ]] || fail "stderr does not name the system bus: $stderr"
	fi
	[ -z "$(ls -A "$nsroot")" ] || fail "state left: $(ls -A "$nsroot")"
	assert_nothing_left
}
