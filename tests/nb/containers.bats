#!/usr/bin/env bats
# nb's containers on a root filesystem directory (--rootfs): create, run (attached and -d),
# ps, logs, exec, stop, kill, rm, inspect; every create flag proven from inside the container.

load helpers

setup() {
	setup_store
	ROOTFS="$TEST_DIR/rootfs"
	mkdir -p "$ROOTFS"
	"$REPO_ROOT/tests/engines/mkimage.sh" rootfs "$TEST_DIR/rootfs.tar"
	tar -C "$ROOTFS" -xf "$TEST_DIR/rootfs.tar"
	echo "app:x:1000:1000:app:/home/app:/bin/sh" >>"$ROOTFS/etc/passwd"
	echo "app:x:1000:" >>"$ROOTFS/etc/group"
	nb init >/dev/null
}

# nb_run_cmd SCRIPT [CREATE FLAGS...]: create a container running sh -c SCRIPT and run it
# attached; $status and $output are the container's.
nb_run_cmd() {
	local script="$1" id
	shift
	id="$(nb create --rootfs "$ROOTFS" "$@" sh -c "$script")" || return 1
	run nb run "$id"
	echo "container $id exited $status:"
	printf '%s\n' "$output"
}

@test "nb create prints an nb- id; ps -a, inspect and run attached show it; the exit status is nb's" {
	run nb create --name web --rootfs "$ROOTFS" sh -c 'echo hello; exit 3'
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^nb-[0-9a-f]{8}$ ]]
	local id="$output"
	run nb ps -a
	[[ "$(sed -n 1p <<<"$output")" =~ ^CONTAINER\ ID\ +NAME\ +IMAGE\ +COMMAND\ +CREATED\ +STATUS$ ]]
	# COMMAND is cut at 20 characters, as docker's is.
	[[ "$(sed -n 2p <<<"$output")" =~ ^$id\ +web\ +$ROOTFS\ +\"sh\ -c\ echo\ hello\;\ e…\"\ +(Less\ than\ a\ second|[0-9]+\ seconds?)\ ago\ +Created$ ]]
	run nb ps
	[ "$output" = "CONTAINER ID   NAME   IMAGE   COMMAND   CREATED   STATUS" ]
	run nb run web
	[ "$status" -eq 3 ]
	[ "$output" = hello ]
	run nb ps -a --format json
	[ "$(jq -r '.[0].status, .[0].exit_code, .[0].name' <<<"$output")" = "exited
3
web" ]
	run nb ps -a
	[[ "$(sed -n 2p <<<"$output")" =~ Exited\ \(3\)\ (Less\ than\ a\ second|[0-9]+\ seconds?)\ ago$ ]]
	run nb inspect "${id:0:6}"
	[ "$(jq -r '.[0].id, .[0].config.rootfs' <<<"$output")" = "$id
$ROOTFS" ]
}

@test "nb create flags, proven from inside: hostname, workdir, env, user, memory, cpus, pids, caps" {
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	nb_run_cmd 'hostname; pwd; echo $A $B; id; cat /sys/fs/cgroup/memory/memory.limit_in_bytes;
		cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max; grep ^CapEff /proc/self/status' \
		--hostname box -w /tmp -e A=1 -e B=two --user app --memory 64m --cpus 0.5 --pids-limit 40 \
		--cap-drop ALL --cap-add NET_ADMIN
	[ "$status" -eq 0 ]
	[ "$output" = "box
/tmp
1 two
uid=1000(app) gid=1000(app)
67108864
50000
40
CapEff:	0000000000000000" ]
	nb_run_cmd 'id -u; id -g' --uid 1234 --gid 5678
	[ "$output" = "1234
5678" ]
	nb_run_cmd 'grep ^CapEff /proc/self/status' --cap-drop ALL --cap-add NET_ADMIN --user 0
	[ "$output" = "CapEff:	0000000000001000" ]
}

@test "a numeric --uid/--gid or --user needs no /etc/passwd in the root, as in docker: HOME is /" {
	rm "$ROOTFS/etc/passwd" "$ROOTFS/etc/group"
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	nb_run_cmd 'id -u; id -g; echo $HOME' --hostname my-container --workdir / --env PATH=/bin --uid 1000 --gid 1000
	[ "$status" -eq 0 ]
	[ "$output" = "1000
1000
/" ]
	nb_run_cmd 'id -u; id -g' --user 1234:5678
	[ "$output" = "1234
5678" ]
	# A name still needs its entry, and says so.
	run --separate-stderr nb create --rootfs "$ROOTFS" --user app true
	[ "$status" -eq 1 ]
	# shellcheck disable=SC2154 # set by bats' run
	[ "$stderr" = "nb: --user \"app\": no such user in the container's /etc/passwd" ]
}

@test "nb create -v (volume and host dir, rw and ro), --tmpfs, --read-only" {
	nb volume create data >/dev/null
	mkdir -p "$TEST_DIR/host"
	echo from-host >"$TEST_DIR/host/f"
	nb_run_cmd 'echo v >/data/v && cat /host/f; echo x >/host/g 2>&1; touch /t/y && echo tmpfs; touch /z 2>&1; echo end' \
		-v data:/data -v "$TEST_DIR/host:/host:ro" --tmpfs /t --read-only
	[ "$output" = "from-host
sh: can't create /host/g: Read-only file system
tmpfs
touch: /z: Read-only file system
end" ]
	[ "$(cat "$STORE/volumes/data/_data/v")" = v ]
	# A volume a container mounts cannot be removed.
	run --separate-stderr nb volume rm data
	[ "$status" -eq 1 ]
	# shellcheck disable=SC2154 # set by bats' run
	[[ "$stderr" == "nb: volume data is in use by container nb-"* ]]
}

@test "nb create --network none has only lo; --network host shares the host's" {
	nb_run_cmd 'ls /sys/class/net | tr "\n" " "' --network none
	[ "$output" = "lo " ]
	nb_run_cmd 'ls /sys/class/net | wc -l' --network host
	[ "$output" = "$(find /sys/class/net -mindepth 1 -maxdepth 1 | wc -l)" ]
}

@test "nb run -t gives the process a terminal nb relays" {
	local id
	id="$(nb create -t --rootfs "$ROOTFS" sh -c 'tty; stty size; exit 2')"
	run in_pty "stty rows 21 cols 61; $NB --root $STORE run $id; echo rc=\$?"
	[ "$output" = "/dev/pts/0
21 61
rc=2" ]
}

@test "nb run -d: output and exit status survive the nb that started it; logs -f follows to the end" {
	local id
	id="$(nb create --name bg --rootfs "$ROOTFS" sh -c 'echo one; sleep 1; echo two; exit 7')"
	run nb run -d bg
	[ "$status" -eq 0 ]
	[ "$output" = "$id" ]
	run nb ps -q
	[ "$output" = "$id" ]
	run nb logs -f bg
	[ "$output" = "one
two" ]
	run nb ps -a --format json
	[ "$(jq -r '.[0].status, .[0].exit_code' <<<"$output")" = "exited
7" ]
	run nb logs bg
	[ "$output" = "one
two" ]
}

@test "nb exec runs in the container with its status; nb stop sends SIGTERM, then SIGKILL" {
	nb create --name s --rootfs "$ROOTFS" sh -c 'trap "echo term; exit 4" TERM; while :; do sleep 0.1; done' >/dev/null
	nb run -d s >/dev/null
	run nb exec s sh -c 'echo in-exec; cat /proc/1/cmdline | tr "\0" " "; exit 6'
	[ "$status" -eq 6 ]
	[ "$output" = "in-exec
sh -c trap \"echo term; exit 4\" TERM; while :; do sleep 0.1; done " ]
	run nb stop s
	[ "$output" = s ]
	run nb inspect s
	[ "$(jq -r '.[0].status, .[0].exit_code' <<<"$output")" = "exited
4" ]
	[ "$(nb logs s)" = term ]
	# A process that ignores SIGTERM gets SIGKILL after -t seconds.
	nb create --name k --rootfs "$ROOTFS" sh -c 'trap "" TERM; while :; do sleep 0.1; done' >/dev/null
	nb run -d k >/dev/null
	local t0=$SECONDS
	nb stop -t 1 k >/dev/null
	[ $((SECONDS - t0)) -lt 5 ]
	[ "$(nb inspect k | jq -r '.[0].exit_code')" = 137 ]
}

@test "nb create --init: an init is process 1 and runs the command; nb stop ends a command without a TERM handler at once" {
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	nb_run_cmd 'tr "\0" " " </proc/1/cmdline; echo; [ $$ -ne 1 ] && echo not-pid-1' --init
	[ "$status" -eq 0 ]
	[ "$output" = '/sbin/docker-init -- sh -c tr "\0" " " </proc/1/cmdline; echo; [ $$ -ne 1 ] && echo not-pid-1 
not-pid-1' ]
	# sleep as process 1 would ignore SIGTERM (no handler) until -t runs out; under the init
	# it gets the signal and dies of it.
	nb create --init --name s --rootfs "$ROOTFS" sleep 1000 >/dev/null
	nb run -d s >/dev/null
	local t0=$SECONDS
	nb stop -t 30 s >/dev/null
	[ $((SECONDS - t0)) -lt 10 ]
	[ "$(nb inspect s | jq -r '.[0].exit_code')" = 143 ]
}

@test "nb create --init-path names the init; a dynamic one or --init-path without --init is refused" {
	nb_run_cmd 'tr "\0" " " </proc/1/cmdline' --init --init-path /usr/bin/catatonit
	[ "$output" = '/sbin/docker-init -- sh -c tr "\0" " " </proc/1/cmdline ' ]
	run --separate-stderr nb create --rootfs "$ROOTFS" --init --init-path /bin/ls true
	[ "$status" -eq 1 ]
	# shellcheck disable=SC2154 # set by bats' run
	[ "$stderr" = "nb: --init-path /bin/ls: dynamically linked: the container's root has not the host's libraries; give a static init" ]
	run --separate-stderr nb create --rootfs "$ROOTFS" --init-path /usr/bin/catatonit true
	[ "$stderr" = "nb: --init-path /usr/bin/catatonit: give --init too" ]
	run --separate-stderr nb create --rootfs "$ROOTFS" --init --init-path /nope true
	[[ "$stderr" == "nb: --init-path /nope: "*"no such file or directory" ]]
	[ "$(nb ps -aq | wc -l)" = 1 ]
}

@test "nb kill sends a signal; nb rm refuses a running container without -f" {
	nb create --name k --rootfs "$ROOTFS" sh -c 'trap "echo usr1" USR1; while :; do sleep 0.1; done' >/dev/null
	nb run -d k >/dev/null
	sleep 0.3
	nb kill -s USR1 k >/dev/null
	sleep 0.5
	[ "$(nb logs k)" = usr1 ]
	run --separate-stderr nb rm k
	[ "$status" -eq 1 ]
	[[ "$stderr" == "nb: container nb-"*" is running: stop it first, or use rm -f" ]]
	[ "$(nb ps -q | wc -l)" = 1 ]
	run nb rm -f k
	[ "$output" = k ]
	[ -z "$(nb ps -aq)" ]
	[ -z "$(ls -A "$STORE/containers")" ]
	[ -z "$(ls -A "$STORE/runtime")" ]
}

@test "a container whose process died with its monitor shows Exited, never a stale Up" {
	local id mon pid
	id="$(nb create --rootfs "$ROOTFS" sleep 1000)"
	nb run -d "$id" >/dev/null
	mon="$(pgrep -f "__monitor $id")"
	pid="$(nb inspect "$id" | jq -r '.[0].pid')"
	kill -KILL "$mon"
	kill -KILL "$pid"
	sleep 0.3
	run nb ps -a --format json
	[ "$(jq -r '.[0].status, .[0].exit_code' <<<"$output")" = "exited
255" ]
}

@test "names are unique; unknown ids and bad flags fail with a clear message and change nothing" {
	nb create --name a --rootfs "$ROOTFS" true >/dev/null
	run --separate-stderr nb create --name a --rootfs "$ROOTFS" true
	[ "$status" -eq 1 ]
	[[ "$stderr" == 'nb: the name "a" is taken by container nb-'* ]]
	run --separate-stderr nb run nope
	[ "$stderr" = "nb: no such container: nope" ]
	run --separate-stderr nb create --rootfs "$ROOTFS" --memory 64x true
	[[ "$stderr" == 'nb: --memory "64x"'* ]]
	run --separate-stderr nb create --rootfs "$TEST_DIR/nothing" true
	[ "$stderr" = "nb: --rootfs $TEST_DIR/nothing: not a directory" ]
	run --separate-stderr nb create --rootfs "$ROOTFS" -v nosuchvolume:/x true
	[[ "$stderr" == "nb: -v nosuchvolume:/x: no such volume: nosuchvolume" ]]
	[ "$(nb ps -aq | wc -l)" = 1 ]
	[ "$(find "$STORE/containers" -mindepth 1 -maxdepth 1 | wc -l)" = 1 ]
}

@test "nb exec -t gives the command a terminal, sized like the caller's" {
	nb create --name t --rootfs "$ROOTFS" sleep 1000 >/dev/null
	nb run -d t >/dev/null
	run in_pty "stty rows 17 cols 33; $NB --root $STORE exec -t t sh -c 'tty; stty size; exit 5'; echo rc=\$?"
	[ "$output" = "/dev/pts/0
17 33
rc=5" ]
}

@test "nb run -d of a container with -t keeps its terminal's output in the log" {
	nb create -t --name tt --rootfs "$ROOTFS" sh -c 'tty; echo on-tty; exit 3' >/dev/null
	nb run -d tt >/dev/null
	run nb logs -f tt
	[ "$(tr -d '\r' <<<"$output")" = "/dev/pts/0
on-tty" ]
	[ "$(nb inspect tt | jq -r '.[0].exit_code')" = 3 ]
}

@test "an exited container runs again with nb run" {
	nb create --name again --rootfs "$ROOTFS" sh -c 'echo run' >/dev/null
	nb run again >/dev/null
	run nb run again
	[ "$status" -eq 0 ]
	[ "$output" = run ]
}
