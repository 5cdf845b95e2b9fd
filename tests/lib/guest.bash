# shellcheck shell=bash
# What the QEMU guests of tests/cgroupv2/run.sh and tests/systemd/run.sh share: Debian's cloud
# kernel, fetched with `apt-get download` (not installed) and cached, and the accelerator. The
# caller defines die and log.

# guest_kernel_package prints the package that linux-image-cloud-amd64 (a metapackage) depends on.
guest_kernel_package() {
	apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n 1
}

# guest_fetch_kernel DIR unpacks the current cloud kernel package into DIR/x (boot/vmlinuz-VER,
# lib/modules/VER) and writes its name to DIR/package and its version to DIR/version. DIR is
# made anew; the caller moves it into its cache.
guest_fetch_kernel() {
	local dir=$1 pkg ver
	pkg=$(guest_kernel_package)
	if [ -z "$pkg" ]; then
		apt-get update -qq
		pkg=$(guest_kernel_package)
	fi
	[ -n "$pkg" ] || die "cannot resolve linux-image-cloud-amd64 to a kernel package (apt-cache depends)"
	log "fetching $pkg (apt-get download; not installed)"
	rm -rf "$dir"
	mkdir -p "$dir"
	# apt downloads as its _apt user where that user can write the directory.
	chown _apt "$dir" 2>/dev/null || true
	(cd "$dir" && apt-get download -q "$pkg" >/dev/null 2>&1) || die "apt-get download $pkg failed"
	dpkg-deb -x "$dir"/"$pkg"_*.deb "$dir/x" || die "cannot unpack $pkg"
	rm -f "$dir"/"$pkg"_*.deb
	ver=${pkg#linux-image-}
	[ -f "$dir/x/boot/vmlinuz-$ver" ] || die "$pkg has no boot/vmlinuz-$ver"
	echo "$pkg" >"$dir/package"
	echo "$ver" >"$dir/version"
}

# guest_accel sets accel_args for qemu from $1 (kvm, tcg, or empty to choose): KVM only where the
# CPU shows hardware virtualisation, since a /dev/kvm without it (some nested hosts have one)
# fails on MSRs or hangs the guest.
guest_accel() {
	local accel=$1
	if [ -z "$accel" ]; then
		accel=tcg
		if [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -qw -e vmx -e svm /proc/cpuinfo; then
			accel=kvm
		fi
	fi
	# shellcheck disable=SC2034 # accel_args is the caller's
	case "$accel" in
	kvm) accel_args=(-accel kvm -cpu host) ;;
	tcg) accel_args=(-accel tcg -cpu max) ;;
	*) die "accelerator $accel: want kvm or tcg" ;;
	esac
}

# guest_rootfs DIR makes the busybox root filesystem the guest's containers run, which the suite
# reads through NEBULON_ROOTFS.
guest_rootfs() {
	local ctr=$1 a
	mkdir -p "$ctr"/{bin,dev,etc,proc,root,sys,tmp}
	chmod 1777 "$ctr/tmp"
	cp /bin/busybox "$ctr/bin/busybox"
	for a in $(/bin/busybox --list); do
		[ "$a" = busybox ] || ln -s busybox "$ctr/bin/$a"
	done
	echo "root:x:0:0:root:/root:/bin/sh" >"$ctr/etc/passwd"
	echo "root:x:0:" >"$ctr/etc/group"
}

# guest_test_args FILE TIMEOUT MARGIN ARGS... writes the suite's flags to FILE, one a line: go
# test's (-run X becomes -test.run X for the compiled binary; values pass as they are), then a
# -test.timeout MARGIN seconds short of TIMEOUT, so that the suite times out first and go test
# prints which test hung.
guest_test_args() {
	local file=$1 timeout_s=$2 margin=$3 a
	shift 3
	: >"$file"
	for a in "$@" "-test.timeout=$((timeout_s - margin))s"; do
		case "$a" in
		-test.* | --test.*) ;;
		--*) a=-test.${a#--} ;;
		-*) a=-test.${a#-} ;;
		esac
		printf '%s\n' "$a" >>"$file"
	done
}

# guest_summary CONSOLE prints the count of top-level tests in a guest's console log, in the
# plain form CI reads.
guest_summary() {
	printf '%s passed, %s failed, %s skipped' "$(grep -c '^--- PASS' "$1" || true)" \
		"$(grep -c '^--- FAIL' "$1" || true)" "$(grep -c '^--- SKIP' "$1" || true)"
}
