#!/usr/bin/env bats
# nb image import, load, ls, rm, inspect, and containers made from images (copy-on-write roots).

load helpers

setup() {
	setup_store
	"$REPO_ROOT/tests/engines/mkimage.sh" rootfs "$TEST_DIR/rootfs.tar"
	nb init >/dev/null
}

@test "nb image import takes plain, gzip, xz and zstd tarballs; ls shows docker's columns" {
	gzip -k "$TEST_DIR/rootfs.tar"
	xz -k "$TEST_DIR/rootfs.tar"
	zstd -q -k "$TEST_DIR/rootfs.tar"
	local f ids=()
	for f in rootfs.tar rootfs.tar.gz rootfs.tar.xz rootfs.tar.zst; do
		run nb image import "$TEST_DIR/$f" bb "${f//./-}"
		[ "$status" -eq 0 ]
		ids+=("$output")
	done
	# One tarball, however compressed, is one image.
	[ "$(printf '%s\n' "${ids[@]}" | sort -u | wc -l)" = 1 ]
	run nb image ls
	[[ "$(sed -n 1p <<<"$output")" =~ ^REPOSITORY\ +TAG\ +IMAGE\ ID\ +CREATED\ +SIZE$ ]]
	[ "$(sed 1d <<<"$output" | wc -l)" = 4 ]
	[[ "$(sed -n 2p <<<"$output")" =~ ^bb\ +rootfs-tar(-gz|-xz|-zst)?\ +${ids[0]:0:12}\ +(Less\ than\ a\ second|[0-9]+\ seconds?)\ ago\ +[0-9.]+MB$ ]]
	run nb image ls -q
	[ "$output" = "${ids[0]:0:12}" ]
	run nb image inspect bb:rootfs-tar-gz
	[ "$(jq -r '.[0].id' <<<"$output")" = "${ids[0]}" ]
	# The tag defaults to latest.
	nb image import "$TEST_DIR/rootfs.tar" other >/dev/null
	nb image inspect other:latest >/dev/null
}

@test "nb image load takes an OCI archive; its name and config become the container's defaults" {
	"$REPO_ROOT/tests/engines/mkimage.sh" oci "$TEST_DIR/oci.tar" localhost/app:v1
	run nb image load "$TEST_DIR/oci.tar"
	[ "$status" -eq 0 ]
	[ "$output" = "Loaded image: localhost/app:v1" ]
	# mkimage's config: Cmd ["sh"], Env PATH=/bin.
	run nb image inspect localhost/app:v1
	[ "$(jq -c '.[0].config.cmd' <<<"$output")" = '["sh"]' ]
	# shellcheck disable=SC2016 # $ is for the shell that runs the script
	run nb create localhost/app:v1 sh -c 'echo $PATH'
	run nb run "$output"
	[ "$output" = /bin ]
}

@test "nb image load takes an OCI layout directory too" {
	"$REPO_ROOT/tests/engines/mkimage.sh" oci "$TEST_DIR/oci.tar" localhost/dir:latest
	mkdir "$TEST_DIR/layout"
	tar -C "$TEST_DIR/layout" -xf "$TEST_DIR/oci.tar"
	run nb image load "$TEST_DIR/layout"
	[ "$output" = "Loaded image: localhost/dir:latest" ]
	run nb image ls --format json
	[ "$(jq -r '.[0].repository, .[0].tag' <<<"$output")" = "localhost/dir
latest" ]
}

@test "containers of one image get copy-on-write roots: writes stay in the container" {
	nb image import "$TEST_DIR/rootfs.tar" bb >/dev/null
	local a b
	a="$(nb create bb sh -c 'echo a >/etc/marker; cat /etc/marker')"
	b="$(nb create bb sh -c 'cat /etc/marker 2>&1; ls /etc')"
	run nb run "$a"
	[ "$output" = a ]
	run nb run "$b"
	[[ "$output" == "cat: can't open '/etc/marker': No such file or directory"* ]]
	local layer
	for layer in $(nb image inspect bb | jq -r '.[0].lower[]'); do
		[ -d "$layer/etc" ] || fail "image layer $layer has no etc/"
		[ ! -e "$layer/etc/marker" ] || fail "the container's write reached image layer $layer"
	done
	# The root is an overlay while the container exists, and gone after rm.
	grep -q " $STORE/containers/$a/rootfs " /proc/self/mountinfo
	nb rm "$a" "$b" >/dev/null
	! grep -q " $STORE/containers/" /proc/self/mountinfo || fail "a container's root is still mounted after rm: $(grep " $STORE/containers/" /proc/self/mountinfo)"
}

@test "nb image rm refuses an image a container uses, unless -f; untags before it deletes" {
	nb image import "$TEST_DIR/rootfs.tar" bb >/dev/null
	nb image import "$TEST_DIR/rootfs.tar" bb v2 >/dev/null
	local c
	c="$(nb create bb true)"
	nb image import "$TEST_DIR/rootfs.tar" bb v3 >/dev/null
	run nb image rm bb:v2
	[ "$output" = "Untagged: bb:v2" ]
	run nb image rm bb v3
	[ "$output" = "Untagged: bb:v3" ]
	run --separate-stderr nb image rm bb
	[ "$status" -eq 1 ]
	[ "$stderr" = "nb: image bb is in use by container $c (nb image rm -f untags it; the image stays while a container uses it)" ]
	nb image inspect bb >/dev/null
	nb rm "$c" >/dev/null
	run nb image rm bb
	[[ "$output" == "Untagged: bb:latest"*"Deleted: "* ]]
	[ -z "$(nb image ls -q)" ]
}

@test "nb image rm NAME TAG -f takes its flag after the arguments and removes a tag in use" {
	nb image import "$TEST_DIR/rootfs.tar" bb v1 >/dev/null
	nb create bb:v1 true >/dev/null
	run --separate-stderr nb image rm bb v1 -f
	[ "$status" -eq 0 ]
	[[ "$output" == "Untagged: bb:v1"* ]]
	run --separate-stderr nb image inspect bb:v1
	[ "$status" -eq 1 ]
}

@test "nb image rm -f of an image a container uses only untags it: the container still runs" {
	nb image import "$TEST_DIR/rootfs.tar" bb >/dev/null
	local c id
	id="$(nb image ls -q)"
	c="$(nb create bb echo still-here)"
	run --separate-stderr nb image rm -f bb
	[ "$status" -eq 0 ]
	[ "$output" = "Untagged: bb:latest" ]
	[ "$(nb image ls -q)" = "$id" ]
	run --separate-stderr nb run "$c"
	[ "$status" -eq 0 ]
	[ "$output" = "still-here" ]
	run --separate-stderr nb image rm -f "$id"
	[ "$status" -eq 1 ]
	[ "$stderr" = "nb: image $id is in use by container $c and has no name left to untag: remove the container first" ]
	nb rm "$c" >/dev/null
	run --separate-stderr nb image rm "$id"
	[ "$status" -eq 0 ]
	[[ "$output" == "Deleted: "* ]]
	[ -z "$(nb image ls -q)" ]
}

# bad_tar KIND: $TEST_DIR/bad-KIND.tar, a tarball with the file "ok" and one entry that would
# land outside the image's root: dotdot (../../escape-dotdot), absolute (/tmp/escape-absolute),
# or symlink (link -> /tmp, then link/escape-symlink). GNU tar's --transform renames the
# members, and -P keeps the leading ../ and / that tar would strip.
bad_tar() {
	local d="$TEST_DIR/src-$1"
	mkdir -p "$d/b"
	echo x >"$d/ok"
	echo x >"$d/x"
	echo x >"$d/b/escape-symlink"
	ln -s /tmp "$d/a"
	case "$1" in
	dotdot) tar -C "$d" -P -cf "$TEST_DIR/bad-$1.tar" --transform 's,^x$,../../escape-dotdot,' ok x ;;
	absolute) tar -C "$d" -P -cf "$TEST_DIR/bad-$1.tar" --transform 's,^x$,/tmp/escape-absolute,' ok x ;;
	symlink) tar -C "$d" -cf "$TEST_DIR/bad-$1.tar" --transform 's,^a$,link,;s,^b/,link/,' ok a b/escape-symlink ;;
	esac
}

@test "a malicious tarball is refused, naming the entry, and leaves nothing behind" {
	local kind
	for kind in dotdot absolute symlink; do
		bad_tar "$kind"
		echo "$kind: $(tar -tvf "$TEST_DIR/bad-$kind.tar" | awk '{print $6, $7, $8}' | tr '\n' ' ')"
		run --separate-stderr nb image import "$TEST_DIR/bad-$kind.tar" bad
		echo "$kind: $status $stderr"
		[ "$status" -eq 1 ]
		[[ "$stderr" == *escape-$kind* ]]
	done
	[ ! -e /tmp/escape-absolute ] && [ ! -e /tmp/escape-symlink ] && [ ! -e "$TEST_DIR/../escape-dotdot" ]
	[ -z "$(nb image ls -q)" ]
	[ -z "$(find "$STORE/images" -mindepth 1 -maxdepth 1 -type d ! -name tmp)" ]
	[ -z "$(ls -A "$STORE/images/tmp" 2>/dev/null)" ]
}

@test "nb image import draws a progress bar on a terminal, and nothing when not on one" {
	dd if=/dev/urandom of="$TEST_DIR/big" bs=1M count=48 status=none
	tar -C "$TEST_DIR" -rf "$TEST_DIR/rootfs.tar" big
	run in_pty "$NB --root $STORE image import $TEST_DIR/rootfs.tar big"
	[ "$status" -eq 0 ]
	[[ "$output" == *"importing $TEST_DIR/rootfs.tar ["*"%"* ]]
	run --separate-stderr nb image import "$TEST_DIR/rootfs.tar" big2
	[ -z "$stderr" ]
	[[ "$output" =~ ^[0-9a-f]{64}$ ]]
}
