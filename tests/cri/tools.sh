#!/usr/bin/env bash
# The CRI suite's tools, made once per version into a cache and reused:
# - containerd, containerd-shim-runc-v2 and ctr, built from their Go module
#   (github.com/containerd/containerd/v2; Debian's containerd 1.6 predates the runtime features
#   containerd 2 reads: rro, id-mapped mounts for user-namespaced pods);
# - crictl, built from sigs.k8s.io/cri-tools;
# - runc, built from its module, the handler nebulon is compared with: Debian's runc 1.1 has
#   neither recursive read-only nor id-mapped mounts, so containerd 2 refuses those pods on it;
# - docker-registry, taken out of Debian's package with apt-get download, so that installing it
#   starts no registry service on the host: the tests start their own on 127.0.0.1.
# Prints the directory that holds them.
#   tests/cri/tools.sh [DIR]    DIR defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/nebulon-cri
set -euo pipefail

CONTAINERD_VERSION=v2.4.2
CRICTL_VERSION=v1.37.0
RUNC_VERSION=v1.5.3
cache=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/nebulon-cri}
dir=$cache/containerd-$CONTAINERD_VERSION-crictl-$CRICTL_VERSION-runc-$RUNC_VERSION

# build NAME: makes $dir/NAME in a temporary directory, then moves it in whole.
build() {
	local tmp
	tmp=$(mktemp -d "$cache/.build.XXXXXX")
	# go install PKG@VERSION builds with the module's own go.mod, outside any project.
	case "$1" in
	containerd | containerd-shim-runc-v2 | ctr)
		GOBIN=$tmp go install -trimpath "github.com/containerd/containerd/v2/cmd/$1@$CONTAINERD_VERSION" ;;
	crictl)
		GOBIN=$tmp go install -trimpath "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION" ;;
	runc)
		GOBIN=$tmp CGO_ENABLED=1 go install -trimpath -tags seccomp "github.com/opencontainers/runc@$RUNC_VERSION" ;;
	docker-registry)
		# The package lists may be missing on a fresh machine: update them once then.
		if ! (cd "$tmp" && apt-get download docker-registry >/dev/null 2>"$tmp/apt.err"); then
			apt-get update -qq
			if ! (cd "$tmp" && apt-get download docker-registry >/dev/null 2>"$tmp/apt.err"); then
				cat "$tmp/apt.err" >&2
				return 1
			fi
		fi
		dpkg-deb --fsys-tarfile "$tmp"/docker-registry_*.deb | tar -x -O ./usr/bin/docker-registry >"$tmp/docker-registry"
		chmod 755 "$tmp/docker-registry" ;;
	esac
	mv "$tmp/$1" "$dir/$1"
	rm -rf "$tmp"
}

mkdir -p "$dir"
for tool in containerd containerd-shim-runc-v2 ctr crictl runc docker-registry; do
	[ -x "$dir/$tool" ] && continue
	command -v go >/dev/null || {
		echo "tools.sh: go is not in PATH; it builds $tool" >&2
		exit 1
	}
	echo "tools.sh: making $tool into $dir (once)" >&2
	build "$tool" || {
		echo "tools.sh: could not make $tool" >&2
		exit 1
	}
done
echo "$dir"
