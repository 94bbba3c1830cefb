# tinysink — see README.md.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# nethttpomithttp2: tinysink serves plain HTTP/1.1 and its webhooks need no
# HTTP/2, so net/http's HTTP/2 code (0.55 MB, nearly all of it resident once
# the binary's pages are mapped) stays out of the binary.
BUILD_TAGS := nethttpomithttp2
# text/template looks template methods up by name (reflect's MethodByName),
# which makes the linker keep every exported method of every type that
# reaches an interface: 1.5 MB of a 13.9 MB binary. tinysink's templates
# call no methods, so the builds and the tests compile the toolchain's
# text/template without that lookup, through an -overlay written by
# ui/cmd/tmploverlay (empty, with a warning, for a toolchain it does not
# know: the binary is then only bigger).
OVERLAY := $(shell go run ./ui/cmd/tmploverlay -goroot "$$(go env GOROOT)" -dir bin/overlay)
GOFLAGS_BUILD := -trimpath -tags $(BUILD_TAGS) $(OVERLAY) -ldflags "$(LDFLAGS)"
# Each fuzz target runs a fixed number of executions, not a wall-clock time:
# with a duration, go1.26's fuzz coordinator can fail a run that found
# nothing with "context deadline exceeded" when the deadline lands while a
# worker is busy (golang/go#75804, fixed in go1.27). A count has no deadline
# to race. Minimizing a new input is capped so one target cannot spend a
# minute on it.
FUZZTIME ?= 40000x
FUZZMINIMIZE ?= 5s
FUZZ = go test -run='^$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZE)

.PHONY: build relay-idle run test jssdk fuzz lint check bench cross cross-smoke deb image image-test budget budget-old bench-floor clean

# tinysink, and beside it tinysink-relay, the relay-only mode that
# `tinysink -store=false` executes, and tinysink-budget, the RAM profiler
# that `tinysink budget` runs (binaries of their own: a process maps the
# pages of its whole binary, so a relay in a binary of ~7 MB idles in less
# memory, and the profiler's code is not in the server it measures).
build:
	CGO_ENABLED=0 go build $(GOFLAGS_BUILD) -o tinysink .
	CGO_ENABLED=0 go build $(GOFLAGS_BUILD) -o tinysink-relay ./ingest/cmd/relay
	CGO_ENABLED=0 go build -trimpath -o tinysink-budget ./budget/cmd/budget

# The relay-only mode's idle memory (VmRSS, RssAnon) on the release
# builds: tinysink -store=false (which executes tinysink-relay) against the
# same relay inside the tinysink binary; over RELAY_MAX_RSS fails.
RELAY_MAX_RSS ?= 8MiB
relay-idle: build
	TINYSINK_BIN_DIR=$(CURDIR) TINYSINK_RELAY_MAX_RSS=$(RELAY_MAX_RSS) go test -count=1 -run '^$$' -bench '^BenchmarkRelayIdleRSS$$' -benchtime 3x .

run: build
	./tinysink serve

# The slowloris test measures a client beside 2,000 hostile connections:
# it runs alone, not beside every other package's tests.
test: lint
	go test -race -count=1 $(OVERLAY) -skip '^TestSlowloris$$' ./...
	go test -race -count=1 $(OVERLAY) -run '^TestSlowloris$$' .
	$(MAKE) fuzz

# The real JavaScript SDKs (@sentry/node, @sentry/browser) and esbuild for
# jssdk_test.go, at the versions of testdata/jssdk/package-lock.json, into
# testdata/jssdk/node_modules (ignored by git). Without them those tests
# skip.
jssdk:
	npm ci --no-audit --no-fund --prefix testdata/jssdk

# Each fuzz target runs briefly; a crash fails the build.
fuzz:
	$(FUZZ) -fuzz='^FuzzEnvelope$$' ./ingest
	$(FUZZ) -fuzz='^FuzzCSP$$' ./ingest
	$(FUZZ) -fuzz='^FuzzValidJSON$$' ./ingest
	$(FUZZ) -fuzz='^FuzzEventID$$' ./ingest
	$(FUZZ) -fuzz='^FuzzSegment$$' ./ingest/spool
	$(FUZZ) -fuzz='^FuzzSameAsFastjson$$' ./internal/jtree
	$(FUZZ) -fuzz='^FuzzNormalize$$' ./digest/event
	$(FUZZ) -fuzz='^FuzzWriterStr$$' ./digest/event
	$(FUZZ) -fuzz='^FuzzNormalizeScrubbed$$' ./digest/event
	$(FUZZ) -fuzz='^FuzzParseID$$' ./digest/rawevent
	$(FUZZ) -fuzz='^FuzzScrub$$' ./digest/scrub
	$(FUZZ) -fuzz='^FuzzMinidump$$' ./digest/minidump
	$(FUZZ) -fuzz='^FuzzSym$$' ./digest/minidump/sym
	$(FUZZ) -fuzz='^FuzzParse$$' ./digest/sourcemap
	$(FUZZ) -fuzz='^FuzzIndex$$' ./digest/sourcemap
	$(FUZZ) -fuzz='^FuzzParseCrontab$$' ./digest/cron
	$(FUZZ) -fuzz='^FuzzTypedItems$$' ./digest
	$(FUZZ) -fuzz='^FuzzDecode$$' ./store/sketch
	$(FUZZ) -fuzz='^FuzzDecompressBody$$' ./store
	$(FUZZ) -fuzz='^FuzzParse$$' ./ingest/forward
	$(FUZZ) -fuzz='^FuzzReader$$' ./store/exchange
	$(FUZZ) -fuzz='^FuzzEnvelopeEvent$$' ./store/exchange
	$(FUZZ) -fuzz='^FuzzParse$$' ./store/search
	$(FUZZ) -fuzz='^FuzzParseJWKS$$' ./ui
	$(FUZZ) -fuzz='^FuzzVerifyIDToken$$' ./ui
	$(FUZZ) -fuzz='^FuzzLogoutState$$' ./ui
	$(FUZZ) -fuzz='^FuzzMCPRequest$$' ./ui

# Static binaries for the Raspberry Pi family and x86-64: GOARM=6 runs on a
# Pi Zero/1 (the default GOARM=7 dies there with SIGILL), GOARM=7 on 32-bit
# Pi 2/3/4, arm64 on 64-bit Pi 3/4/5.
cross:
	mkdir -p bin
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6 go build $(GOFLAGS_BUILD) -o bin/tinysink-linux-armv6 .
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 go build $(GOFLAGS_BUILD) -o bin/tinysink-linux-armv7 .
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build $(GOFLAGS_BUILD) -o bin/tinysink-linux-arm64 .
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build $(GOFLAGS_BUILD) -o bin/tinysink-linux-amd64 .
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6 go build $(GOFLAGS_BUILD) -o bin/tinysink-relay-linux-armv6 ./ingest/cmd/relay
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 go build $(GOFLAGS_BUILD) -o bin/tinysink-relay-linux-armv7 ./ingest/cmd/relay
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build $(GOFLAGS_BUILD) -o bin/tinysink-relay-linux-arm64 ./ingest/cmd/relay
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build $(GOFLAGS_BUILD) -o bin/tinysink-relay-linux-amd64 ./ingest/cmd/relay
	@ls -l bin/

# Start the arm64 and armv7 binaries under qemu-user-static, ingest an event
# and read it back (needs Debian's qemu-user-static and curl).
cross-smoke: cross
	bash .ci/cross-smoke qemu-aarch64-static bin/tinysink-linux-arm64
	bash .ci/cross-smoke qemu-arm-static bin/tinysink-linux-armv7
	bash .ci/cross-smoke "qemu-arm-static -cpu arm1176" bin/tinysink-linux-armv6

# Debian packages in bin/: armhf (the GOARM=6 build, for every Pi), arm64 and
# amd64, each with the systemd unit, /etc/default/tinysink and a man page
# made from `tinysink -h` (see .ci/deb/).
deb: cross
	bash .ci/deb/build $(VERSION)

# OCI image archives in bin/image/, without a container daemon: one per
# platform of `make cross` (tinysink-linux-ARCH.oci.tar, for docker/podman
# load) and one multi-arch layout (tinysink.oci.tar, for skopeo copy --all).
# Timestamps are the last commit's, so the same binaries give the same bytes.
IMAGE_DIR ?= bin/image
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
image: cross
	go run ./budget/image -bin bin -out $(IMAGE_DIR) -version $(VERSION) -epoch $(SOURCE_DATE_EPOCH)

# Inspect every archive (digests, config, platform, contents, size) and
# start the amd64 image's root filesystem under unshare as uid 65532, and
# the image itself under podman: it answers /health, takes an event and
# serves it back.
image-test: image
	TINYSINK_IMAGE_DIR=$(abspath $(IMAGE_DIR)) go test -count=1 -run '^TestImage' ./budget/image

# The RAM profile; CI gates on it with BUDGET_FLAGS="-max-rss 22MiB -max-rss-anon 10MiB" (see .ci/run).
# The profiler is a binary of its own (budget/cmd/budget, built as
# tinysink-budget), so that its code is not in the binary it measures.
budget: build
	./tinysink budget $(BUDGET_FLAGS)

# The RAM profile of an old installation: a server fully warmed on a data
# directory of a year of events (built first, through the store's digest
# batches). CI gates on it with BUDGET_FLAGS="-max-rss 20.5MiB -max-rss-anon 10MiB" (see .ci/run).
OLD_SIZE ?= -issues 100000 -events 1000000 -days 365
budget-old: build
	./tinysink budget -scenario old $(OLD_SIZE) $(BUDGET_FLAGS)

lint:
	go vet ./...
	@test -z "$$(gofmt -l .)" || (echo "gofmt needed:"; gofmt -l .; exit 1)

check: lint test

bench:
	go test -run='^$$' -bench=. -benchtime=2s ./...

# tinysink beside a bare fsync-per-group-commit server ("the floor"), with
# the same loadgen, interleaved: the ratios of processed events/s (drain
# included), ack latency at 1,000/s, peak memory, and all that pinned to one
# core. Not part of `make test`. LOADGEN=DIR names the loadgen module.
FLOOR_FLAGS ?= -rounds 3 -duration 10s -long 4m
bench-floor: build
	go run ./budget/floor bench -tinysink ./tinysink $(FLOOR_FLAGS)

clean:
	rm -rf tinysink tinysink-relay tinysink-budget bin
