#!/usr/bin/env bash
# Shared by the bats suites that need a terminal on the caller's side.

# in_pty CMD: run the shell command CMD on a pty of its own (script(1)) sized 24x80; prints its
# output without carriage returns. script's stdin stays open until CMD ends: at EOF script
# would type ^D into the pty.
in_pty() {
	local done="$BATS_TEST_TMPDIR/pty.done"
	rm -f "$done"
	{
		while [ ! -e "$done" ]; do sleep 0.05; done
	} | {
		rc=0
		timeout -k 5 "${PTY_TIMEOUT:-60}" script -qefc "stty rows 24 cols 80; $1" /dev/null || rc=$?
		touch "$done"
		exit "$rc"
	} | tr -d '\r'
	return "${PIPESTATUS[1]}"
}
