#!/usr/bin/env bash
# Configures the guest's root filesystem that run.sh made with debootstrap: ROOT is its directory.
# It runs once per image (run.sh names the image by a hash of this file). Nothing here starts a
# service on the host: systemctl --root only makes the links.
#
#   - nebulon-tests.service mounts the payload disk (nebulon, the suite, guest-run.sh) read-only
#     at /payload once the system is up, runs /payload/guest-run.sh, writing to the serial
#     console, and powers the guest off, also when the payload cannot be run;
#   - podman uses nebulon with cgroup_manager = "systemd"; containerd's CRI runtime is nebulon
#     with SystemdCgroup = true (the tests start containerd themselves);
#   - what would only slow the boot or write to the console is masked.
set -euo pipefail
root=${1:?usage: setup-rootfs.sh ROOT}

echo nebulon-guest >"$root/etc/hostname"
# The initramfs mounted the root; there is no udev to make device units for a mount to wait on,
# so the payload disk is mounted by the test unit itself.
echo "# the root is mounted by the initramfs (tests/systemd/init.sh)" >"$root/etc/fstab"
mkdir -p "$root/payload"

cat >"$root/etc/systemd/system/nebulon-tests.service" <<'UNIT'
[Unit]
Description=nebulon: the systemd cgroup driver suite
After=multi-user.target dbus.service

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'if mount -o ro /dev/vdb /payload; then /payload/guest-run.sh; else echo "nebulon-systemd: cannot mount the payload disk /dev/vdb"; fi; systemctl poweroff --force --force'
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0

[Install]
WantedBy=multi-user.target
UNIT
systemctl --root="$root" enable nebulon-tests.service
# containerd is started by the tests that use it.
systemctl --root="$root" disable containerd.service 2>/dev/null || true
for u in serial-getty@ttyS0.service getty@tty1.service apt-daily.timer apt-daily-upgrade.timer \
	e2scrub_all.timer e2scrub_reap.service fstrim.timer podman-restart.service podman-auto-update.timer; do
	systemctl --root="$root" mask "$u"
done

mkdir -p "$root/etc/containers"
cat >"$root/etc/containers/containers.conf" <<'CONF'
[engine]
cgroup_manager = "systemd"
events_logger = "file"
runtime = "nebulon"

[engine.runtimes]
nebulon = ["/payload/nebulon"]
CONF

mkdir -p "$root/etc/containerd"
cat >"$root/etc/containerd/config.toml" <<'CONF'
version = 2

[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "nebulon"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nebulon]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nebulon.options]
  BinaryName = "/payload/nebulon"
  SystemdCgroup = true
CONF
