#!/usr/bin/env bats
# Stress through an engine: `podman run --rm` with nebulon as its runtime,
# many in parallel. Every run must succeed; the throughput is reported.

load ../engines/helpers

RUNS="${NBT_STRESS_PODMAN_RUNS:-200}"
PARALLEL="${NBT_STRESS_PODMAN_PARALLEL:-16}"

setup_file() {
	require_engine podman
	export E="$BATS_FILE_TMPDIR/podman"
	mkdir -p "$E"
	make_wrappers "$E"
	"$ENGINES_DIR/engine.sh" podman-conf "$E/containers.conf" "nebulon=$E/bin/nebulon" "runc=$E/bin/runc"
	export CONTAINERS_CONF="$E/containers.conf"
	[ -d /sys/fs/cgroup/memory/libpod_parent ] && touch "$E/had-libpod-parent"
	make_image_tar "$E/image.tar"
	podman --root "$E/storage" --runroot "$E/run" import "$E/image.tar" "$IMAGE" >/dev/null
}

teardown_file() {
	[ -n "${E:-}" ] || return 0
	podman --root "$E/storage" --runroot "$E/run" rm -af -t 0 >/dev/null 2>&1
	podman --root "$E/storage" --runroot "$E/run" system reset -f >/dev/null 2>&1
	grep -F " $E" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
	if [ ! -e "$E/had-libpod-parent" ]; then
		find /sys/fs/cgroup -maxdepth 3 -type d -path "*/libpod_parent/conmon" -exec rmdir {} + 2>/dev/null
		find /sys/fs/cgroup -maxdepth 2 -type d -name libpod_parent -exec rmdir {} + 2>/dev/null
	fi
	rm -rf "$E"
}

# one_run N: podman run --rm of a container that prints N; its result in $E/run-N.
one_run() {
	local out
	out="$(timeout -k 5 120 podman --root "$E/storage" --runroot "$E/run" --runtime nebulon \
		run --rm "$IMAGE" echo "run $1" 2>&1)"
	echo "$? $out" >"$E/run-$1"
}

@test "$RUNS podman run --rm with nebulon, $PARALLEL at a time: every one succeeds" {
	local i t0 t1 ms failed
	t0=$(date +%s%N)
	for ((i = 0; i < RUNS; i++)); do
		one_run "$i" &
		if ((i % PARALLEL == PARALLEL - 1)); then
			wait
		fi
	done
	wait
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	echo "# $RUNS podman run --rm, $PARALLEL at a time, in $((ms / 1000)).$((ms % 1000 / 100)) s: $((RUNS * 1000 / ms)).$((RUNS * 10000 / ms % 10)) runs/s" >&3
	failed="$(for ((i = 0; i < RUNS; i++)); do
		[ "$(cat "$E/run-$i")" = "0 run $i" ] || echo "run $i: $(cat "$E/run-$i")"
	done)"
	[ -z "$failed" ] || fail "$(echo "$failed" | wc -l) failed: $(echo "$failed" | head -5)"
	[ "$(grep -c -e ' create ' -e '^create ' "$E/calls.nebulon")" -ge "$RUNS" ] || fail "nebulon did not run them all"
	[ -z "$(podman --root "$E/storage" --runroot "$E/run" ps -aq)" ] || fail "containers left"
}
