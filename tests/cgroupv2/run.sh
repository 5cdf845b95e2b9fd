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
# Modules the guest loads, in this order (a module after those it needs), as paths below
# lib/modules/<version>/kernel of the kernel package. brd: a RAM disk for the io tests. The rest
# are CRIU's (checkpoint_linux_test.go): the sock_diag modules it lists sockets with; iptables,
# with which it locks a container's network namespace while it dumps and restores; nf_tables,
# which Debian's CRIU (built with libnftables) probes at start-up and fails without; conntrack's
# netlink, through which it dumps a network namespace's connections (nfnetlink answers EINVAL
# without it). The guest has no modprobe to load them on demand.
modules=(drivers/block/brd.ko
	net/unix/unix_diag.ko net/netlink/netlink_diag.ko net/packet/af_packet_diag.ko
	net/ipv4/inet_diag.ko net/ipv4/tcp_diag.ko net/ipv4/udp_diag.ko
	net/netfilter/x_tables.ko net/netfilter/xt_mark.ko net/ipv4/netfilter/ip_tables.ko
	net/ipv4/netfilter/iptable_filter.ko net/ipv6/netfilter/ip6_tables.ko
	net/ipv6/netfilter/ip6table_filter.ko
	lib/libcrc32c.ko net/netfilter/nfnetlink.ko net/netfilter/nf_tables.ko
	net/ipv4/netfilter/nf_defrag_ipv4.ko net/ipv6/netfilter/nf_defrag_ipv6.ko
	net/netfilter/nf_conntrack.ko net/netfilter/nf_conntrack_netlink.ko)
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
		cp "$tmp/x/lib/modules/$ver/kernel/$m" "$cache/kernel.new/modules/$(module_file "$m")" ||
			{ rm -rf "$tmp"; die "$(cat "$tmp/package") has no module $m"; }
	done
	cp "$tmp/package" "$cache/kernel.new/package"
	rm -rf "$tmp" "$cache/kernel"
	mv "$cache/kernel.new" "$cache/kernel"
}

# module_file is a module's name in the guest: its place in the load order, then its file name.
module_file() {
	local i
	for i in "${!modules[@]}"; do
		[ "${modules[$i]}" != "$1" ] || printf '%02d-%s' "$i" "$(basename "$1")"
	done
}

# have_modules says whether the cached kernel has every module of the list (which grows).
have_modules() {
	local m
	for m in "${modules[@]}"; do
		[ -f "$cache/kernel/modules/$(module_file "$m")" ] || return 1
	done
}

# copy_with_libs copies executables into the initramfs at their own paths, with the shared
# libraries ldd lists for them (the guest has no C library of its own).
copy_with_libs() {
	local f lib
	for f in "$@"; do
		mkdir -p "$root$(dirname "$f")"
		cp -L "$f" "$root$f"
		for lib in $(ldd "$f" | grep -o '/[^ ]*'); do
			[ -e "$root$lib" ] || { mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"; }
		done
	done
}

mkdir -p "$cache"
{ [ -f "$cache/kernel/package" ] && have_modules; } || fetch_kernel
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
# CRIU, for the checkpoint tests, with the programs it runs by name: iptables (legacy: the
# x_tables modules above), to lock a network namespace, its extensions loaded from their
# directory; GNU tar, whose options it dumps a tmpfs's content with (busybox's tar lacks them).
# Without criu on the host the checkpoint tests skip: init.sh sets NEBULON_CRIU_TEST=1 only
# where the marker file says criu is in the guest.
if [ -x /usr/sbin/criu ] && [ -x /usr/sbin/xtables-legacy-multi ]; then
	copy_with_libs /usr/sbin/criu /usr/sbin/xtables-legacy-multi /usr/bin/tar
	for t in iptables-restore ip6tables-restore iptables-save ip6tables-save; do
		ln -s xtables-legacy-multi "$root/usr/sbin/$t"
	done
	# The directory iptables was built to load them from (/usr/lib/...: in the guest /lib is no link).
	xtables=$(dirname "$(dpkg -S libxt_standard.so | sed -n 's/^iptables: //p' | head -n 1)")
	[ -d "$xtables" ] || die "cannot find iptables' extensions (libxt_standard.so)"
	mkdir -p "$root$xtables"
	cp "$xtables"/*.so "$root$xtables/"
	touch "$root/etc/nebulon-criu"
else
	log "no criu or iptables (xtables-legacy-multi) on the host: the checkpoint tests will skip (tests/install-deps.sh cgroupv2)"
fi
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
