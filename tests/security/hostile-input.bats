#!/usr/bin/env bats
# Hostile names from the caller: container ids, hook paths and a bundle's
# config.json that try to make the runtime read or write outside its
# directories.

load ../integration/helpers

# tree_of DIR: every path under DIR, sorted.
tree_of() {
	find "$1" -mindepth 1 | sort
}

@test "a container id with a path in it is refused by every command, and nothing is made outside --root" {
	local before id cmd
	mkdir -p "$ROOT"
	before="$(tree_of "$TEST_DIR" | grep -v "^$TEST_DIR/io")"
	for id in "../escape" "../../tmp/escape" "a/b" "/abs" ".." "." "" "x y" $'x\ny' "$(printf 'a%.0s' $(seq 1025))"; do
		for cmd in "create -b $BUNDLE" "run -b $BUNDLE" "state" "delete --force" "kill" "start" "pause" "exec"; do
			# shellcheck disable=SC2086
			run --separate-stderr runtime $cmd "$id" true
			[ "$status" -ne 0 ] || fail "$cmd '$id' succeeded" || return 1
		done
	done
	[ "$(tree_of "$TEST_DIR" | grep -v "^$TEST_DIR/io")" = "$before" ]
	[ ! -e /tmp/escape ]
	# The refusal names the rule.
	run --separate-stderr runtime create -b "$BUNDLE" ../escape
	# shellcheck disable=SC2154 # set by bats' run
	[[ "$stderr" == *'../escape'*'only letters, digits and _+-. are allowed'* ]] || is_runc
}

@test "a hook path that is not absolute, or names nothing, fails create, naming the field, and leaves nothing" {
	skip_if_runc "1.1.5 accepts a relative hook path"
	# shellcheck disable=SC2016 # $ is jq's
	update_config '.hooks.prestart = [{"path": "../../../bin/sh", "args": ["sh", "-c", ("touch " + $f)]}]' \
		--arg f "$TEST_DIR/hooked"
	snapshot_host
	run --separate-stderr runtime create -b "$BUNDLE" "$CT"
	echo "$stderr"
	[ "$status" -ne 0 ]
	is_runc || [[ "$stderr" == *'hooks.prestart[0].path: '*'../../../bin/sh'*' is not an absolute path'* ]]
	assert_nothing_left
	[ ! -e "$TEST_DIR/hooked" ]

	# shellcheck disable=SC2016 # $ is jq's
	update_config '.hooks.prestart[0].path = $p' --arg p "$TEST_DIR/no-such-hook"
	run --separate-stderr runtime create -b "$BUNDLE" "$CT"
	echo "$stderr"
	[ "$status" -ne 0 ]
	is_runc || [[ "$stderr" == *"$TEST_DIR/no-such-hook"* ]]
	assert_nothing_left
}

@test "a bundle whose config.json is a symlink out of it is refused, and the file it names is not read" {
	skip_if_runc "1.1.5 follows the symlink"
	mv "$BUNDLE/config.json" "$TEST_DIR/elsewhere.json"
	ln -s "$TEST_DIR/elsewhere.json" "$BUNDLE/config.json"
	snapshot_host
	run --separate-stderr runtime create -b "$BUNDLE" "$CT"
	echo "$stderr"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"config.json"*"symlink"* ]]
	assert_nothing_left
}

@test "the runtime writes nothing into the bundle outside its rootfs" {
	local before
	before="$(tree_of "$BUNDLE" | grep -v "^$BUNDLE/rootfs/")"
	update_config '.process.args = ["true"]'
	before="$(tree_of "$BUNDLE" | grep -v "^$BUNDLE/rootfs/")"
	runtime run -b "$BUNDLE" "$CT"
	runtime create -b "$BUNDLE" "$CT"
	runtime delete "$CT"
	[ "$(tree_of "$BUNDLE" | grep -v "^$BUNDLE/rootfs/")" = "$before" ]
}
