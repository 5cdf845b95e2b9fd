#!/usr/bin/env bash
# Builds a busybox bundle and runs `echo hello` in it with its own hostname and pid namespace.
# Usage: tests/demo.sh [path to nebulon]
set -euo pipefail
nebulon=$(realpath "${1:-bin/nebulon}")
bundle=$(mktemp -d /tmp/nebulon-demo.XXXXXX)
root=$(mktemp -d /tmp/nebulon-demo-root.XXXXXX)
trap 'rm -rf "$bundle" "$root"' EXIT

mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in sh echo hostname; do ln -s busybox "$bundle/rootfs/bin/$applet"; done
cd "$bundle"
"$nebulon" spec
jq '.process.terminal = false | .hostname = "demo" |
    .process.args = ["sh", "-c", "echo hello from $(hostname), running as pid $$"]' config.json >config.new
mv config.new config.json
set -x
"$nebulon" --root "$root" run demo
