#!/usr/bin/env bats
# Stress: container lifecycles by parallel workers on shared ids, each
# command of one worker racing the others' on the same containers. No
# command may hang, crash or fail without a message; afterwards nothing is
# left. The throughput is reported.

load ../integration/helpers

LIFECYCLES="${NBT_STRESS_LIFECYCLES:-1000}"
WORKERS="${NBT_STRESS_WORKERS:-8}"
IDS="${NBT_STRESS_IDS:-12}"

# worker N COUNT: COUNT lifecycles (create, start, exec, pause, resume, state,
# kill, delete) on ids picked at random, one log line per command:
# OP ID RC MS FIRST-LINE-OF-STDERR.
worker() {
	local n="$1" count="$2" i id op rc t0 t1 err
	local log="$TEST_DIR/worker-$n.log"
	RANDOM=$((n * 7919))
	for ((i = 0; i < count; i++)); do
		id="$CT-$((RANDOM % IDS))"
		for op in "create -b $BUNDLE" start "exec" pause resume state "kill" "delete"; do
			local args=()
			case "$op" in
			exec) args=(exec "$id" true) ;;
			kill) args=(kill "$id" KILL) ;;
			delete) args=(delete --force "$id") ;;
			"create -b $BUNDLE") args=(create -b "$BUNDLE" "$id") ;;
			*) args=("$op" "$id") ;;
			esac
			t0=$(date +%s%N)
			rc=0
			timeout -k 5 60 "$RUNTIME" --root "$ROOT" "${args[@]}" </dev/null >/dev/null 2>"$TEST_DIR/err-$n" 3>&- || rc=$?
			t1=$(date +%s%N)
			err="$(head -n 1 "$TEST_DIR/err-$n" | tr '\t' ' ')"
			printf '%s\t%s\t%d\t%d\t%s\n' "${args[0]}" "$id" "$rc" $(((t1 - t0) / 1000000)) "$err" >>"$log"
		done
	done
}

@test "$LIFECYCLES lifecycles by $WORKERS workers on $IDS shared ids: no hang, no crash, every failure explained, nothing left" {
	set_cmd 'sleep 1000'
	snapshot_host
	local per=$(((LIFECYCLES + WORKERS - 1) / WORKERS)) n pids=() t0 t1
	t0=$(date +%s%N)
	for ((n = 0; n < WORKERS; n++)); do
		worker "$n" "$per" &
		pids+=($!)
	done
	for n in "${pids[@]}"; do
		wait "$n"
	done
	t1=$(date +%s%N)
	cat "$TEST_DIR"/worker-*.log >"$TEST_DIR/all.log"
	local total secs
	total=$((per * WORKERS))
	secs=$(((t1 - t0) / 1000000))
	echo "# $total lifecycles ($(wc -l <"$TEST_DIR/all.log") commands) by $WORKERS workers in $((secs / 1000)).$((secs % 1000 / 100)) s: $((total * 1000 / secs)).$((total * 10000 / secs % 10)) lifecycles/s" >&3
	awk -F'\t' '{ n[$1]++; if ($3 == 0) ok[$1]++ } END { for (o in n) printf "#   %-7s %5d run, %5d succeeded\n", o, n[o], ok[o] }' \
		"$TEST_DIR/all.log" | sort >&3
	# No command hung: timeout's 124, or 137 once it had to kill (an exec also exits 137 when
	# another worker's kill ends its process, but at once).
	# shellcheck disable=SC2016 # awk's fields
	local hung='$3 == 124 || ($3 == 137 && $4 >= 60000)'
	! awk -F'\t' "$hung" "$TEST_DIR/all.log" | grep -q . ||
		fail "hung: $(awk -F'\t' "$hung" "$TEST_DIR/all.log" | head)"
	# No crash: a Go panic or runtime fatal error.
	! grep -E -q 'panic|fatal error|goroutine [0-9]' "$TEST_DIR/all.log" ||
		fail "crashed: $(grep -E 'panic|fatal error' "$TEST_DIR/all.log" | head)"
	# Every failure says why; but exec passes on its process's status, 128+N when a kill by
	# another worker ended it, which is no failure of its own.
	# shellcheck disable=SC2016 # awk's fields
	local silent='$3 != 0 && $5 == "" && !($1 == "exec" && $3 > 128)'
	! awk -F'\t' "$silent" "$TEST_DIR/all.log" | grep -q . ||
		fail "failed without a message: $(awk -F'\t' "$silent" "$TEST_DIR/all.log" | head)"
	# The races did not stop the work: most lifecycles ran through.
	local created
	created="$(awk -F'\t' '$1 == "create" && $3 == 0' "$TEST_DIR/all.log" | wc -l)"
	[ "$created" -ge $((total / 4)) ] || fail "only $created of $total creates succeeded"
	for ((n = 0; n < IDS; n++)); do
		runtime delete --force "$CT-$n" 2>/dev/null || true
	done
	assert_nothing_left
}
