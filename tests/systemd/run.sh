#!/usr/bin/env bash
# Boots a Debian guest with systemd as PID 1 under QEMU, and runs there the cgroup v2 suite
# (tests/cgroupv2) with nebulon's systemd cgroup driver (--systemd-cgroup), its tests of the
# driver, podman (cgroup_manager = "systemd") and containerd (SystemdCgroup = true) running
# containers on nebulon, and the CRI suite's pods (tests/cri: containerd 2 and crictl, the
# handlers with SystemdCgroup = true): one boot with cgroup v2 alone, then one with cgroup v1 (hybrid), for
# the driver's v1 tests and the integration suite's cgroup tests (tests/integration/cgroups.bats,
# a v1 suite) with --systemd-cgroup. Run as root, from anywhere:
#
#   tests/systemd/run.sh                       # the whole suite
#   tests/systemd/run.sh -run 'Systemd|Podman' # go test flags are passed on
#   NEBULON_SYSTEMD_BATS=0 tests/systemd/run.sh  # without cgroups.bats
#   NEBULON_SYSTEMD_CRI=0 tests/systemd/run.sh   # without the CRI suite's pods
#
# What it does:
#   1. installs qemu-system-x86, busybox-static, debootstrap, e2fsprogs and kmod if missing
#      (tests/install-deps.sh systemd);
#   2. fetches Debian's cloud kernel with `apt-get download` (tests/lib/guest.bash), not
#      installed, into $NEBULON_SYSTEMD_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/nebulon-systemd);
#   3. builds the guest's root filesystem once and caches it: debootstrap of Debian bookworm with
#      systemd, dbus, podman and containerd from the apt archive, the kernel's modules, and the
#      configuration of setup-rootfs.sh, packed into an ext4 image by mkfs.ext4 -d. The image is
#      named by a hash of what makes it, so a change to the package list or setup-rootfs.sh
#      builds a new one;
#   4. builds bin/nebulon and bin/nb (`make build`) unless NEBULON_BIN names a static binary
#      (with nb beside it, or NB_BIN), the suite as a static test binary, and packs them with a busybox root filesystem for the containers and
#      guest-run.sh into a second ext4 image;
#   5. boots the kernel with a small initramfs (init.sh: loads the virtio modules, mounts the
#      root image and hands over to systemd). The root image is attached with snapshot=on: the
#      guest's writes go to a temporary file, and the cached image stays as built. systemd runs
#      nebulon-tests.service, which runs guest-run.sh and powers off; the console is streamed
#      here. Twice, at once: cgroup v2 and hybrid, each console printed whole when its boot
#      ends. The run fails if either boot's tests do.
#
# Each boot that does not report within NEBULON_SYSTEMD_TIMEOUT seconds (default 1200; the boots
# took 670 to 800 s side by side on the 2-CPU development VM) is killed
# and the run fails; a minute before, the guest prints what every process is waiting on
# (guest-run.sh). NEBULON_SYSTEMD_ACCEL=tcg forces software emulation.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${NEBULON_SYSTEMD_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/nebulon-systemd}
timeout_s=${NEBULON_SYSTEMD_TIMEOUT:-1200}
accel=${NEBULON_SYSTEMD_ACCEL:-}
mirror=${NEBULON_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
# The guest's packages. containernetworking-plugins provides podman's container-network-stack,
# a virtual package debootstrap does not resolve by itself.
# bats and jq run the integration suite's cgroup tests on the hybrid boot.
packages=systemd-sysv,dbus,dbus-user-session,uidmap,podman,containernetworking-plugins,containerd,kmod,iproute2,procps,bats,jq
# The virtio modules init.sh loads, in order, to reach the disks (the cloud kernel builds them
# as modules; ext4 is built in).
initrd_modules=(drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko
	drivers/virtio/virtio_pci_legacy_dev.ko drivers/virtio/virtio_pci_modern_dev.ko
	drivers/virtio/virtio_pci.ko drivers/block/virtio_blk.ko)
marker='nebulon-systemd: tests exited with status'

die() {
	echo "systemd: $*" >&2
	exit 1
}

log() { echo "systemd: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "run as root: it runs debootstrap and packs device nodes"
"$repo/tests/install-deps.sh" systemd
# shellcheck source=tests/lib/guest.bash
. "$repo/tests/lib/guest.bash"

mkdir -p "$cache"
if [ ! -f "$cache/kernel/version" ]; then
	guest_fetch_kernel "$cache/kernel.new"
	rm -rf "$cache/kernel"
	mv "$cache/kernel.new" "$cache/kernel"
fi
kver=$(cat "$cache/kernel/version")
kdir=$cache/kernel/x
log "kernel: $(cat "$cache/kernel/package") (cached in $cache/kernel)"

work=$(mktemp -d /tmp/nebulon-systemd.XXXXXX)
declare -A boots=() # the boots running: their subshells' pids to their names
build=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	# The boots' subshells end their guests (their EXIT traps); wait for them before their
	# files go. Each guest is bounded by timeout -k 5.
	local pids name
	pids=$(jobs -p)
	if [ -n "$pids" ]; then
		# shellcheck disable=SC2086 # one pid a word
		kill $pids 2>/dev/null || true
		wait
	fi
	# A run ended early (a signal, a failure) still shows the end of each console not printed.
	for name in "${boots[@]}"; do
		[ -f "$work/console-$name.log" ] || continue
		echo "systemd: ---- the end of the $name boot's console, unfinished ----"
		tail -n 300 "$work/console-$name.log"
	done
	rm -rf "$work"
	[ -z "$build" ] || rm -rf "$build"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The root image, built once for what makes it.
key=$( (echo "$suite $packages $kver"; cat "$here/setup-rootfs.sh") | sha256sum | cut -c1-16)
image=$cache/root-$key.img
if [ ! -f "$image" ]; then
	build=$cache/build.$$
	rm -rf "$build"
	mkdir -p "$build"
	log "building the guest's root filesystem: debootstrap $suite with $packages (once; cached as $image)"
	debootstrap --variant=minbase --include="$packages" "$suite" "$build/root" "$mirror" >"$build/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$build/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
	mkdir -p "$build/root/lib/modules"
	cp -a "$kdir/lib/modules/$kver" "$build/root/lib/modules/"
	depmod -b "$build/root" "$kver" || die "depmod of the guest's modules failed"
	bash "$here/setup-rootfs.sh" "$build/root" || die "setup-rootfs.sh failed"
	# Room for the containers, images and journals the suite makes; the file is sparse.
	mkfs.ext4 -q -F -L nebulon-root -d "$build/root" "$build/root.img" 4G || die "mkfs.ext4 -d of the root filesystem failed"
	rm -f "$cache"/root-*.img
	mv "$build/root.img" "$image"
	rm -rf "$build"
	build=
fi
log "root filesystem: $image"

nebulon=${NEBULON_BIN:-}
if [ -z "$nebulon" ]; then
	make -C "$repo" build >&2 || die "make build failed"
	nebulon=$repo/bin/nebulon
fi
[ -x "$nebulon" ] || die "$nebulon is not an executable"
# nb, for the rootless nb test: the one beside the runtime (make build makes both).
nb=${NB_BIN:-$(dirname "$nebulon")/nb}
[ -x "$nb" ] || die "$nb is not an executable (make build, or set NB_BIN)"

# The payload disk: the runtime, the suite, a busybox rootfs and the guest's script.
payload=$work/payload
mkdir -p "$payload"
cp "$nebulon" "$payload/nebulon"
cp "$nb" "$payload/nb"
(cd "$repo" && CGO_ENABLED=0 go test -c -o "$payload/cgroupv2.test" ./tests/cgroupv2/) || die "building the test binary failed"
install -m 0755 "$here/guest-run.sh" "$payload/guest-run.sh"
# The integration suite's cgroup tests, which the hybrid boot runs with the driver: $RUNTIME is a
# wrapper that adds --systemd-cgroup. NEBULON_SYSTEMD_BATS=0 leaves them out.
if [ "${NEBULON_SYSTEMD_BATS:-1}" != 0 ]; then
	mkdir -p "$payload/integration" "$payload/driver"
	cp "$repo/tests/integration/helpers.bash" "$repo/tests/integration/cgroups.bats" "$payload/integration/"
	printf '#!/bin/sh\nexec /payload/nebulon --systemd-cgroup "$@"\n' >"$payload/driver/nebulon"
	chmod 0755 "$payload/driver/nebulon"
fi
# The CRI suite's pods on cgroup v2 with the systemd driver (SystemdCgroup = true), which the v2
# boot runs: its files where they sit in the repository, and the tools tests/cri/tools.sh makes
# (built once, cached). NEBULON_SYSTEMD_CRI=0 leaves it out.
if [ "${NEBULON_SYSTEMD_CRI:-1}" != 0 ]; then
	tools=$("$repo/tests/cri/tools.sh") || die "tests/cri/tools.sh could not make the CRI suite's tools"
	mkdir -p "$payload/tests/cri" "$payload/tests/engines" "$payload/tests/lib" "$payload/cri-tools"
	cp "$repo"/tests/cri/*.bats "$repo"/tests/cri/*.bash "$repo/tests/cri/env.sh" "$payload/tests/cri/"
	cp "$repo/tests/engines/helpers.bash" "$repo/tests/engines/mkimage.sh" "$payload/tests/engines/"
	cp "$repo/tests/lib/pty.bash" "$payload/tests/lib/"
	cp "$tools"/* "$payload/cri-tools/"
fi
guest_rootfs "$payload/rootfs"
margin=120
[ "$timeout_s" -ge 240 ] || margin=$((timeout_s / 2))
guest_test_args "$payload/test-args" "$timeout_s" "$margin" "$@"
echo "$timeout_s" >"$payload/timeout"
mkfs.ext4 -q -F -L nebulon-payload -d "$payload" "$work/payload.img" 512M || die "mkfs.ext4 -d of the payload failed"

# The initramfs: busybox, the virtio modules and init.sh.
initrd=$work/initramfs
mkdir -p "$initrd"/{bin,dev,lib/modules,newroot,proc,sys}
cp /bin/busybox "$initrd/bin/busybox"
for a in sh mount umount insmod switch_root sleep mkdir echo poweroff; do
	ln -s busybox "$initrd/bin/$a"
done
for m in "${initrd_modules[@]}"; do
	cp "$kdir/lib/modules/$kver/kernel/$m" "$initrd/lib/modules/" || die "the kernel has no module $m"
	basename "$m" >>"$initrd/lib/modules/order"
done
install -m 0755 "$here/init.sh" "$initrd/init"
mknod -m 0600 "$initrd/dev/console" c 5 1
(cd "$initrd" && find . | busybox cpio -o -H newc -R 0:0 2>/dev/null | gzip -1 >"$work/initramfs.gz")

guest_accel "$accel"

# bats_summary CONSOLE prints the count of a bats --tap run's tests in a guest's console log.
bats_summary() {
	local ok skipped failed
	ok=$(grep -Ec '^ok [0-9]+ ' "$1") || true
	skipped=$(grep -Ec '^ok [0-9]+ .* # skip' "$1") || true
	failed=$(grep -Ec '^not ok [0-9]+ ' "$1") || true
	printf '%s passed, %s failed, %s skipped' "$((ok - skipped))" "$failed" "$skipped"
}

# boot NAME ARGS boots the guest with kernel command line ARGS added, keeps its console in
# $work/console-NAME.log and writes its result to $work/result-NAME: the guest suite's exit
# status, its summary, cgroups.bats's and the CRI suite's (empty when not run), one a line. It
# fails, saying why, when the guest never reported. run.sh runs the boots at once, each in a
# subshell of its own: the guests mostly keep one emulated CPU busy, and the host has two.
boot() {
	local name=$1 append=$2 rc=0 start elapsed console=$work/console-$1.log fifo=$work/console-$1.fifo
	local qemu='' status summary bats='' cri=''
	trap '[ -z "${qemu:-}" ] || kill "$qemu" 2>/dev/null || true' EXIT
	trap 'exit 143' TERM
	log "booting ($name): qemu-system-x86_64 ${accel_args[*]}, timeout ${timeout_s}s"
	start=$(date +%s)
	mkfifo "$fifo"
	timeout -k 5 "$timeout_s" qemu-system-x86_64 "${accel_args[@]}" -m 2048 -smp 2 \
		-nographic -no-reboot -nodefaults -serial stdio \
		-kernel "$kdir/boot/vmlinuz-$kver" -initrd "$work/initramfs.gz" \
		-drive "file=$image,if=virtio,format=raw,snapshot=on" \
		-drive "file=$work/payload.img,if=virtio,format=raw,readonly=on" \
		-append "console=ttyS0 quiet panic=-1 oops=panic systemd.show_status=false $append" \
		</dev/null >"$fifo" 2>&1 &
	qemu=$!
	tr -d '\r' <"$fifo" | sed -u -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' >"$console" &
	wait "$qemu" || rc=$?
	qemu=''
	wait
	elapsed=$(($(date +%s) - start))
	status=$(sed -n "s/^$marker \([0-9][0-9]*\)$/\1/p" "$console" | tail -n 1)
	if [ -n "$status" ]; then
		summary=$(guest_summary "$console")
		if grep -q '^nebulon-systemd: bats exited' "$console"; then
			bats=$(bats_summary "$console")
			summary="$summary; cgroups.bats: $bats"
		fi
		if grep -q '^nebulon-systemd: cri exited' "$console"; then
			cri=$(bats_summary "$console")
			summary="$summary; CRI suite: $cri"
		fi
		printf '%s\n' "$status" "$summary after ${elapsed}s (boot and suite)" "$bats" "$cri" >"$work/result-$name"
		return 0
	fi
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		die "$name: timeout: the guest did not finish within ${timeout_s}s (NEBULON_SYSTEMD_TIMEOUT; its console is below)"
	fi
	if grep -q '^nebulon-systemd: kernel' "$console"; then
		die "$name: the guest stopped before the tests reported (qemu exit status $rc): see its console below"
	fi
	die "$name: boot failure: the guest never reached its tests (qemu exit status $rc): see its console below"
}

# The cgroup v2 host Kubernetes nodes run, and a v1 host (hybrid: systemd's own hierarchy is
# cgroup2 at /sys/fs/cgroup/unified), where guest-run.sh runs the driver's v1 tests. Both boot at
# once; each console is printed whole when its boot ends, so that the two do not interleave.
(boot v2 "systemd.unified_cgroup_hierarchy=1") &
boots[$!]=v2
(boot hybrid "systemd.unified_cgroup_hierarchy=0 nebulon.cgroups=hybrid") &
boots[$!]=hybrid
failed=''
while [ "${#boots[@]}" -gt 0 ]; do
	rc=0
	wait -n -p done_pid "${!boots[@]}" || rc=$?
	name=${boots[$done_pid]}
	unset "boots[$done_pid]"
	echo "systemd: ---- the $name boot's console ----"
	cat "$work/console-$name.log" 2>/dev/null || echo "(none: the guest never started)"
	echo "systemd: ---- the end of the $name boot's console ----"
	[ "$rc" -eq 0 ] || failed="$failed $name"
done
[ -z "$failed" ] || die "the guest did not report on:$failed (see above)"
{ read -r v2_status; read -r v2_summary; read -r _; read -r v2_cri; } <"$work/result-v2"
{ read -r hybrid_status; read -r hybrid_summary; read -r hybrid_bats; read -r _; } <"$work/result-hybrid"
echo "systemd: cgroup v2: guest tests exited with status $v2_status: $v2_summary"
echo "systemd: hybrid: guest tests exited with status $hybrid_status: $hybrid_summary"
[ "$v2_status" -eq 0 ] || exit "$v2_status"
[ "$hybrid_status" -eq 0 ] || exit "$hybrid_status"
# A boot where nothing passed (every test skipped, or -run matched none) tested nothing; the
# hybrid boot runs only the v1 tests, which -run may leave out.
[[ "$v2_summary" =~ ^([0-9]+)\ passed ]] || die "cannot parse the summary '$v2_summary'"
[ "${BASH_REMATCH[1]}" -gt 0 ] || die "no test passed on cgroup v2 ($v2_summary): the run tested nothing"
if [ "${NEBULON_SYSTEMD_CRI:-1}" != 0 ]; then
	[[ "$v2_cri" =~ ^([0-9]+)\ passed ]] || die "the v2 boot did not run the CRI suite (see the console above)"
	[ "${BASH_REMATCH[1]}" -gt 0 ] || die "no test of the CRI suite passed on the v2 boot ($v2_cri)"
fi
if [ "${NEBULON_SYSTEMD_BATS:-1}" != 0 ]; then
	[[ "$hybrid_bats" =~ ^([0-9]+)\ passed ]] || die "the hybrid boot did not run cgroups.bats (see the console above)"
	[ "${BASH_REMATCH[1]}" -gt 0 ] || die "no test of cgroups.bats passed on the hybrid boot ($hybrid_bats)"
fi
