# tinysink — see README.md.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GOFLAGS_BUILD := -trimpath -ldflags "$(LDFLAGS)"
FUZZTIME ?= 10s

.PHONY: build run test fuzz lint check bench clean

build:
	CGO_ENABLED=0 go build $(GOFLAGS_BUILD) -o tinysink .

run: build
	./tinysink serve

test: lint
	go test -race -count=1 ./...
	$(MAKE) fuzz

# Each fuzz target runs briefly; a crash fails the build.
fuzz:
	go test -run='^$$' -fuzz='^FuzzEnvelope$$' -fuzztime=$(FUZZTIME) ./ingest
	go test -run='^$$' -fuzz='^FuzzNormalize$$' -fuzztime=$(FUZZTIME) ./digest/event

lint:
	go vet ./...
	@test -z "$$(gofmt -l .)" || (echo "gofmt needed:"; gofmt -l .; exit 1)

check: lint test

bench:
	go test -run='^$$' -bench=. -benchtime=2s ./...

clean:
	rm -f tinysink
