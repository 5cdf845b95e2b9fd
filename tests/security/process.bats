#!/usr/bin/env bats
# The init's process attributes an attacker inside the container could use:
# CVE-2016-9962 (a container process ptraces or reads the runtime's init,
# which holds host fds, before it execs) and CVE-2022-29162 (a non-empty
# inheritable capability set that file capabilities then raise).

load ../integration/helpers

setup() {
	setup_bundle
	use_host_dir
}

@test "CVE-2016-9962: the init is non-dumpable until it execs: a container process cannot read it" {
	skip_if_runc "1.1.5's init is dumpable while it waits for start: the container reads its environ, exe and fds"
	set_cmd 'exec sleep 1000'
	runtime create -b "$BUNDLE" "$CT"
	# The attacker joins the created container (its init waits for start,
	# still the runtime's code, holding the exec fifo) as root, with the
	# container's capabilities: the init has dropped to the same ones, so only
	# the dumpable flag keeps the attacker out (ptrace access mode checks).
	run runtime exec "$CT" sh -c 'cat /proc/1/environ >/dev/null 2>&1 && echo environ-read;
		readlink /proc/1/exe >/dev/null && echo exe-read; readlink /proc/1/fd/0 >/dev/null && echo fd-read; echo done'
	echo "before start: $output"
	[ "$status" -eq 0 ]
	[ "$output" = "done" ]
	# Once the container's own program runs, the same reads succeed: the
	# attacker was able to, had the init been dumpable.
	runtime start "$CT"
	run runtime exec "$CT" sh -c 'cat /proc/1/environ >/dev/null 2>&1 && echo environ-read;
		readlink /proc/1/exe >/dev/null && echo exe-read; readlink /proc/1/fd/0 >/dev/null && echo fd-read; echo done'
	echo "after start: $output"
	[ "$output" = "environ-read
exe-read
fd-read
done" ]
}

@test "CVE-2022-29162: the inheritable set is empty unless the spec lists it, for run and exec" {
	set_cmd 'grep ^CapInh: /proc/self/status >/host/init-inh; touch /host/ready; exec sleep 1000'
	run_detached
	wait_for_file "$HOST_DIR/ready"
	[ "$(awk '{print $2}' "$HOST_DIR/init-inh")" = 0000000000000000 ]
	run runtime exec "$CT" grep ^CapInh: /proc/self/status
	[ "$(awk '{print $2}' <<<"$output")" = 0000000000000000 ]
	run runtime exec --cap CAP_NET_ADMIN "$CT" grep -E "^Cap(Inh|Eff):" /proc/self/status
	echo "$output"
	[ "$(awk '/CapInh/ {print $2}' <<<"$output")" = 0000000000000000 ]
	[ $((0x$(awk '/CapEff/ {print $2}' <<<"$output") >> 12 & 1)) -eq 1 ]

	runtime delete --force "$CT"
	update_config '.process.capabilities.inheritable = ["CAP_KILL"]'
	ct_run 'grep ^CapInh: /proc/self/status'
	[ "$(awk '{print $2}' <<<"$output")" = "$(cap_mask CAP_KILL)" ]
}
