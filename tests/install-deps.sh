#!/usr/bin/env bash
# Installs, with apt-get, the Debian packages that building and testing Nebulon needs, and only
# those missing: running it again changes nothing. Usage: tests/install-deps.sh [demo|test|bench|cgroupv2|systemd]
set -euo pipefail

# libseccomp-dev: nebulon links libseccomp statically (linux.seccomp).
demo=(busybox-static jq libseccomp-dev)
# procps: `nebulon ps` runs ps(1) on the host; bsdutils: script(1), for the terminal tests.
# xz-utils, zstd: tests/nb compresses images. podman, containerd: tests/engines drives them (containerd is started by the tests, not as a service).
# `make unit` runs shellcheck, which checks every bats and shell file of the tests.
# containernetworking-plugins: nb's networks, and tests/cri's pod network (its containerd, crictl and
# runc are built from Go modules by tests/cri/tools.sh). libcap2-bin (setcap), curl: tests/nb/network.bats.
# docker-registry, apache2-utils (htpasswd), openssl, curl: tests/nb/registry.bats runs a registry,
# with basic auth and a self-signed certificate.
# uidmap (newuidmap, newgidmap): tests/rootless maps a user's /etc/subuid and /etc/subgid ranges.
# criu: nebulon checkpoint/restore (tested in tests/cgroupv2's guest). iptables: the CNI plugins of
# nb's networks write their rules with it, and tests/nb/network.bats and restart.bats read them.
# slirp4netns: a rootless nb's default network (tests/nb/rootless.bats).
test=(busybox-static libseccomp-dev bats jq runc crun iproute2 criu iptables util-linux bsdutils procps podman catatonit containerd xz-utils zstd shellcheck containernetworking-plugins libcap2-bin curl docker-registry apache2-utils openssl uidmap slirp4netns)
# make bench and bench-breakdown: the engines of `test`, perf for CPU time and counters, gnuplot
# for the report's plot, file to describe the binaries.
bench=("${test[@]}" linux-perf gnuplot-nox file)
# tests/cgroupv2/run.sh: a QEMU guest (its kernel is fetched with apt-get download, not installed);
# criu and iptables are copied into it for the checkpoint tests (CRIU fails on this host's kernel).
cgroupv2=(busybox-static qemu-system-x86 criu iptables)
# tests/systemd/run.sh: a QEMU guest booting systemd from a Debian root filesystem that debootstrap
# makes and mkfs.ext4 -d packs; depmod indexes the guest kernel's modules.
systemd=("${cgroupv2[@]}" debootstrap e2fsprogs kmod)

case "${1:-test}" in
demo) want=("${demo[@]}") ;;
test) want=("${test[@]}") ;;
bench) want=("${bench[@]}") ;;
cgroupv2) want=("${cgroupv2[@]}") ;;
systemd) want=("${systemd[@]}") ;;
*) echo "usage: $0 [demo|test|bench|cgroupv2|systemd]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "missing packages: ${missing[*]}; run as root to install them" >&2
	exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
