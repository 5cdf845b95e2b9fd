#!/usr/bin/env bats
# Attacks on what the runtime mounts and writes under /proc and /sys:
# CVE-2019-16884 and CVE-2019-19921 (a rootfs whose /proc is a symlink, or a
# mount over /proc, redirects the runtime's writes there), CVE-2025-31133
# (masked paths covered with a /dev/null that is really a symlink to a
# writable host /proc file) and CVE-2025-52881 (sysctl writes redirected).

load ../integration/helpers

setup() {
	setup_bundle
	update_config '.root.readonly = false'
}

@test "CVE-2019-19921: a rootfs whose /proc is a symlink is refused" {
	rmdir "$BUNDLE/rootfs/proc"
	mkdir "$BUNDLE/rootfs/fakeproc"
	ln -s /fakeproc "$BUNDLE/rootfs/proc"
	refused '*/proc in the rootfs is a symlink*' create -b "$BUNDLE" "$CT"
	[ -z "$(ls -A "$BUNDLE/rootfs/fakeproc")" ]
}

@test "CVE-2019-19921: a rootfs whose /sys is a symlink is refused" {
	rmdir "$BUNDLE/rootfs/sys"
	ln -s /tmp "$BUNDLE/rootfs/sys"
	refused '*/sys in the rootfs is a symlink*' create -b "$BUNDLE" "$CT"
}

@test "CVE-2019-16884: a mount over /proc or a /proc file is refused; lxcfs-style files are allowed" {
	skip_if_runc "1.1.5 lets a tmpfs be mounted on /proc/sys"
	mkdir -p "$TEST_DIR/fake"
	echo fake >"$TEST_DIR/fake/attr"
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.mounts += [{"destination": "/proc/self/attr", "type": "bind", "source": $s, "options": ["bind"]}]' \
		--arg s "$TEST_DIR/fake"
	refused '*/proc/self/attr*only procfs*' create -b "$BUNDLE" "$CT"

	update_config 'del(.mounts[-1]) | .mounts += [{"destination": "/proc/sys", "type": "tmpfs", "source": "tmpfs"}]'
	refused '*/proc/sys: only procfs*' create -b "$BUNDLE" "$CT"

	update_config 'del(.mounts[-1]) | .mounts |= map(if .destination == "/proc" then .type = "tmpfs" | .source = "tmpfs" else . end)'
	refused '*/proc: only procfs*' create -b "$BUNDLE" "$CT"

	# What lxcfs does: a file over /proc/uptime.
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.mounts |= map(if .destination == "/proc" then .type = "proc" | .source = "proc" else . end)
		| .mounts += [{"destination": "/proc/uptime", "type": "bind", "source": $s, "options": ["bind"]}]' \
		--arg s "$TEST_DIR/fake/attr"
	ct_run 'cat /proc/uptime'
	[ "$status" -eq 0 ]
	[ "$output" = fake ]
}

@test "CVE-2019-16884: a mount that reaches /proc through a symlink in the rootfs is refused too" {
	skip_if_runc "1.1.5 lets a tmpfs be mounted on /proc/sys"
	ln -s /proc "$BUNDLE/rootfs/data"
	update_config '.mounts += [{"destination": "/data/sys", "type": "tmpfs", "source": "tmpfs"}]'
	refused '*/data/sys*/proc/sys: only procfs*' create -b "$BUNDLE" "$CT"
	# shellcheck disable=SC2016 # $ is jq's
	update_config 'del(.mounts[-1]) | .mounts += [{"destination": "/data/sys", "type": "bind", "source": $s, "options": ["rbind"]}]' \
		--arg s "$TEST_DIR"
	refused '*/data/sys*/proc/sys: only procfs*' create -b "$BUNDLE" "$CT"
}

@test "CVE-2025-31133: a /dev/null swapped for a symlink before masking is refused; host files unchanged" {
	skip_if_runc "1.1.5 masks with whatever /dev/null is (fixed in 1.2.8)"
	# A createContainer hook runs in the container's mount namespace after the
	# devices are made and before the paths are masked: the window a racing
	# container process would use. It points /dev/null at a host /proc file.
	local before
	before="$(cat /proc/sys/kernel/core_pattern)"
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.hooks.createContainer = [{"path": "/bin/sh", "args": ["sh", "-c",
		"rm -f \($r)/dev/null && ln -s /proc/sys/kernel/core_pattern \($r)/dev/null"]}]
		| .linux.maskedPaths = ["/proc/kcore", "/proc/timer_list"]' --arg r "$BUNDLE/rootfs"
	set_cmd 'echo "|/tmp/pwned" >/proc/kcore; cat /proc/sys/kernel/core_pattern'
	refused '*/dev/null in the container is not the null device*' create -b "$BUNDLE" "$CT"
	[ "$(cat /proc/sys/kernel/core_pattern)" = "$before" ]
}

@test "CVE-2025-31133: a rootfs whose /dev/null is a symlink cannot redirect masked paths" {
	skip_if_runc "1.1.5 masks with whatever /dev/null is (fixed in 1.2.8)"
	# No /dev tmpfs: the rootfs's own /dev is used, with /dev/null a symlink.
	update_config '.mounts |= map(select(.destination != "/dev" and (.destination | startswith("/dev/") | not)))
		| .linux.maskedPaths = ["/proc/kcore"]'
	mkdir -p "$BUNDLE/rootfs/dev"
	ln -s /proc/sys/kernel/core_pattern "$BUNDLE/rootfs/dev/null"
	local before
	before="$(cat /proc/sys/kernel/core_pattern)"
	set_cmd 'ls -l /dev/null; stat -L -c "%t,%T %F" /proc/kcore'
	run --separate-stderr runtime run -b "$BUNDLE" "$CT"
	# shellcheck disable=SC2154 # set by bats' run
	echo "status $status, stdout: $output, stderr: $stderr"
	if [ "$status" -eq 0 ]; then
		# The runtime replaced the symlink with the null device and masked with it.
		[[ "$output" == *"1,3 character special file"* ]]
	fi
	[ "$(cat /proc/sys/kernel/core_pattern)" = "$before" ]
	[ -z "$(runtime list -q)" ]
}

@test "a rootfs whose /dev is a symlink out of it cannot make the runtime create files outside it" {
	skip_if_runc "1.1.5 follows /dev out of the rootfs and makes its device nodes there"
	mkdir -p "$TEST_DIR/outside"
	rm -rf "$BUNDLE/rootfs/dev"
	ln -s "$TEST_DIR/outside" "$BUNDLE/rootfs/dev"
	run --separate-stderr runtime run -b "$BUNDLE" "$CT"
	echo "status $status, stdout: $output, stderr: $stderr"
	# Whatever create did, it did inside the rootfs (where the absolute link
	# resolves): the host directory the link names is untouched.
	[ -z "$(ls -A "$TEST_DIR/outside")" ]
	update_config '.mounts |= map(select(.destination != "/dev" and (.destination | startswith("/dev/") | not)))'
	run --separate-stderr runtime run -b "$BUNDLE" "$CT"
	echo "without a /dev mount: status $status, stdout: $output, stderr: $stderr"
	[ -z "$(ls -A "$TEST_DIR/outside")" ]
	[ -z "$(runtime list -q)" ]
}

@test "CVE-2025-52881: sysctls are written to the container's own namespace, never to the host's" {
	local before
	before="$(cat /proc/sys/net/ipv4/ip_forward)"
	update_config '.linux.sysctl = {"net.ipv4.ip_forward": "1", "kernel.shmmax": "123456789"}'
	ct_run 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax'
	[ "$status" -eq 0 ]
	[ "$output" = "1
123456789" ]
	[ "$(cat /proc/sys/net/ipv4/ip_forward)" = "$before" ]
}
