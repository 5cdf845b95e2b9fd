#!/usr/bin/env bats
# Linux security modules: process.apparmorProfile, process.selinuxLabel,
# linux.mountLabel, and exec's --apparmor and --process-label.

load helpers

apparmor_enabled() {
	[ -d /sys/kernel/security/apparmor ] && grep -q Y /sys/module/apparmor/parameters/enabled 2>/dev/null
}

selinux_enabled() {
	[ -e /sys/fs/selinux/enforce ]
}

@test "apparmorProfile where AppArmor is off fails create, naming the field, and leaves nothing" {
	apparmor_enabled && skip "AppArmor is enabled on this host"
	update_config '.process.apparmorProfile = "nebulon-test"'
	refused '*process.apparmorProfile: *nebulon-test*: AppArmor is not enabled on this host*' create -b "$BUNDLE" "$CT"
}

@test "apparmorProfile applies at exec where AppArmor is on" {
	apparmor_enabled || skip "AppArmor is not enabled on this host"
	command -v apparmor_parser >/dev/null || skip "apparmor_parser is not installed"
	# A process nothing confines reads "unconfined" whether or not the profile was applied, so
	# the test loads a profile of its own (allowing everything) and looks for its name.
	local profile="nebulon-test-$$"
	apparmor_parser -r <<-EOF
		profile $profile flags=(attach_disconnected,mediate_deleted) {
		  file, capability, network, mount, umount, pivot_root, ptrace, signal, unix, dbus,
		}
	EOF
	on_teardown "printf %s $profile >/sys/kernel/security/apparmor/.remove || true"
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.process.apparmorProfile = $p' --arg p "$profile"
	ct_run 'cat /proc/self/attr/current'
	[ "$status" -eq 0 ]
	[ "$output" = "$profile (enforce)" ] || fail "the process runs under \"$output\", not $profile"
}

@test "selinuxLabel and mountLabel are a no-op where SELinux is disabled, with a debug line in the log" {
	skip_if_runc "1.1.5 refuses a label where SELinux is disabled"
	selinux_enabled && skip "SELinux is enabled on this host"
	update_config '.process.selinuxLabel = "system_u:system_r:container_t:s0:c1,c2"
		| .linux.mountLabel = "system_u:object_r:container_file_t:s0:c1,c2"'
	set_cmd 'grep " /dev " /proc/self/mountinfo; echo ran'
	run --separate-stderr timeout 60 "$RUNTIME" --root "$ROOT" --debug --log "$TEST_DIR/log.json" --log-format json \
		run -b "$BUNDLE" "$CT"
	# shellcheck disable=SC2154 # set by bats' run
	echo "$output $stderr"; cat "$TEST_DIR/log.json"
	[ "$status" -eq 0 ]
	[[ "$output" == *ran* ]]
	# The kernel got no context= option.
	[[ "$output" != *context=* ]]
	if ! is_runc; then
		grep -q '"msg":"SELinux is disabled: labels are not applied"' "$TEST_DIR/log.json"
	fi
}

@test "exec --process-label is a no-op where SELinux is disabled; --apparmor fails where AppArmor is off" {
	skip_if_runc "1.1.5 refuses a label where SELinux is disabled"
	selinux_enabled && skip "SELinux is enabled on this host"
	apparmor_enabled && skip "AppArmor is enabled on this host"
	use_host_dir
	set_cmd 'touch /host/ready; exec sleep 1000'
	run_detached
	wait_for_file "$HOST_DIR/ready"
	# shellcheck disable=SC2034 # read by helpers.bash (assert_exec_left_nothing)
	INIT_PID="$(state_of | jq -r .pid)"
	run runtime exec --process-label "system_u:system_r:container_t:s0" "$CT" echo labelled
	[ "$status" -eq 0 ]
	[ "$output" = labelled ]
	exec_fails 'apparmor.*not enabled' --apparmor nebulon-test "$CT" true
}

@test "features reports AppArmor and SELinux support" {
	skip_if_runc "1.1.5 reports them only when the host has them"
	run runtime features
	[ "$status" -eq 0 ]
	[ "$(jq -r .linux.apparmor.enabled <<<"$output")" = true ]
	[ "$(jq -r .linux.selinux.enabled <<<"$output")" = true ]
}
