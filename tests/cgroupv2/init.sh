#!/bin/sh
# The guest's /init (busybox sh, pid 1), put in the initramfs by run.sh. It runs twice:
#
#   stage 1, on the initramfs: copies the tree to a tmpfs and switch_roots to it. The initramfs
#     is the rootfs mount, which has no parent mount, and pivot_root(2) refuses a root without
#     one (EINVAL), so a container could not pivot_root out of it.
#   stage 2, on the tmpfs: mounts proc, sysfs, devtmpfs and cgroup2 at /sys/fs/cgroup (cgroup v2
#     alone: no v1 hierarchy is mounted), enables every controller the kernel offers for the
#     children of the root cgroup, runs the test binary, prints the marker line run.sh waits for
#     and powers off.
#
# run.sh reads exactly this line for the result; keep the two in step:
#   nebulon-cgroupv2: tests exited with status N
set -u
PATH=/usr/bin:/bin:/usr/sbin:/sbin
export PATH

if [ "${1:-}" != stage2 ]; then
	# stdio is the initramfs's /dev/console, which run.sh packs: nothing is mounted yet.
	mount -t tmpfs -o mode=0755 tmpfs /newroot || { echo "nebulon-cgroupv2: mount tmpfs failed"; poweroff -f; }
	for d in /*; do
		case "$d" in /dev | /proc | /sys | /newroot) mkdir -p "/newroot$d" ;; *) cp -a "$d" /newroot/ ;; esac
	done
	exec switch_root /newroot /init stage2
fi

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
# nsdelegate and memory_recursiveprot are what systemd mounts cgroup2 with on v2 hosts.
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup

# The root cgroup may hold processes and still enable controllers (the no-internal-process rule
# exempts it), so pid 1 and the test binary stay in it and the containers get every controller.
read -r controllers </sys/fs/cgroup/cgroup.controllers
for c in $controllers; do
	echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || echo "nebulon-cgroupv2: cannot enable controller $c"
done
# Modules run.sh took from the kernel package, named NN-name.ko in their load order (brd: a RAM
# block device for the io tests; the others are CRIU's).
for m in /lib/modules/*.ko; do
	[ -e "$m" ] || continue
	case "$m" in *-brd.ko) insmod "$m" rd_nr=1 rd_size=8192 ;; *) insmod "$m" || echo "nebulon-cgroupv2: insmod $m failed" ;; esac
done
ip link set lo up 2>/dev/null

echo # the firmware leaves the console mid-line
hv=$(dmesg | sed -n 's/.*Hypervisor detected: //p' | head -n 1)
echo "nebulon-cgroupv2: kernel $(uname -r), $(nproc) cpus, $(sed -n 's/MemTotal: *//p' /proc/meminfo), hypervisor: ${hv:-none (TCG)}"
echo "nebulon-cgroupv2: controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"

set -- -test.v
if [ -f /etc/cgroupv2-test-args ]; then
	while IFS= read -r a; do set -- "$@" "$a"; done </etc/cgroupv2-test-args
fi
cd /tmp || exit 1
# run.sh leaves this marker where it copied criu in; without it the checkpoint tests skip.
if [ -e /etc/nebulon-criu ]; then
	NEBULON_CRIU_TEST=1
	export NEBULON_CRIU_TEST
fi
NEBULON_CGROUPV2_TEST=1 NEBULON=/usr/bin/nebulon NEBULON_ROOTFS=/usr/share/nebulon/rootfs \
	/usr/bin/cgroupv2.test "$@"
status=$?
echo "nebulon-cgroupv2: tests exited with status $status"
sync
poweroff -f
