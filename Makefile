# Nebulon. `make demo` and `make test` install what they need (as root, with apt-get).
GO ?= go
PREFIX ?= /usr/local
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
# Every container start execs nebulon twice (the command, then its init), so start-up cost counts:
# - static linking skips the dynamic loader (0.3 ms an exec here); nebulon needs no NSS (users
#   are read from the container's own files), hence netgo and osusergo;
# - urfave_cli_no_docs drops the man-page generator and its markdown parser's package init.
GOFLAGS_BUILD := -trimpath -tags urfave_cli_no_docs,netgo,osusergo \
	-ldflags '-s -w -X main.version=$(VERSION) -extldflags "-static"'
SOURCES := $(shell find cmd libnebulon specconv internal -name '*.go' -o -name '*.c') go.mod go.sum

.PHONY: all build install demo test unit shellcheck fuzz stress integration security rootless engines cri nb conformance conformance-runc conformance-crun cgroupv2 systemd bench bench-breakdown bench-scale deps clean

all: build

build: bin/nebulon bin/nb

bin/nebulon: $(SOURCES)
	CGO_ENABLED=1 $(GO) build $(GOFLAGS_BUILD) -o $@ ./cmd/nebulon

bin/nb: $(SOURCES)
	CGO_ENABLED=1 $(GO) build $(GOFLAGS_BUILD) -o $@ ./cmd/nb

# The console-socket receiver the terminal tests use (tests/recvtty).
bin/recvtty: $(wildcard tests/recvtty/*.go) go.mod go.sum
	CGO_ENABLED=0 $(GO) build -trimpath -o $@ ./tests/recvtty

# The image index maker the registry tests use (tests/mkindex).
bin/mkindex: $(wildcard tests/mkindex/*.go) go.mod go.sum
	CGO_ENABLED=0 $(GO) build -trimpath -o $@ ./tests/mkindex

# The seccomp notification agent the seccomp tests use (tests/seccompagent); libseccomp names
# the syscalls it logs, hence cgo.
bin/seccompagent: $(wildcard tests/seccompagent/*.go) go.mod go.sum
	CGO_ENABLED=1 $(GO) build -trimpath -o $@ ./tests/seccompagent

install: build
	install -D -m 0755 bin/nebulon $(DESTDIR)$(PREFIX)/bin/nebulon
	install -D -m 0755 bin/nb $(DESTDIR)$(PREFIX)/bin/nb

# Packages first: building links libseccomp statically.
demo:
	tests/install-deps.sh demo
	$(MAKE) build
	tests/demo.sh bin/nebulon

deps:
	tests/install-deps.sh test

# Everything: unit tests, the integration, security, engine and CRI suites, the OCI conformance suite,
# the cgroup v2 suite and the systemd driver's suite.
# Each suite's wall time is printed at the end (and on a failure, up to it), so the 60-minute budget
# shows where it goes.
TEST_SUITES = unit fuzz integration security rootless engines cri nb stress conformance cgroupv2 systemd
test: deps build
	@times=""; for s in $(TEST_SUITES); do \
		t0=$$(date +%s); $(MAKE) $$s; rc=$$?; \
		times="$$times $$s=$$(( $$(date +%s) - t0 ))s"; \
		if [ $$rc -ne 0 ]; then echo "make test: $$s failed; wall time:$$times"; exit $$rc; fi; \
	done; echo "make test: all passed; wall time:$$times"

# Every bats and shell file of the tests (bats files as bash); tests/nb/*.bats by glob, whatever
# files it has. .shellcheckrc has the settings; disables are on the lines, with their reasons.
BATS_FILES = $(wildcard tests/*/*.bats tests/*/*/*.bats)
SHELL_FILES = $(wildcard tests/*.sh tests/*/*.sh tests/*/*.bash tests/*/*/*.sh tests/*/*/*.bash) \
	tests/conformance/crun-wrapper .ci/run

shellcheck:
	shellcheck -x -s bash $(BATS_FILES)
	shellcheck -x $(SHELL_FILES)

unit: shellcheck
	$(GO) vet ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

# Go native fuzzing: each target runs its count of executions (a few seconds each on the
# development VM; a count, not a duration: tests/fuzz.sh says why), one after the other; its seed
# corpus (and every crasher found so far) is under the package's testdata/fuzz and runs in
# `make unit` too. FUZZTIME=5m runs every target for that long instead.
FUZZTIME ?=
FUZZ_TARGETS = \
	./libnebulon:FuzzValidateConfig:110000 \
	./libnebulon/internal/nsexec:FuzzCParser:400000 \
	./libnebulon/internal/nsexec:FuzzCExecPlan:400000 \
	./libnebulon/internal/seccomp:FuzzCompile:350000 \
	./libnebulon/internal/mountopt:FuzzParse:400000 \
	./specconv:FuzzParseMemory:160000 \
	./specconv:FuzzParseCPUs:110000 \
	./specconv:FuzzParsePidsLimit:180000 \
	./specconv:FuzzParseNetwork:180000 \
	./specconv:FuzzParseID:170000 \
	./specconv:FuzzParseVolume:160000 \
	./specconv:FuzzParseTmpfs:160000 \
	./specconv:FuzzParseUser:150000 \
	./specconv:FuzzParseCapabilities:170000 \
	./internal/image:FuzzParseReference:60000 \
	./internal/image:FuzzExtractLayer:1800

fuzz:
	GO=$(GO) tests/fuzz.sh $(FUZZTIME) $(FUZZ_TARGETS)

integration: build bin/recvtty bin/seccompagent
	RUNTIME=$(CURDIR)/bin/nebulon bats --timing tests/integration

# Attacks on the runtime (tests/security): each names the CVE or escape it performs.
security: build
	RUNTIME=$(CURDIR)/bin/nebulon bats --timing tests/security

# nebulon run by an unprivileged user the suite makes, without cgroups (tests/rootless).
rootless: build bin/recvtty
	RUNTIME=$(CURDIR)/bin/nebulon bats --timing tests/rootless

# nb used as a person uses it (tests/nb).
nb: build bin/mkindex
	NB=$(CURDIR)/bin/nb MKINDEX=$(CURDIR)/bin/mkindex bats --timing tests/nb

# podman and containerd driving nebulon, each scenario compared with runc (tests/engines).
engines: build
	NEBULON=$(CURDIR)/bin/nebulon bats --timing tests/engines

# Kubernetes' side: containerd 2's CRI driven by crictl as the kubelet drives it, pods on the
# nebulon handler, each scenario compared with runc (tests/cri). containerd, crictl and runc are
# built once from their Go modules into a cache (tests/cri/tools.sh).
cri: build
	tools=$$(tests/cri/tools.sh) && NEBULON=$(CURDIR)/bin/nebulon CRI_TOOLS=$$tools bats --timing tests/cri

# Many commands at once (tests/stress): container lifecycles by parallel workers on shared ids,
# and podman run --rm in parallel; each reports its throughput.
stress: build
	RUNTIME=$(CURDIR)/bin/nebulon NEBULON=$(CURDIR)/bin/nebulon bats --timing tests/stress

conformance: build
	RUNTIME=$(CURDIR)/bin/nebulon tests/conformance/run.sh $(TESTS)

# The cgroup v2 suite, in a QEMU guest (this host mounts cgroup v1); installs qemu itself. The
# checkpoint/restore tests run there too, with criu copied in (CRIU cannot run on this host's
# kernel): CGROUPV2_FLAGS="-run 'Checkpoint|Restore'" runs them alone.
cgroupv2: build
	NEBULON_BIN=$(CURDIR)/bin/nebulon tests/cgroupv2/run.sh $(CGROUPV2_FLAGS)

# The systemd cgroup driver: the cgroup v2 suite with --systemd-cgroup, podman and containerd, in
# a QEMU guest booting systemd on a Debian root filesystem that debootstrap makes (cached).
systemd: build
	NEBULON_BIN=$(CURDIR)/bin/nebulon tests/systemd/run.sh $(SYSTEMD_FLAGS)

# The same suite against runc and crun, for comparison.
conformance-runc:
	RUNTIME=runc tests/conformance/run.sh $(TESTS)

conformance-crun:
	RUNTIME=$(CURDIR)/tests/conformance/crun-wrapper tests/conformance/run.sh $(TESTS)

# Latency (idle and busy) and CPU time of nebulon, runc and crun, interleaved; writes
# bench-report/report.md and latency.svg. BENCH_N, BENCH_LOAD, BENCH_OUT: tests/bench/bench.sh -h.
bench: build
	tests/install-deps.sh bench
	NEBULON=$(CURDIR)/bin/nebulon tests/bench/bench.sh

# Where a run and an exec spend their time and CPU: nebulon's steps, and every runtime's
# process tree counted by perf (tests/bench/breakdown.sh -h).
bench-breakdown: build
	tests/install-deps.sh bench
	NEBULON=$(CURDIR)/bin/nebulon tests/bench/breakdown.sh

# Scale: create with 5000 host mounts, list and state with 1000 containers, memory per container
# (tests/bench/scale.sh -h).
bench-scale: build
	tests/install-deps.sh bench
	NEBULON=$(CURDIR)/bin/nebulon tests/bench/scale.sh

clean:
	rm -rf bin build tests/conformance/results
