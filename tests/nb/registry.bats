#!/usr/bin/env bats
# nb pull, push, login and logout against a real registry (Debian's docker-registry, on
# 127.0.0.1 with its storage under the test's directory), and the layer store they fill:
# layers stored once, freed with their last image.

load helpers
load registry

MKINDEX="${MKINDEX:-$REPO_ROOT/bin/mkindex}"

setup() {
	need_registry
	setup_store_with_image
	STORE2="$TEST_DIR/store2"
	: "${STORE:?}" # setup_store's
	nb2 init >/dev/null
}

teardown() {
	stop_registry
	if [ -n "${STORE2:-}" ] && [ -d "$STORE2/containers" ]; then
		for id in $(nb2 ps -aq 2>/dev/null); do nb2 rm -f "$id" >/dev/null 2>&1; done
	fi
	teardown_store
}

# nb2 ARGS...: nb on a second store, the one images are pulled into.
nb2() {
	timeout -k 5 60 "$NB" --root "$STORE2" "$@"
}

# assert_store_unchanged STORE IMAGES: the store lists the images IMAGES (nb image ls -q) and
# holds no work dir.
assert_store_unchanged() {
	local got
	got="$(timeout 60 "$NB" --root "$1" image ls -q)"
	[ "$got" = "$2" ] || fail "images after the failure: '$got', before: '$2'"
	got="$(ls -A "$1/images/tmp")"
	[ -z "$got" ] || fail "work dirs left in $1/images/tmp: $got"
}

@test "nb push, then nb pull into a fresh store: the image runs, and a second pull finds it all" {
	start_registry
	run --separate-stderr nb push bb "$REG/bb:1"
	[ "$status" -eq 0 ] || fail "push: $stderr"
	[[ "$output" == "Pushed $REG/bb:1"*"Digest: sha256:"* ]]
	[ -z "$stderr" ] # not a terminal: no progress bar
	run --separate-stderr nb2 pull "$REG/bb:1"
	[ "$status" -eq 0 ] || fail "pull: $stderr"
	[[ "$output" == *": Pull complete"*"Digest: sha256:"*"Status: Downloaded newer image for $REG/bb:1"* ]]
	local id="${lines[-1]}"
	[[ "$id" =~ ^[0-9a-f]{64}$ ]]
	run nb2 image ls
	[[ "$output" =~ $REG/bb\ +1\ +${id:0:12}\ .*[0-9.]+MB ]]
	local c
	c="$(nb2 create "$REG/bb:1" sh -c 'echo pulled and running')"
	run nb2 run "$c"
	[ "$status" -eq 0 ]
	[ "$output" = "pulled and running" ]
	nb2 rm "$c" >/dev/null
	run nb2 pull "$REG/bb:1"
	[ "$status" -eq 0 ]
	[[ "$output" == *": Already exists"*"Status: Image is up to date for $REG/bb:1"* ]]
	# On a terminal, progress bars.
	run in_pty "$NB --root $STORE pull $REG/bb:1"
	[ "$status" -eq 0 ]
	[[ "$output" == *"pulling $REG/bb:1 ["*"%"* ]] || fail "no progress bar on a terminal: $output"
	run in_pty "$NB --root $STORE push bb $REG/bb:2"
	[ "$status" -eq 0 ]
	[[ "$output" == *"pushing $REG/bb:2 ["*"%"* ]] || fail "no progress bar on a terminal: $output"
}

@test "nb push NAME pushes an image under its own name; nb pull NAME@DIGEST gives it, untagged" {
	start_registry
	nb image import "$TEST_DIR/rootfs.tar" "$REG/own" v1 >/dev/null
	run nb push "$REG/own:v1"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "Pushed $REG/own:v1" ]
	local digest="${lines[-1]#Digest: }"
	[[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]]
	run --separate-stderr nb2 pull "$REG/own@$digest"
	[ "$status" -eq 0 ] || fail "pull by digest: $stderr"
	[[ "$output" == *"Digest: $digest"* ]]
	local id="${lines[-1]}"
	run nb2 image ls
	[[ "$output" =~ \<none\>\ +\<none\>\ +${id:0:12} ]]
	run nb2 run "$(nb2 create "$id" echo by-digest)"
	[ "$output" = by-digest ]
}

@test "nb pull of a multi-platform index takes this machine's platform" {
	local arch
	case "$(uname -m)" in
	x86_64) arch=amd64 ;;
	aarch64) arch=arm64 ;;
	*) skip "the index has amd64 and arm64 images, this machine is $(uname -m)" ;;
	esac
	[ -x "$MKINDEX" ] || skip "$MKINDEX not built (make bin/mkindex)"
	start_registry
	nb push bb "$REG/bb:base" >/dev/null
	"$MKINDEX" "$REG/bb:base" "$REG/bb:multi" || fail "mkindex failed"
	run --separate-stderr nb2 pull "$REG/bb:multi"
	[ "$status" -eq 0 ] || fail "pull: $stderr"
	run nb2 image inspect "$REG/bb:multi"
	[ "$(jq -r '.[0].architecture' <<<"$output")" = "$arch" ]
	run nb2 run "$(nb2 create "$REG/bb:multi" cat /arch)"
	[ "$output" = "$arch" ]
}

@test "a registry with TLS and basic auth: refused without login, nb login keeps 0600 credentials, logout forgets them" {
	start_registry tls auth
	local before
	before="$(nb2 image ls -q)"
	run --separate-stderr nb push bb "$REG/bb:1" --cert-dir "$CERTS"
	[ "$status" -eq 1 ]
	[[ "$stderr" == "nb: push $REG/bb:1: the registry refused access (401); log in with nb login $REG: "* ]]
	# A certificate nb cannot check is named as the problem.
	run --separate-stderr nb login -u nbuser -p "$REG_PASSWORD" "$REG"
	[ "$status" -eq 1 ]
	[[ "$stderr" == "nb: login to $REG: the registry's certificate is not trusted (put its CA in /etc/containers/certs.d/$REG/ca.crt, or give --cert-dir DIR): "* ]] || fail "login without the CA: $stderr"
	[ ! -e "$STORE/auth.json" ]
	# A wrong password is refused, and nothing is kept.
	run --separate-stderr nb login -u nbuser -p wrong --cert-dir "$CERTS" "$REG"
	[ "$status" -eq 1 ]
	[[ "$stderr" == "nb: login to $REG: wrong username or password"* ]]
	[ ! -e "$STORE/auth.json" ]
	run --separate-stderr nb login -u nbuser --password-stdin --cert-dir "$CERTS" "$REG" <<<"$REG_PASSWORD"
	[ "$status" -eq 0 ] || fail "login: $stderr"
	[ "$output" = "Login Succeeded!" ]
	[ "$(stat -c %a "$STORE/auth.json")" = 600 ]
	[ "$(jq -r --arg r "$REG" '.auths[$r].auth' "$STORE/auth.json" | base64 -d)" = "nbuser:$REG_PASSWORD" ]
	run --separate-stderr nb push bb "$REG/bb:1" --cert-dir "$CERTS"
	[ "$status" -eq 0 ] || fail "push after login: $stderr"
	# The second store has no login: refused, and nothing is left in it.
	run --separate-stderr nb2 pull "$REG/bb:1" --cert-dir "$CERTS"
	[ "$status" -eq 1 ]
	[[ "$stderr" == "nb: pull $REG/bb:1: the registry refused access (401); log in with nb login $REG: "* ]]
	assert_store_unchanged "$STORE2" "$before"
	cp -p "$STORE/auth.json" "$STORE2/auth.json"
	run --separate-stderr nb2 pull "$REG/bb:1" --cert-dir "$CERTS"
	[ "$status" -eq 0 ] || fail "pull with credentials: $stderr"
	run nb2 run "$(nb2 create "$REG/bb:1" echo over-tls)"
	[ "$output" = over-tls ]
	run nb logout "$REG"
	[ "$status" -eq 0 ]
	[ "$output" = "Removed login credentials for $REG" ]
	[ ! -e "$STORE/auth.json" ]
	run --separate-stderr nb logout "$REG"
	[ "$status" -eq 1 ]
	[ "$stderr" = "nb: logout: not logged in to $REG" ]
	run --separate-stderr nb pull "$REG/bb:1" --cert-dir "$CERTS"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"nb login $REG"* ]]
}

@test "two images sharing a layer store it once; nb image rm frees it with the last of them" {
	[ -x "$MKINDEX" ] || skip "$MKINDEX not built (make bin/mkindex)"
	start_registry
	nb push bb "$REG/bb:base" >/dev/null
	"$MKINDEX" "$REG/bb:base" "$REG/bb:multi" || fail "mkindex failed"
	# multi is base's layer and one of its own.
	nb2 pull "$REG/bb:multi" >/dev/null
	[ "$(layer_count "$STORE2")" = 2 ]
	run nb2 pull "$REG/bb:base"
	[ "$status" -eq 0 ]
	[[ "$output" == *": Already exists"* ]]
	[ "$(layer_count "$STORE2")" = 2 ] || fail "the shared layer is stored twice: $(ls "$STORE2/images/layers")"
	run nb2 image rm "$REG/bb:multi"
	[ "$status" -eq 0 ]
	# The image, and its own layer (one Deleted line each); the shared one stays.
	[ "$(grep -c '^Deleted: ' <<<"$output")" = 2 ]
	[ "$(layer_count "$STORE2")" = 1 ]
	run nb2 run "$(nb2 create "$REG/bb:base" echo base-still-runs)"
	[ "$output" = base-still-runs ]
	nb2 rm -f "$(nb2 ps -aq)" >/dev/null
	nb2 image rm "$REG/bb:base" >/dev/null
	[ "$(layer_count "$STORE2")" = 0 ]
	[ -z "$(ls -A "$STORE2/images/l")" ] || fail "short links left: $(ls "$STORE2/images/l")"
}

@test "a bad reference, an unknown tag, an unreachable registry: a clear error, nothing in the store" {
	start_registry
	nb push bb "$REG/bb:1" >/dev/null
	local before
	before="$(nb2 image ls -q)"
	run --separate-stderr nb2 pull "$REG/Bad_Name:1"
	[ "$status" -eq 1 ]
	[[ "$stderr" == "nb: invalid reference \"$REG/Bad_Name:1\": "* ]]
	run --separate-stderr nb2 pull "$REG/bb:nope"
	[ "$status" -eq 1 ]
	[[ "$stderr" == "nb: pull $REG/bb:nope: not found in the registry: "*"MANIFEST_UNKNOWN"* ]]
	local dead
	dead="127.0.0.1:$(free_port)"
	run --separate-stderr nb2 pull "$dead/bb:1"
	[ "$status" -eq 1 ]
	[[ "$stderr" == "nb: pull $dead/bb:1: "*"connection refused"* ]]
	run --separate-stderr nb push nosuchimage "$REG/x:1"
	[ "$status" -eq 1 ]
	[ "$stderr" = "nb: no such image: nosuchimage" ]
	assert_store_unchanged "$STORE2" "$before"
	[ "$(layer_count "$STORE2")" = 0 ]
}

@test "a blob the registry serves corrupted fails its digest check, and nothing is left" {
	start_registry
	nb push bb "$REG/bb:1" >/dev/null
	# The layer is the biggest blob; overwrite some of its bytes, keeping its size.
	local blob
	blob="$(find "$REG_DIR/storage" -path '*/blobs/sha256/*/data' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)"
	[ -n "$blob" ] || fail "no blob in the registry's storage"
	local size
	size="$(stat -c %s "$blob")"
	[ "$size" -gt 100010 ] || fail "the biggest blob is $size bytes: too small to corrupt at 100000"
	printf 'corrupted!' | dd of="$blob" bs=1 seek=100000 conv=notrunc status=none
	[ "$(stat -c %s "$blob")" = "$size" ] || fail "corrupting the blob changed its size"
	run --separate-stderr nb2 pull "$REG/bb:1"
	[ "$status" -eq 1 ]
	# ggcr's verifying reader names the mismatch, not the tar reader's view of the bad bytes.
	[[ "$stderr" == "nb: pull $REG/bb:1: layer 1 (sha256:"*"): error verifying sha256 checksum"* ]] || fail "pull of a corrupted blob: $stderr"
	assert_store_unchanged "$STORE2" ""
	[ "$(layer_count "$STORE2")" = 0 ]
}
