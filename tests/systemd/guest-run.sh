#!/bin/sh
# Runs in the systemd guest as nebulon-tests.service (setup-rootfs.sh); its output is the serial
# console that run.sh reads. It runs the cgroup v2 suite with the systemd driver and powers off;
# on the hybrid boot (nebulon.cgroups=hybrid on the kernel command line) the suite runs its v1
# tests of the driver alone (NEBULON_CGROUPV2_SYSTEMD_V1=1), and then the integration suite's
# cgroup tests (tests/integration/cgroups.bats) with --systemd-cgroup, when the payload has them;
# on the v2 boot, part of the CRI suite (tests/cri) with SystemdCgroup = true.
#
# run.sh reads exactly this line for the result (non-zero when either suite failed); keep the
# two in step:
#   nebulon-systemd: tests exited with status N
# A RAM block device for the device and io tests, as in the cgroup v2 guest.
modprobe brd rd_nr=1 rd_size=8192 || echo "nebulon-systemd: modprobe brd failed"
echo
echo "nebulon-systemd: kernel $(uname -r), $(nproc) cpus, $(systemctl --version | head -n 1), cgroup $(stat -f -c %T /sys/fs/cgroup)"
set -- -test.v
while IFS= read -r a; do set -- "$@" "$a"; done </payload/test-args
cd /tmp || exit 1
v1=0
case " $(cat /proc/cmdline) " in *" nebulon.cgroups=hybrid "*) v1=1 ;; esac
# A watchdog: a minute before run.sh kills this boot (its timeout, counted from the boot, is in
# /payload/timeout), print what every process is doing and waiting on, the kernel's blocked
# tasks (sysrq w), and the Go suite's goroutines (SIGQUIT), so that a hang says where it is.
budget=$(cat /payload/timeout)
up=$(cut -d. -f1 /proc/uptime)
watchdog=
if [ $((budget - up - 60)) -gt 0 ]; then
	(
		sleep $((budget - up - 60))
		echo "nebulon-systemd: watchdog: the boot ends in a minute; every process and its wait channel:"
		ps -eo pid,ppid,stat,wchan:32,etime,args
		# The blocked tasks print at KERN_INFO, which the console's level (quiet) leaves out.
		dmesg -n 7
		echo w >/proc/sysrq-trigger
		[ ! -e /tmp/suite.pid ] || kill -QUIT "$(cat /tmp/suite.pid)"
	) &
	watchdog=$!
fi
NEBULON_CGROUPV2_SYSTEMD_V1=$v1 NEBULON_CGROUPV2_TEST=1 NEBULON_CGROUPV2_SYSTEMD=1 NEBULON=/payload/nebulon NB=/payload/nb NEBULON_ROOTFS=/payload/rootfs \
	/payload/cgroupv2.test "$@" &
echo $! >/tmp/suite.pid
wait $!
status=$?
rm -f /tmp/suite.pid
# The CRI suite's pods with the systemd driver (tests/cri): the pod lifecycle, resources with
# v2's unified (memory QoS and swap) and an OOM kill, as a v2 Kubernetes node runs them.
if [ "$v1" = 0 ] && [ -d /payload/tests/cri ]; then
	echo "nebulon-systemd: bats $(bats --version): the CRI suite's pods with SystemdCgroup = true"
	CRI_SYSTEMD_CGROUP=1 CRI_TOOLS=/payload/cri-tools NEBULON=/payload/nebulon BUSYBOX=/payload/rootfs/bin/busybox \
		bats --tap --timing -f 'runp, stopp|container resources|OOMKilled|exec sync' /payload/tests/cri
	cri_status=$?
	echo "nebulon-systemd: cri exited with status $cri_status"
	[ "$status" -ne 0 ] || status=$cri_status
fi
if [ "$v1" = 1 ] && [ -d /payload/integration ]; then
	echo "nebulon-systemd: bats $(bats --version): cgroups.bats with --systemd-cgroup"
	SYSTEMD_CGROUP=1 RUNTIME=/payload/driver/nebulon BUSYBOX=/payload/rootfs/bin/busybox \
		bats --tap --timing /payload/integration/cgroups.bats
	bats_status=$?
	echo "nebulon-systemd: bats exited with status $bats_status"
	[ "$status" -ne 0 ] || status=$bats_status
fi
[ -z "$watchdog" ] || kill "$watchdog" 2>/dev/null
echo "nebulon-systemd: tests exited with status $status"
sync
systemctl poweroff --force --force
