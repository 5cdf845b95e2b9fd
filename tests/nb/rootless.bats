#!/usr/bin/env bats
# nb run by an unprivileged user (rootless): the suite makes the user (useradd, with /etc/subuid
# and /etc/subgid ranges and an XDG_RUNTIME_DIR) and runs nb as that user, with its default
# store ($HOME/.local/share/nebulon) and its default network (slirp4netns). This host has
# cgroup v1 and delegates no cgroup to the user: its containers run without one. The user's nb
# keeps a pause process that holds its user and mount namespaces; teardown_file kills it with the
# user's other processes, and with it go the mounts made there.

load helpers
load registry
load ../lib/testuser

RLNB_USER=nbrlnb
# The user's subordinate ids: host ids 400000-465535, apart from tests/rootless' user's.
RLNB_SUB_START=400000
RLNB_SUB_COUNT=65536

# rlnb_remove_user: the user and all it left, the pause process, slirp4netns and containers too
# (remove_test_user).
rlnb_remove_user() { remove_test_user "$RLNB_USER" "$RLNB_SUB_START" "$RLNB_SUB_COUNT"; }

setup_file() {
	[ "$(id -u)" -eq 0 ] || skip "needs root: makes the unprivileged user the tests run as"
	[ -x "$NB" ] || skip "$NB not built (make build)"
	command -v runuser >/dev/null || skip "needs runuser (util-linux)"
	command -v newuidmap >/dev/null || skip "needs newuidmap (tests/install-deps.sh test: uidmap)"
	command -v slirp4netns >/dev/null || skip "needs slirp4netns (tests/install-deps.sh test)"
	need_registry
	RLNB_UID="$(add_test_user "$RLNB_USER" "$RLNB_SUB_START" "$RLNB_SUB_COUNT")" || fail "useradd $RLNB_USER"
	RLNB_HOME="$(getent passwd "$RLNB_USER" | cut -d: -f6)"
	RLNB_XDG="/run/user/$RLNB_UID"
	# slirp4netns opens /dev/net/tun as the user: udev makes it 0666, this host's may be 0600.
	TUN_MODE="$(stat -c %a /dev/net/tun)"
	chmod 0666 /dev/net/tun
	# The tests' files (the build, tarballs, the registry), readable by the user.
	TEST_DIR="$(mktemp -d /tmp/nb-rootless.XXXXXX)"
	chmod 0755 "$TEST_DIR"
	# An installed nb, owned by root: what the user runs.
	install -m 0755 -o root -g root "$NB" "$TEST_DIR/nb"
	# The image: busybox, and /www/index.html owned by 1000:1000, an id the user's subordinate
	# ids map (host id RLNB_SUB_START + 999).
	"$REPO_ROOT/tests/engines/mkimage.sh" rootfs "$TEST_DIR/rootfs.tar"
	mkdir -p "$TEST_DIR/extra/www"
	echo "served rootless" >"$TEST_DIR/extra/www/index.html"
	tar -C "$TEST_DIR/extra" --owner=1000 --group=1000 -rf "$TEST_DIR/rootfs.tar" ./www
	# Pushed to a registry on 127.0.0.1 by root's nb, from a store of its own, for the user to pull.
	# shellcheck disable=SC2034 # read by nb (helpers.bash)
	STORE="$TEST_DIR/root-store"
	start_registry
	nb init >/dev/null
	nb image import "$TEST_DIR/rootfs.tar" bb >/dev/null
	nb push bb "$REG/bb:1" >/dev/null || fail "push to $REG"
	export RLNB_UID RLNB_HOME RLNB_XDG TEST_DIR TUN_MODE REG REG_PID
}

teardown_file() {
	local id
	if [ -n "${RLNB_UID:-}" ]; then
		for id in $(nbu ps -aq 2>/dev/null); do nbu rm -f "$id" >/dev/null 2>&1; done
	fi
	rlnb_remove_user
	stop_registry
	[ -z "${TUN_MODE:-}" ] || chmod "$TUN_MODE" /dev/net/tun
	[ -z "${TEST_DIR:-}" ] || rm -rf "$TEST_DIR"
}

setup() { [ -n "${RLNB_UID:-}" ] || skip "setup_file did not make the user"; }
teardown() { :; }

# nbu ARGS...: nb as the user, in a login's environment, from the tests' directory.
nbu() {
	timeout -k 5 60 runuser -u "$RLNB_USER" -- env -i -C "$TEST_DIR" HOME="$RLNB_HOME" \
		XDG_RUNTIME_DIR="$RLNB_XDG" PATH=/usr/sbin:/usr/bin:/sbin:/bin "${RLNB_ENV[@]}" "$TEST_DIR/nb" "$@"
}
RLNB_ENV=()

# pause_pid: the user's pause process, from its pid file.
pause_pid() { cat "$RLNB_XDG/nb/pause.pid"; }

# nb_procs PAUSE: the user's processes in the host's user namespace or in nb's (that of the pause
# process PAUSE): nb's, not another suite's whose user had this uid before (in one of its own).
nb_procs() {
	local p u want host
	want="$(readlink "/proc/$1/ns/user")"
	host="$(readlink /proc/1/ns/user)"
	for p in $(ps -o pid= -u "$RLNB_USER"); do
		u="$(readlink "/proc/$p/ns/user" 2>/dev/null)" || continue
		if [ "$u" = "$want" ] || [ "$u" = "$host" ]; then echo "$p"; fi
	done
}

@test "rootless nb from init to rm: store owned by the user's ids, a pulled image, run -d, exec, logs, a port on 127.0.0.1, stop, rm" {
	local store="$RLNB_HOME/.local/share/nebulon" port id slirp pid
	run nbu init
	[ "$status" -eq 0 ] || fail "init: $output"
	[ "$output" = "nb store ready at $store" ]
	run --separate-stderr nbu pull "$REG/bb:1"
	# shellcheck disable=SC2154 # set by bats' run
	[ "$status" -eq 0 ] || fail "pull: $stderr"
	# The pause process holds the user namespace: 0 is the user, 1 and up its subordinate ids.
	pid="$(pause_pid)"
	[ "$(stat -c %U "/proc/$pid")" = "$RLNB_USER" ]
	[ "$(awk '{print $1, $2, $3}' "/proc/$pid/uid_map" | tr '\n' ,)" = "0 $RLNB_UID 1,1 $RLNB_SUB_START $RLNB_SUB_COUNT," ]
	# On the host, the unpacked layer's files have the mapped ids: the image's root files are
	# the user's, its 1000:1000 file is subordinate id 1000's.
	[ "$(stat -c %u "$store"/images/layers/*/diff/bin/busybox)" = "$RLNB_UID" ]
	[ "$(stat -c %u:%g "$store"/images/layers/*/diff/www/index.html)" = "$((RLNB_SUB_START + 999)):$((RLNB_SUB_START + 999))" ]

	port="$(free_port)"
	# shellcheck disable=SC2016 # expanded in the container
	id="$(nbu create --name web -p "$port:80" "$REG/bb:1" sh -c 'echo started as $(id -u); stat -c %u:%g /www/index.html; exec httpd -f -p 80 -h /www')" ||
		fail "create: $id"
	run nbu inspect web
	[ "$(jq -r '.[0].network' <<<"$output")" = slirp4netns ] || fail "not on slirp4netns by default: $output"
	run nbu run -d web
	[ "$status" -eq 0 ] || fail "run -d: $output"
	for _ in $(seq 50); do
		[ "$(nbu logs web | wc -l)" -ge 2 ] && break
		sleep 0.1
	done
	run nbu logs web
	[ "$output" = "started as 0
1000:1000" ] || fail "logs: $output"
	# exec joins the container: uid 0 there is the user on the host.
	run nbu exec web sh -c 'id -u; cat /proc/self/uid_map | tr -s " " | tr "\n" ,'
	[ "$output" = "0
 0 $RLNB_UID 1, 1 $RLNB_SUB_START $RLNB_SUB_COUNT," ] || fail "exec: $output"
	# A file the container makes is in its upper dir, owned on the host by the ids it maps to.
	nbu exec web sh -c 'touch /made; chown 1000:1000 /made'
	[ "$(stat -c %u "$store/containers/$id/upper/made")" = "$((RLNB_SUB_START + 999))" ]
	# The published port: on the host's 127.0.0.1 only, through slirp4netns.
	run curl -s --max-time 5 "http://127.0.0.1:$port/index.html"
	[ "$output" = "served rootless" ] || fail "curl 127.0.0.1:$port: $status $output"
	[ "$(ss -Htln "sport = :$port" | awk '{print $4}')" = "127.0.0.1:$port" ]
	grep -q "$id" "/proc/$pid/mountinfo" || fail "the container's mounts are not in the pause process' mount namespace"
	slirp="$(cat "$RLNB_XDG/nb/slirp/$id.pid")"
	[ "$(cat "/proc/$slirp/comm")" = slirp4netns ]
	# Sandboxed in a mount namespace of its own, with a seccomp filter, as podman runs it.
	[ "$(awk '/^Seccomp:/ {print $2}' "/proc/$slirp/status")" = 2 ] || fail "slirp4netns without seccomp"
	[ "$(readlink "/proc/$slirp/ns/mnt")" != "$(readlink "/proc/$pid/ns/mnt")" ] || fail "slirp4netns not sandboxed"
	# Outbound, through slirp4netns: tap0 with its address, its gateway the default route.
	run nbu exec web sh -c 'ip -4 -o addr show tap0 | tr -s " " | cut -d" " -f4; ip route | grep default'
	[[ "$output" == "10.0.2.100/24"*"default via 10.0.2.2 dev tap0"* ]] || fail "tap0: $output"

	run nbu stop -t 1 web
	[ "$status" -eq 0 ] || fail "stop: $output"
	[[ "$(nbu ps -a)" == *"web"*"Exited"* ]] || fail "not exited: $(nbu ps -a)"
	# slirp4netns and the port go with the container.
	for _ in $(seq 50); do
		[ "$(cat "/proc/$slirp/comm" 2>/dev/null)" = slirp4netns ] || break
		sleep 0.1
	done
	[ "$(cat "/proc/$slirp/comm" 2>/dev/null)" != slirp4netns ] || fail "slirp4netns $slirp still runs"
	[ -z "$(ss -Htln "sport = :$port")" ]
	run nbu rm web
	[ "$status" -eq 0 ] || fail "rm: $output"
	[ -z "$(nbu ps -aq)" ]
	[ ! -e "$store/containers/$id" ]
	# slirp4netns' files were in the user's runtime directory, which goes with a reboot.
	[ -z "$(ls "$RLNB_XDG/nb/slirp")" ]
	[ ! -e "$store/networks/slirp" ]
	# One pause process served every nb of the test, and is the user's only process left (no
	# slirp4netns, monitor or network namespace helper); its mount namespace, where the
	# container's overlay and network namespace were mounted, has none of the container's left.
	[ "$(pause_pid)" = "$pid" ]
	[ "$(pgrep -c -u "$RLNB_USER" -x -f "nb __nb_pause")" = 1 ]
	[ "$(nb_procs "$pid")" = "$pid" ] || fail "left: $(ps -f -u "$RLNB_USER")"
	! grep -q "$id" "/proc/$pid/mountinfo" || fail "mounts left: $(grep "$id" "/proc/$pid/mountinfo")"
}

@test "rootless nb: the host's root ignores a user's _NB_USERNS_FDS, _NB_USERNS_PID and _NB_ROOTLESS_UID" {
	local pid
	nbu ps -q >/dev/null || fail "nb ps as the user"
	pid="$(pause_pid)"
	# In its pause process' mount namespace, the user puts a script of its own at the path of an
	# nb root runs: joining there, root's nb would execute it as the host's root.
	install -m 0755 -o root -g root "$TEST_DIR/nb" "$TEST_DIR/nb-root"
	printf '#!/bin/sh\nid -u >%s/evil.out\n' "$TEST_DIR" >"$TEST_DIR/evil.sh"
	chmod 0755 "$TEST_DIR/evil.sh"
	runuser -u "$RLNB_USER" -- nsenter -t "$pid" -U -m mount --bind "$TEST_DIR/evil.sh" "$TEST_DIR/nb-root" ||
		fail "the user's bind mount"
	# Root, with the user's variables (su without -, sudo -E) and fds of the user's namespaces.
	run env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root XDG_RUNTIME_DIR="$RLNB_XDG" _NB_USERNS_PID="$pid" \
		_NB_USERNS_FDS=3,4 _NB_ROOTLESS_UID="$RLNB_UID" "$TEST_DIR/nb-root" --root "$TEST_DIR/root-store" ps 3<"/proc/$pid/ns/user" 4<"/proc/$pid/ns/mnt"
	[ ! -e "$TEST_DIR/evil.out" ] || fail "root's nb ran the user's script: uid $(cat "$TEST_DIR/evil.out")"
	[ "$status" -eq 0 ] && [[ "$output" == "CONTAINER ID"* ]] && [ "$(wc -l <<<"$output")" = 1 ] || fail "root's ps: $status $output"
	# Root's nb is root's: its store's default is root's, a bridge network its to make.
	run env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root _NB_ROOTLESS_UID="$RLNB_UID" "$TEST_DIR/nb-root" --help
	[[ "$output" == *'(default: "/var/lib/nebulon")'* ]] || fail "root's --help: $output"
	run env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root _NB_ROOTLESS_UID="$RLNB_UID" "$TEST_DIR/nb-root" --root "$TEST_DIR/root-store" network create --subnet 10.231.77.0/24 rlnbroot
	[ "$status" -eq 0 ] || fail "root's network create: $output"
	"$NB" --root "$TEST_DIR/root-store" network rm rlnbroot >/dev/null || fail "network rm"
	# slirp4netns is for rootless nb: root's containers are on bridges.
	run "$NB" --root "$TEST_DIR/root-store" create --network slirp4netns bb true
	[ "$status" -eq 1 ]
	[ "$output" = "nb: --network slirp4netns: for nb run by an unprivileged user; the host's root's containers use a bridge network (--network bridge, the default, or one of nb network create): no such network: slirp4netns" ] || fail "$output"
	[ -z "$("$NB" --root "$TEST_DIR/root-store" ps -aq)" ] || fail "a container was made"
	runuser -u "$RLNB_USER" -- nsenter -t "$pid" -U -m umount "$TEST_DIR/nb-root" || fail "the user's umount"
}

@test "rootless nb: --network none has only lo, host the host's interfaces; a bridge is refused" {
	nbu init >/dev/null
	nbu image import "$TEST_DIR/rootfs.tar" bb >/dev/null
	local c
	c="$(nbu create --network none bb ls /sys/class/net)"
	run nbu run "$c"
	[ "$status" -eq 0 ] && [ "$output" = lo ] || fail "none: $status $output"
	c="$(nbu create --network host bb sh -c 'ls /sys/class/net | tr "\n" " "; cat /etc/hostname')"
	run nbu run "$c"
	# Its hostname is its id, as for any nb container.
	[ "$status" -eq 0 ] && [ "$output" = "$(find /sys/class/net -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' ')$c" ] ||
		fail "host: $status $output"
	run nbu create --network bridge bb true
	[ "$status" -eq 1 ]
	[[ "$output" == *"--network bridge: a bridge network needs root, and nb runs rootless (uid $RLNB_UID)"* ]] || fail "$output"
	run nbu network create mine
	[ "$status" -eq 1 ]
	[[ "$output" == *"network create: a bridge network needs root"* ]] || fail "$output"
	[ "$(nbu ps -aq | wc -l)" = 2 ]
	for c in $(nbu ps -aq); do nbu rm "$c" >/dev/null; done
	# A layer with an owner beyond the user's subordinate ids: refused, naming it, no layer left.
	local layers
	layers="$(ls "$RLNB_HOME/.local/share/nebulon/images/layers")"
	mkdir -p "$TEST_DIR/unmapped/x"
	tar -C "$TEST_DIR/unmapped" --owner=70000 --group=70000 -cf "$TEST_DIR/unmapped.tar" ./x
	run nbu image import "$TEST_DIR/unmapped.tar" unmapped
	[ "$status" -eq 1 ]
	[[ "$output" == *'tar entry "./x/": owner 70000:70000 is not mapped in nb'"'"'s user namespace'* ]] || fail "$output"
	[ "$(ls "$RLNB_HOME/.local/share/nebulon/images/layers")" = "$layers" ] || fail "a layer was left"
	run nbu image ls
	[[ "$output" != *unmapped* ]] || fail "$output"
}

@test "rootless nb: no subordinate ids, no or an unwritable XDG_RUNTIME_DIR or XDG_DATA_HOME, nb killed while mapping: errors naming them, nothing left" {
	local pid before nbpid mapper
	nbu init >/dev/null
	pid="$(pause_pid)"
	before="$(ps -o pid= -u "$RLNB_USER" | sort)"
	# Another XDG_RUNTIME_DIR has no pause process yet: nb starts one, and needs the ranges.
	mkdir "$TEST_DIR/xdg2"
	chown "$RLNB_USER:" "$TEST_DIR/xdg2"
	sed -i "/^$RLNB_USER:/d" /etc/subgid
	run nbu_with XDG_RUNTIME_DIR="$TEST_DIR/xdg2" -- ps
	echo "$RLNB_USER:$RLNB_SUB_START:$RLNB_SUB_COUNT" >>/etc/subgid
	[ "$status" -eq 1 ]
	[ "$output" = "nb: nb runs rootless as user $RLNB_USER (uid $RLNB_UID): /etc/subgid gives it no subordinate ids (a line $RLNB_USER:START:COUNT, as usermod --add-subuids and --add-subgids make), which nb maps to the images' users" ] ||
		fail "$output"
	[ ! -e "$TEST_DIR/xdg2/nb" ] || fail "left: $(ls -A "$TEST_DIR/xdg2/nb")"
	[ "$(ps -o pid= -u "$RLNB_USER" | sort)" = "$before" ] || fail "a process was left: $(ps -f -u "$RLNB_USER")"
	# nb killed while newuidmap maps its new pause process: the pause process exits too.
	mkdir "$TEST_DIR/slowbin"
	# shellcheck disable=SC2016 # expanded by the script
	printf '#!/bin/sh\necho $PPID $$ >%s/slowbin/mapping\nexec sleep 10\n' "$TEST_DIR" >"$TEST_DIR/slowbin/newuidmap"
	chmod 0755 "$TEST_DIR/slowbin/newuidmap"
	chmod 0777 "$TEST_DIR/slowbin"
	nbu_with XDG_RUNTIME_DIR="$TEST_DIR/xdg2" PATH="$TEST_DIR/slowbin:/usr/sbin:/usr/bin:/sbin:/bin" -- ps >/dev/null 2>&1 &
	for _ in $(seq 100); do
		[ -s "$TEST_DIR/slowbin/mapping" ] && break
		sleep 0.05
	done
	read -r nbpid mapper <"$TEST_DIR/slowbin/mapping" || fail "newuidmap did not run"
	kill -KILL "$nbpid" "$mapper"
	wait
	for _ in $(seq 50); do
		[ "$(ps -o pid= -u "$RLNB_USER" | sort)" = "$before" ] && break
		sleep 0.1
	done
	[ "$(ps -o pid= -u "$RLNB_USER" | sort)" = "$before" ] || fail "a process was left: $(ps -f -u "$RLNB_USER")"
	[ ! -e "$TEST_DIR/xdg2/nb/pause.pid" ]
	# A stale pid file (the pause process killed, its pid reused: here by another process of
	# the user's) is replaced.
	local pid2 other
	other="$(runuser -u "$RLNB_USER" -- sh -c 'sleep 30 >/dev/null 2>&1 & echo $!')"
	runuser -u "$RLNB_USER" -- sh -c "echo $other >'$TEST_DIR/xdg2/nb/pause.pid'"
	run nbu_with XDG_RUNTIME_DIR="$TEST_DIR/xdg2" -- ps -q
	kill -KILL "$other"
	[ "$status" -eq 0 ] || fail "with a stale pid file: $output"
	pid2="$(cat "$TEST_DIR/xdg2/nb/pause.pid")"
	[ "$pid2" != "$other" ] && [ "$(tr '\0' ' ' <"/proc/$pid2/cmdline")" = "nb __nb_pause " ] || fail "pause $pid2"
	kill -KILL "$pid2"
	for _ in $(seq 50); do kill -0 "$pid2" 2>/dev/null || kill -0 "$other" 2>/dev/null || break; sleep 0.1; done
	# Its runtime directory: 0700 and sticky; a symlink, or one open to others, is refused.
	[ "$(stat -c %a "$TEST_DIR/xdg2/nb")" = 1700 ]
	runuser -u "$RLNB_USER" -- sh -c "mkdir -m 0700 '$TEST_DIR/xdg2/real' '$TEST_DIR/xdg2/link' && ln -s ../real '$TEST_DIR/xdg2/link/nb'"
	run nbu_with XDG_RUNTIME_DIR="$TEST_DIR/xdg2/link" -- ps
	[ "$status" -eq 1 ]
	[ "$output" = "nb: nb's runtime state $TEST_DIR/xdg2/link/nb (from \$XDG_RUNTIME_DIR): not a directory (a symlink is refused too)" ] ||
		fail "$output"
	chmod 0777 "$TEST_DIR/xdg2/nb"
	run nbu_with XDG_RUNTIME_DIR="$TEST_DIR/xdg2" -- ps
	[ "$status" -eq 1 ]
	[ "$output" = "nb: nb's runtime state $TEST_DIR/xdg2/nb (from \$XDG_RUNTIME_DIR): mode 0777: others may write or read it, where it must be 0700" ] ||
		fail "$output"

	# Without XDG_RUNTIME_DIR, /run/user/UID when the user owns it, as podman falls back.
	run nbu_with XDG_RUNTIME_DIR= -- ps -q
	[ "$status" -eq 0 ] || fail "without XDG_RUNTIME_DIR: $output"
	chown root "$RLNB_XDG"
	run nbu_with XDG_RUNTIME_DIR= -- ps
	chown "$RLNB_USER" "$RLNB_XDG"
	[ "$status" -eq 1 ]
	[ "$output" = "nb: nb runs rootless (uid $RLNB_UID) and keeps its runtime state in \$XDG_RUNTIME_DIR/nb: XDG_RUNTIME_DIR is not set, and $RLNB_XDG is not a directory of this user's (a login session makes it, and sets XDG_RUNTIME_DIR)" ] || fail "$output"
	# A typo, a bad flag or help starts no pause process and makes no runtime directory.
	mkdir -m 0700 "$TEST_DIR/xdg3"
	chown "$RLNB_USER:" "$TEST_DIR/xdg3"
	run nbu_with XDG_RUNTIME_DIR="$TEST_DIR/xdg3" -- bogus
	[[ "$output" == *"No help topic for 'bogus'"* ]] || fail "bogus: $output"
	run nbu_with XDG_RUNTIME_DIR="$TEST_DIR/xdg3" -- ps --bogus
	[ "$status" -ne 0 ] && [[ "$output" == *"flag provided but not defined: -bogus"* ]] || fail "ps --bogus: $status $output"
	run nbu_with XDG_RUNTIME_DIR="$TEST_DIR/xdg3" -- image ls --help
	[ "$status" -eq 0 ] || fail "image ls --help: $output"
	[ -z "$(ls -A "$TEST_DIR/xdg3")" ] || fail "made: $(ls -A "$TEST_DIR/xdg3")"
	run nbu_with XDG_RUNTIME_DIR=/root -- ps
	[ "$status" -eq 1 ]
	[[ "$output" == "nb: nb's runtime state /root/nb (from \$XDG_RUNTIME_DIR): "*"permission denied; XDG_RUNTIME_DIR must name a directory this user (uid $RLNB_UID) can write" ]] || fail "$output"
	[ ! -e /root/nb ]
	run nbu_with XDG_DATA_HOME=/root/nbrl-data -- init
	[ "$status" -eq 1 ]
	[[ "$output" == "nb: init store /root/nbrl-data/nebulon: "*"permission denied (nb runs rootless: the store's place is \$XDG_DATA_HOME/nebulon"* ]] || fail "$output"
	[ ! -e /root/nbrl-data ]
	# The pause process of the user's XDG_RUNTIME_DIR is as it was.
	[ "$(pause_pid)" = "$pid" ]
	[ "$(ps -o pid= -u "$RLNB_USER" | sort)" = "$before" ] || fail "a process was left: $(ps -f -u "$RLNB_USER")"
}

@test "rootless nb: the pause process killed while a container runs: the next nb rejoins the container's namespaces" {
	local id old new mon
	nbu init >/dev/null
	nbu image import "$TEST_DIR/rootfs.tar" bb >/dev/null
	id="$(nbu create --network none bb sleep 60)" || fail "create: $id"
	nbu run -d "$id" >/dev/null || fail "run -d"
	old="$(pause_pid)"
	mon="$(pgrep -u "$RLNB_USER" -f "__monitor $id")" || fail "no monitor"
	kill -KILL "$old"
	for _ in $(seq 50); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
	run nbu ps
	[[ "$output" == *"$id"*Up* ]] || fail "ps: $output"
	# A new pause process, in the namespaces the monitor (and the container's mounts) are in.
	new="$(pause_pid)"
	[ "$new" != "$old" ] && [ "$(tr '\0' ' ' <"/proc/$new/cmdline")" = "nb __nb_pause " ] || fail "pause $new"
	[ "$(readlink "/proc/$new/ns/user")" = "$(readlink "/proc/$mon/ns/user")" ] || fail "another user namespace"
	[ "$(readlink "/proc/$new/ns/mnt")" = "$(readlink "/proc/$mon/ns/mnt")" ] || fail "another mount namespace"
	grep -q "$id" "/proc/$new/mountinfo" || fail "the container's mounts are out of sight"
	run nbu rm -f "$id"
	[ "$status" -eq 0 ] || fail "rm -f: $output"
	! grep -q "$id" "/proc/$new/mountinfo" || fail "mounts left: $(grep "$id" "/proc/$new/mountinfo")"
	# The monitor ends (and is reaped) just after rm.
	for _ in $(seq 50); do
		[ "$(nb_procs "$new")" = "$new" ] && break
		sleep 0.1
	done
	[ "$(nb_procs "$new")" = "$new" ] || fail "left: $(ps -f -u "$RLNB_USER")"
}

# nbu_with VAR=VALUE... -- ARGS...: nbu with the user's environment changed.
nbu_with() {
	local RLNB_ENV=()
	while [ "$1" != -- ]; do
		RLNB_ENV+=("$1")
		shift
	done
	shift
	nbu "$@"
}
