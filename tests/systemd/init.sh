#!/bin/sh
# The /init of the systemd guest's initramfs (busybox sh), put there by run.sh: loads the virtio
# modules the cloud kernel builds as modules, mounts the root image (the first virtio disk) and
# hands over to systemd as PID 1.
PATH=/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
while read -r m; do
	insmod "/lib/modules/$m" || echo "nebulon-systemd: insmod $m failed"
done </lib/modules/order
i=0
while [ ! -b /dev/vda ] && [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
if ! mount -t ext4 /dev/vda /newroot; then
	echo "nebulon-systemd: cannot mount the root image /dev/vda"
	poweroff -f
fi
umount /proc /sys
umount /dev
exec switch_root /newroot /lib/systemd/systemd
