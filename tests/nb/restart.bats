#!/usr/bin/env bats
# nb create --restart: the monitor of a detached container restarts it as docker's policies say,
# with docker's backoff, counts the restarts, keeps its network across them, and nb stop ends it
# for good.

load helpers

setup() {
	setup_store_with_image
}

teardown() {
	teardown_store
}

# field ID FILTER: fields of container ID's nb inspect (FILTER applies to its object).
field() { nb inspect "$1" | jq -r ".[0] | $2"; }

# monitor_gone ID: up to 20 s for container ID's monitor to end (its recorder lock free).
monitor_gone() {
	for _ in $(seq 200); do
		flock -n "$STORE/containers/$1/recorder.lock" true && return 0
		sleep 0.1
	done
	fail "the monitor of $1 still runs after 20 s: $(nb inspect "$1")"
}

@test "--restart on-failure:2 restarts a failing container twice, on its network, then it stays exited" {
	id="$(nb create --restart on-failure:2 bb sh -c 'ip -4 -o addr show eth0 | cut -d" " -f7; exit 3')"
	nb run -d "$id"
	monitor_gone "$id"
	[ "$(field "$id" '.status, .exit_code, .restart_count')" = "exited
3
2" ]
	run nb logs "$id"
	[ "${#lines[@]}" -eq 3 ] || fail "want 3 runs in the log: $output"
	# The same address each time: the network stays across restarts.
	[ "$(sort -u <<<"$output" | wc -l)" -eq 1 ] || fail "addresses changed: $output"
	[[ "$output" =~ ^10\.77\.0\.[0-9]+/24 ]]
	run iptables -w -t nat -S
	! grep -F -- "$id" <<<"$output" || fail "rules of $id are left"
	[ ! -e "$STORE/containers/$id/netns" ]
	run nb ps -a
	[[ "$(sed -n 2p <<<"$output")" =~ Exited\ \(3\) ]]
}

@test "--restart on-failure leaves a container that exits 0 alone; no is the default" {
	id="$(nb create --restart on-failure bb true)"
	nb run -d "$id"
	monitor_gone "$id"
	[ "$(field "$id" '.exit_code, .restart_count, .config.restart')" = "0
0
on-failure" ]
	id="$(nb create bb false)"
	nb run -d "$id"
	monitor_gone "$id"
	[ "$(field "$id" '.exit_code, .restart_count, .config.restart')" = "1
0
no" ]
}

@test "--restart always restarts a container that exits 0 until nb stop, which stops it for good" {
	id="$(nb create --restart always bb sh -c 'echo run; sleep 0.2')"
	nb run -d "$id"
	for _ in $(seq 100); do
		[ "$(field "$id" .restart_count)" -ge 3 ] && break
		sleep 0.1
	done
	[ "$(field "$id" .restart_count)" -ge 3 ] || fail "not restarted 3 times in 10 s: $(nb inspect "$id")"
	nb stop -t 1 "$id"
	monitor_gone "$id"
	[ "$(field "$id" .status)" = exited ]
	count="$(field "$id" .restart_count)"
	sleep 1
	[ "$(field "$id" '.status, .restart_count')" = "exited
$count" ] || fail "restarted after nb stop"
	# nb run starts it again, with its count from 0.
	nb run -d "$id"
	[ "$(field "$id" '.status, .manually_stopped')" = "running
null" ]
	nb rm -f "$id"
}

@test "--restart unless-stopped restarts as always; the backoff doubles from 100 ms" {
	id="$(nb create --restart unless-stopped bb sh -c 'cut -d" " -f1 /proc/uptime; exit 1')"
	nb run -d "$id"
	for _ in $(seq 100); do
		[ "$(field "$id" .restart_count)" -ge 5 ] && break
		sleep 0.1
	done
	nb stop -t 1 "$id"
	run nb logs "$id"
	[ "${#lines[@]}" -ge 5 ] || fail "want 5 runs: $output"
	# 100, 200, 400, 800 ms between them: the fourth gap is longer than the first by more than
	# the time a run takes.
	gap1="$(awk 'NR==1{a=$1} NR==2{print $1-a}' <<<"$output")"
	gap4="$(awk 'NR==4{a=$1} NR==5{print $1-a}' <<<"$output")"
	awk -v a="$gap1" -v b="$gap4" 'BEGIN{exit !(b > a + 0.5)}' || fail "gaps $gap1 then $gap4: no backoff"
}

@test "nb rm of a container between two restarts ends its monitor and leaves nothing" {
	id="$(nb create --restart always bb sh -c 'exit 1')"
	nb run -d "$id"
	# After the fourth exit the backoff is 1.6 s: the container is exited, its monitor waiting.
	for _ in $(seq 100); do
		[ "$(field "$id" '.restart_count >= 4 and .status == "exited"')" = true ] && break
		sleep 0.05
	done
	[ "$(field "$id" '.restart_count >= 4 and .status == "exited"')" = true ] || fail "$(nb inspect "$id")"
	nb rm "$id"
	run pgrep -f -- "__monitor $id"
	[ "$status" -eq 1 ] || fail "its monitor still runs: $output"
	[ ! -e "$STORE/containers/$id" ] || fail "its directory is left"
	run iptables -w -t nat -S
	! grep -F -- "$id" <<<"$output" || fail "rules of $id are left"
	run nb ps -aq
	[ -z "$output" ]
}

@test "nb stop during a restart's backoff returns at once and stops the container for good" {
	id="$(nb create --restart on-failure bb sh -c 'exit 1')"
	nb run -d "$id"
	# From the fifth restart on the backoff is 1.6 s or more: the container is exited, its monitor
	# waiting.
	for _ in $(seq 100); do
		[ "$(field "$id" '.restart_count >= 5 and .status == "exited"')" = true ] && break
		sleep 0.05
	done
	[ "$(field "$id" '.restart_count >= 5 and .status == "exited"')" = true ] || fail "$(nb inspect "$id")"
	local start=$SECONDS
	nb stop "$id"
	[ $((SECONDS - start)) -le 2 ] || fail "nb stop took $((SECONDS - start)) s"
	monitor_gone "$id"
	count="$(field "$id" .restart_count)"
	sleep 4
	[ "$(field "$id" '.status, .restart_count, .manually_stopped')" = "exited
$count
true" ] || fail "restarted after nb stop: $(nb inspect "$id")"
	[ ! -e "$STORE/containers/$id/netns" ] || fail "its namespace is left"
}

@test "bad --restart values are refused" {
	run nb create --restart on-failure:x bb true
	[ "$status" -eq 1 ]
	[ "$output" = 'nb: --restart "on-failure:x": the count must be a whole number' ]
	run nb create --restart always:3 bb true
	[ "$output" = 'nb: --restart "always:3": only on-failure takes a count' ]
	run nb ps -aq
	[ -z "$output" ]
}
