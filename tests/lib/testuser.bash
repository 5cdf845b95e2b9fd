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

# add_test_user USER SUB_START SUB_COUNT: makes the suite's unprivileged user afresh (whatever an
# earlier run left is removed first), with the subuid and subgid range given (not useradd's own,
# SUB_UID_MIN in login.defs) and its XDG_RUNTIME_DIR, /run/user/UID (0700, the user's), as a
# login session has it. Prints the uid.
add_test_user() {
	local user="$1" lo="$2" n="$3" uid
	remove_test_user "$user" "$lo" "$n"
	useradd --create-home --shell /bin/sh "$user" >&2 || return 1
	sed -i "/^$user:/d" /etc/subuid /etc/subgid
	echo "$user:$lo:$n" >>/etc/subuid
	echo "$user:$lo:$n" >>/etc/subgid
	uid="$(id -u "$user")"
	mkdir -p "/run/user/$uid"
	chown "$uid:$(id -g "$user")" "/run/user/$uid"
	chmod 0700 "/run/user/$uid"
	echo "$uid"
}
