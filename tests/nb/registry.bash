#!/usr/bin/env bash
# A registry for the nb tests: Debian's docker-registry on 127.0.0.1, on a free port, its
# storage under the test's directory; start_registry in a test, stop_registry in teardown.

# need_registry skips the test when docker-registry is not installed.
need_registry() {
	command -v docker-registry >/dev/null || skip "docker-registry not installed (tests/install-deps.sh test)"
}

# free_port: a TCP port nothing listens on, on 127.0.0.1.
free_port() {
	local port
	for _ in $(seq 50); do
		port=$((20000 + RANDOM % 30000))
		[ -z "$(ss -Htln "sport = :$port")" ] && echo "$port" && return 0
	done
	fail "no free port found"
}

# start_registry [tls] [auth]: a registry at $REG (127.0.0.1:PORT), pid $REG_PID. tls: HTTPS
# with a self-signed certificate for 127.0.0.1, its CA in $CERTS/ca.crt; auth: basic auth,
# user nbuser, password $REG_PASSWORD (bcrypt in an htpasswd file, as the registry wants).
start_registry() {
	local port tls="" auth=""
	REG_DIR="$TEST_DIR/registry"
	mkdir -p "$REG_DIR/storage"
	port="$(free_port)"
	REG="127.0.0.1:$port"
	if [[ " $* " == *" tls "* ]]; then
		CERTS="$TEST_DIR/certs"
		mkdir -p "$CERTS"
		openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
			-addext "subjectAltName=IP:127.0.0.1" \
			-keyout "$REG_DIR/key.pem" -out "$CERTS/ca.crt" 2>/dev/null || fail "openssl could not make a certificate"
		tls="  tls:
    certificate: $CERTS/ca.crt
    key: $REG_DIR/key.pem"
	fi
	if [[ " $* " == *" auth "* ]]; then
		REG_PASSWORD="s3cret-$RANDOM"
		htpasswd -Bbn nbuser "$REG_PASSWORD" >"$REG_DIR/htpasswd" 2>/dev/null || fail "htpasswd failed"
		auth="auth:
  htpasswd:
    realm: nb-test
    path: $REG_DIR/htpasswd"
	fi
	cat >"$REG_DIR/config.yml" <<-EOF
		version: 0.1
		log:
		  level: warn
		storage:
		  filesystem:
		    rootdirectory: $REG_DIR/storage
		  delete:
		    enabled: true
		http:
		  addr: $REG
		$tls
		$auth
	EOF
	docker-registry serve "$REG_DIR/config.yml" >"$REG_DIR/log" 2>&1 3>&- &
	REG_PID=$!
	local scheme=http
	[ -z "$tls" ] || scheme=https
	for _ in $(seq 100); do
		curl -sk -o /dev/null "$scheme://$REG/v2/" && return 0
		kill -0 "$REG_PID" 2>/dev/null || fail "the registry exited: $(cat "$REG_DIR/log")"
		sleep 0.1
	done
	fail "the registry did not answer on $REG in 10s: $(cat "$REG_DIR/log")"
}

# stop_registry: stops the registry by its pid, killing it if it does not stop in 5s.
stop_registry() {
	[ -n "${REG_PID:-}" ] || return 0
	kill "$REG_PID" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$REG_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$REG_PID" 2>/dev/null
	wait "$REG_PID" 2>/dev/null
	REG_PID=
}

# layer_count STORE: how many layers the store holds.
layer_count() {
	find "$1/images/layers" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l
}
