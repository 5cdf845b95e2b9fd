#!/usr/bin/env bats
# nb init, nb volume, nb info: the store on disk.

load helpers

@test "nb init makes the store, and again changes nothing" {
	run nb init
	[ "$status" -eq 0 ]
	[ "$output" = "nb store ready at $STORE" ]
	[ -d "$STORE/images" ] && [ -d "$STORE/containers" ] && [ -d "$STORE/volumes" ]
	touch "$STORE/volumes/keep"
	run nb init
	[ "$status" -eq 0 ]
	[ -e "$STORE/volumes/keep" ]
}

@test "every other command on a missing store says how to make one" {
	local cmd
	for cmd in "info" "volume ls" "volume create x"; do
		# shellcheck disable=SC2086
		run --separate-stderr nb $cmd
		[ "$status" -eq 1 ]
		# shellcheck disable=SC2154 # set by bats' run
		[ "$stderr" = "nb: no nb store at $STORE: run \`nb init\` (or \`nb --root $STORE init\`) first" ]
	done
	[ ! -e "$STORE" ]
}

@test "NEBULON_ROOT names the store when --root is not given" {
	NEBULON_ROOT="$STORE" run "$NB" init
	[ "$status" -eq 0 ]
	[ -d "$STORE/containers" ]
}

@test "nb volume create, ls (table, -q, json), inspect and rm" {
	nb init >/dev/null
	run nb volume create data
	[ "$output" = data ]
	run nb volume create --opt purpose=cache cache
	[ "$output" = cache ]
	run nb volume ls
	[ "$output" = "DRIVER   VOLUME NAME
local    cache
local    data" ]
	run nb volume ls -q
	[ "$output" = "cache
data" ]
	run nb volume ls --format json
	[ "$(jq -r '.[1].Name, .[1].Driver, .[1].Mountpoint' <<<"$output")" = "data
local
$STORE/volumes/data/_data" ]
	run nb volume inspect cache
	[ "$(jq -r '.[0].Options.purpose' <<<"$output")" = cache ]
	[ -d "$STORE/volumes/data/_data" ]
	run nb volume rm data
	[ "$output" = data ]
	[ ! -e "$STORE/volumes/data" ]
	run nb volume ls -q
	[ "$output" = cache ]
}

@test "nb volume errors name the problem and change nothing" {
	nb init >/dev/null
	nb volume create data >/dev/null
	run --separate-stderr nb volume create data
	[ "$status" -eq 1 ]
	[ "$stderr" = "nb: volume already exists: data" ]
	run --separate-stderr nb volume create ../escape
	[ "$stderr" = 'nb: volume name "../escape": want letters, digits and _.- (starting with a letter or digit)' ]
	run --separate-stderr nb volume create --driver nfs other
	[ "$stderr" = 'nb: volume driver "nfs": only local is available' ]
	run --separate-stderr nb volume rm nope
	[ "$stderr" = "nb: no such volume: nope" ]
	run --separate-stderr nb volume inspect nope
	[ "$status" -eq 1 ]
	[ "$(ls "$STORE/volumes")" = data ]
}

@test "flags may follow a command's arguments, as docker takes them; a literal -- ends them" {
	nb init >/dev/null
	run --separate-stderr nb volume create myvolume --driver local
	[ "$status" -eq 0 ]
	[ "$output" = myvolume ]
	run --separate-stderr nb volume create cache --opt purpose=cache
	[ "$status" -eq 0 ]
	run nb volume inspect cache
	[ "$(jq -r '.[0].Options.purpose' <<<"$output")" = cache ]
	run nb volume ls --format json -q
	[ "$output" = "cache
myvolume" ]
	run --separate-stderr nb volume create other --driver nfs
	[ "$stderr" = 'nb: volume driver "nfs": only local is available' ]
	# After "--" a word that looks like a flag is an argument: here a name nb refuses.
	run --separate-stderr nb volume create -- --driver
	[ "$status" -eq 1 ]
	[ "$stderr" = 'nb: volume name "--driver": want letters, digits and _.- (starting with a letter or digit)' ]
	[ "$(ls "$STORE/volumes")" = "cache
myvolume" ]
}

@test "nb info shows the host's kernel, cgroups, namespaces, security modules and the store" {
	nb init >/dev/null
	nb volume create a >/dev/null
	run nb info
	[ "$status" -eq 0 ]
	grep -qx "Kernel: $(uname -r)" <<<"$output"
	grep -Eqx "Cgroup version: (v1|hybrid|v2)" <<<"$output"
	grep -Eq "^Cgroup controllers: .*memory" <<<"$output"
	grep -qx "Namespaces: cgroup ipc mount network pid time user uts" <<<"$output"
	grep -Eqx "Seccomp: (available|not available)" <<<"$output"
	grep -qx "Store: $STORE" <<<"$output"
	grep -qx "Images: 0" <<<"$output"
	grep -qx "Containers: 0" <<<"$output"
	grep -qx "Volumes: 1" <<<"$output"
}

@test "nb completion bash completes commands and subcommands from nb itself; zsh prints a compdef script" {
	run bash -c "source <($NB completion bash)
		COMP_WORDS=(nb ima); COMP_CWORD=1; PATH=$(dirname "$NB"):\$PATH _nb_complete; echo \"\${COMPREPLY[*]}\"
		COMP_WORDS=(nb image i); COMP_CWORD=2; PATH=$(dirname "$NB"):\$PATH _nb_complete; echo \"\${COMPREPLY[*]}\""
	[ "$status" -eq 0 ]
	[ "$output" = "image
import inspect" ]
	run nb completion zsh
	[ "$(sed -n 1p <<<"$output")" = "#compdef nb" ]
	if command -v zsh >/dev/null; then
		zsh -n <(nb completion zsh)
	fi
	# The monitor is nb's own business, not a command to complete.
	! "$NB" --generate-bash-completion | grep -q monitor || fail "bash completion offers the monitor"
	run --separate-stderr nb completion fish
	[ "$stderr" = 'nb: completion: shell "fish": want bash or zsh' ]
}

@test "every nb command's --help has examples" {
	local cmd
	for cmd in init create run ps stop kill rm exec inspect logs info completion \
		"image import" "image load" "image ls" "image rm" "image inspect" \
		pull push login logout "image pull" "image push" \
		"volume create" "volume ls" "volume rm" "volume inspect"; do
		# shellcheck disable=SC2086
		run "$NB" $cmd --help
		[ "$status" -eq 0 ] || fail "$cmd --help failed"
		grep -Eq "^ +nb " <<<"$output" || fail "nb $cmd --help has no example: $output"
	done
}
