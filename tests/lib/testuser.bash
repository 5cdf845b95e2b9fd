# shellcheck shell=bash
# remove_test_user USER SUB_START SUB_COUNT: a test suite's unprivileged user, its processes and
# those of its subordinate ids (all were started by the tests), its home, its XDG_RUNTIME_DIR and
# its subuid and subgid lines: whatever a run (this one, or one killed before its teardown) left.
# Shared by tests/rootless and tests/nb/rootless.bats.
remove_test_user() {
	local user="$1" lo="$2" n="$3" uid pid
	uid="$(id -u "$user" 2>/dev/null)" || uid=""
	if [ -n "$uid" ]; then
		for pid in $(ps -e -o pid=,uid= | awk -v u="$uid" -v lo="$lo" -v n="$n" \
			'$2 == u || ($2 >= lo && $2 < lo + n) {print $1}'); do
			kill -KILL "$pid" 2>/dev/null
		done
		# userdel refuses a user with processes: SIGKILL is not instant.
		for _ in $(seq 50); do
			[ -z "$(ps -o pid= -u "$uid")" ] && break
			sleep 0.1
		done
		userdel -r "$user" >/dev/null 2>&1
		rm -rf "/run/user/$uid"
	fi
	sed -i "/^$user:/d" /etc/subuid /etc/subgid 2>/dev/null
	return 0
}
