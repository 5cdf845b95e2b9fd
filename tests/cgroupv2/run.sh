#!/usr/bin/env bash
# Boots a cgroup-v2-only Linux guest under QEMU and runs the tests/cgroupv2 suite in it, in one
# boot, because this host (and CI) mounts cgroup v1. Run as root, from anywhere:
#
#   tests/cgroupv2/run.sh                     # the whole suite
#   tests/cgroupv2/run.sh -run 'Pids|Memory'  # go test flags (-run, -count, ...) are passed on
#
# What it does:
#   1. installs qemu-system-x86 and busybox-static if missing (tests/install-deps.sh cgroupv2);
#   2. fetches Debian's cloud kernel (linux-image-cloud-amd64 resolved to the real
#      linux-image-*-cloud-amd64) with `apt-get download` and unpacks it with dpkg-deb -x, not
#      installed, into $NEBULON_CGROUPV2_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/nebulon-cgroupv2),
#      reused by later runs (delete the directory to fetch the current kernel again);
#   3. builds bin/nebulon (`make build`) unless NEBULON_BIN names a static binary to test instead,
#      and the suite as a static test binary (CGO_ENABLED=0 go test -c);
#   4. packs a gzip'd cpio initramfs: busybox-static and its applets, nebulon, the test binary, a
#      busybox rootfs for the containers, the modules the tests need, and init.sh as /init;
#   5. boots it with KVM where /dev/kvm and the CPU allow, else TCG (software emulation), streams the guest's
#      console and exits with the status of the guest's `go test` run.
#
# A guest that does not report within NEBULON_CGROUPV2_TIMEOUT seconds (default 540) is killed
# and the run fails; so does one that never gets to the tests (kernel panic, init failure).
# NEBULON_CGROUPV2_ACCEL=tcg forces software emulation (what a host without KVM does).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${NEBULON_CGROUPV2_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/nebulon-cgroupv2}
timeout_s=${NEBULON_CGROUPV2_TIMEOUT:-540}
accel=${NEBULON_CGROUPV2_ACCEL:-}
# Modules the guest loads, as paths below lib/modules/<version>/kernel of the kernel package.
modules=(drivers/block/brd.ko)
marker='nebulon-cgroupv2: tests exited with status'

die() {
	echo "cgroupv2: $*" >&2
	exit 1
}

log() { echo "cgroupv2: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "run as root: it installs packages, and packs device nodes into the initramfs"
"$repo/tests/install-deps.sh" cgroupv2

# shellcheck source=tests/lib/guest.bash
. "$repo/tests/lib/guest.bash"

# fetch_kernel fills $cache/kernel with vmlinuz, the modules listed above and the package's name.
fetch_kernel() {
	local tmp ver m
	tmp=$(mktemp -d)
	guest_fetch_kernel "$tmp"
	ver=$(cat "$tmp/version")
	rm -rf "$cache/kernel.new"
	mkdir -p "$cache/kernel.new/modules"
	cp "$tmp/x/boot/vmlinuz-$ver" "$cache/kernel.new/vmlinuz"
	for m in "${modules[@]}"; do
		cp "$tmp/x/lib/modules/$ver/kernel/$m" "$cache/kernel.new/modules/" ||
			{ rm -rf "$tmp"; die "$(cat "$tmp/package") has no module $m"; }
	done
	cp "$tmp/package" "$cache/kernel.new/package"
	rm -rf "$tmp" "$cache/kernel"
	mv "$cache/kernel.new" "$cache/kernel"
}

mkdir -p "$cache"
[ -f "$cache/kernel/package" ] || fetch_kernel
log "kernel: $(cat "$cache/kernel/package") (cached in $cache/kernel)"

work=$(mktemp -d /tmp/nebulon-cgroupv2.XXXXXX)
qemu_pid=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	[ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
# qemu runs in a process group of its own (timeout's): a signal to ours must end it too.
trap 'exit 130' INT
trap 'exit 143' TERM

nebulon=${NEBULON_BIN:-}
if [ -z "$nebulon" ]; then
	make -C "$repo" build >&2 || die "make build failed"
	nebulon=$repo/bin/nebulon
fi
[ -x "$nebulon" ] || die "$nebulon is not an executable"
# The guest has no C library: nebulon must be static.
if LC_ALL=C ldd "$nebulon" >/dev/null 2>&1; then
	die "$nebulon is dynamically linked; the guest needs a static binary (make build)"
fi
(cd "$repo" && CGO_ENABLED=0 go test -c -o "$work/cgroupv2.test" ./tests/cgroupv2/) || die "building the test binary failed"

# The initramfs tree.
root=$work/initramfs
mkdir -p "$root"/{bin,dev,etc,lib/modules,newroot,proc,run,sys,tmp,usr/bin,usr/share/nebulon}
cp /bin/busybox "$root/bin/busybox"
for a in $(/bin/busybox --list); do
	[ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
done
cp "$nebulon" "$root/usr/bin/nebulon"
cp "$work/cgroupv2.test" "$root/usr/bin/cgroupv2.test"
cp "$cache"/kernel/modules/*.ko "$root/lib/modules/"
install -m 0755 "$here/init.sh" "$root/init"
# The kernel opens /dev/console for init before anything mounts devtmpfs.
mknod -m 0600 "$root/dev/console" c 5 1
guest_rootfs "$root/usr/share/nebulon/rootfs"
margin=30
[ "$timeout_s" -ge 120 ] || margin=$((timeout_s / 2))
guest_test_args "$root/etc/cgroupv2-test-args" "$timeout_s" "$margin" "$@"
(cd "$root" && find . | busybox cpio -o -H newc -R 0:0 2>/dev/null | gzip -1 >"$work/initramfs.gz")

guest_accel "$accel"
log "booting: qemu-system-x86_64 ${accel_args[*]}, timeout ${timeout_s}s"

console=$work/console.log
start=$(date +%s)
# -no-reboot turns the guest's panic (panic=-1 reboots at once) into qemu's exit; poweroff -f in
# init.sh ends a good run. The console goes through a fifo so that qemu's pid is ours to kill.
mkfifo "$work/console.fifo"
timeout -k 5 "$timeout_s" qemu-system-x86_64 "${accel_args[@]}" -m 1024 -smp 2 \
	-nographic -no-reboot -nodefaults -serial stdio \
	-kernel "$cache/kernel/vmlinuz" -initrd "$work/initramfs.gz" \
	-append "console=ttyS0 quiet panic=-1 oops=panic" \
	</dev/null >"$work/console.fifo" 2>&1 &
qemu_pid=$!
# The console as text: no carriage returns, no terminal control sequences of the firmware.
tr -d '\r' <"$work/console.fifo" | sed -u -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' | tee "$console" &
# Waiting with the wait builtin (not a foreground pipeline) lets the traps above run at once.
rc=0
wait "$qemu_pid" || rc=$?
qemu_pid=
wait
elapsed=$(($(date +%s) - start))

status=$(sed -n "s/^$marker \([0-9][0-9]*\)$/\1/p" "$console" | tail -n 1)
if [ -n "$status" ]; then
	log "guest tests exited with status $status after ${elapsed}s (boot and suite)"
	# The count of top-level tests, as the last line, in the plain form CI reads.
	summary=$(guest_summary "$console")
	echo "cgroupv2: $summary"
	[ "$status" -eq 0 ] || exit "$status"
	# A run where nothing passed (every test skipped, or -run matched none) tested nothing.
	[[ "$summary" =~ ^([0-9]+)\ passed ]] || die "cannot parse the summary '$summary'"
	[ "${BASH_REMATCH[1]}" -gt 0 ] || die "no test passed ($summary): the run tested nothing"
	exit 0
fi
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
	die "timeout: the guest did not finish within ${timeout_s}s (NEBULON_CGROUPV2_TIMEOUT)"
fi
if grep -q '^nebulon-cgroupv2: kernel' "$console"; then
	die "the guest stopped before the tests reported (qemu exit status $rc): see the console above"
fi
die "boot failure: the guest never reached its init (qemu exit status $rc): see the console above"
