#!/usr/bin/env bash
# Makes the busybox-static image the engine tests and benchmarks use.
#   tests/engines/mkimage.sh rootfs FILE        a root filesystem tarball (podman import)
#   tests/engines/mkimage.sh oci FILE NAME [CONFIG]
#       an OCI image archive of it named NAME (ctr import); CONFIG is the image config's "config"
#       object, {"Cmd":["sh"],"Env":["PATH=/bin"]} by default
set -euo pipefail

busybox=${BUSYBOX:-/bin/busybox}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rootfs_tar() {
	local root=$tmp/rootfs applet
	mkdir -p "$root"/{bin,etc,proc,sys,dev,tmp,root,run,var/tmp}
	chmod 1777 "$root/tmp" "$root/var/tmp"
	cp "$busybox" "$root/bin/busybox"
	for applet in $("$busybox" --list); do
		[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
	done
	echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
	echo "root:x:0:" >"$root/etc/group"
	tar -C "$root" -cf "$1" .
}

# blob FILE: moves FILE into the layout's blobs by its digest; prints "DIGEST SIZE".
blob() {
	local d s
	d=$(sha256sum "$1" | cut -d' ' -f1)
	s=$(stat -c %s "$1")
	mv "$1" "$tmp/oci/blobs/sha256/$d"
	echo "$d $s"
}

oci_archive() {
	local out=$1 name=$2 cfg=${3:-'{"Cmd":["sh"],"Env":["PATH=/bin"]}'} layer lsize config csize manifest msize
	mkdir -p "$tmp/oci/blobs/sha256"
	rootfs_tar "$tmp/layer.tar"
	read -r layer lsize < <(blob "$tmp/layer.tar")
	printf '{"architecture":"amd64","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
		"$cfg" "$layer" >"$tmp/config.json"
	read -r config csize < <(blob "$tmp/config.json")
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}' \
		"$config" "$csize" "$layer" "$lsize" >"$tmp/manifest.json"
	read -r manifest msize < <(blob "$tmp/manifest.json")
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"latest"}}]}' \
		"$manifest" "$msize" "$name" >"$tmp/oci/index.json"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$tmp/oci/oci-layout"
	tar -C "$tmp/oci" -cf "$out" oci-layout index.json blobs
}

case "${1:-}" in
rootfs) rootfs_tar "$2" ;;
oci) oci_archive "$2" "$3" "${4:-}" ;;
*)
	echo "usage: $0 rootfs FILE | oci FILE NAME [CONFIG]" >&2
	exit 2
	;;
esac
