# callbackd developer tasks. `make help` lists them.

GO          ?= go
BIN         := bin/callbackd
CONFIG      ?= configs/callbackd.yaml
# Benchmarks: long enough for stable ns/op, short enough for 2 cores.
BENCHTIME   ?= 1s
BENCH       ?= .
FUZZTIME    ?= 30s
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: help build run test test-quick test-clients peers bench lint fmt fuzz audio clean

help:
	@echo "make build       build $(BIN)"
	@echo "make run         build and serve with $(CONFIG) (loopback + sandbox trunk)"
	@echo "make test        install missing test peers, then all tests with -race"
	@echo "make test-quick  all tests, skipping those whose peers are missing"
	@echo "make test-clients the Python and JavaScript clients' tests, against a real server"
	@echo "make bench       benchmarks (BENCH=regexp BENCHTIME=$(BENCHTIME))"
	@echo "make lint        gofmt, go vet, staticcheck"
	@echo "make fuzz        each fuzz target for FUZZTIME=$(FUZZTIME)"
	@echo "make audio       regenerate testdata/audio (needs espeak-ng and sox)"

build:
	$(GO) build -o $(BIN) ./cmd/callbackd

run: build
	$(BIN) serve --config $(CONFIG)

peers:
	bash .ci/install-peers.sh

test: peers
	CALLBACKD_REQUIRE_PEERS=1 $(GO) test -race -count=1 ./...
	$(MAKE) test-clients

# Each suite starts its own server from the binary built here
# (internal/testserver).
test-clients: build
	cd clients/python && CALLBACKD_TESTSERVER_BIN=$(CURDIR)/$(BIN) python3 -m unittest discover -s tests
	cd clients/js && CALLBACKD_TESTSERVER_BIN=$(CURDIR)/$(BIN) node --test

test-quick:
	$(GO) test -count=1 ./...

bench:
	bash .ci/install-peers.sh --bench
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime=$(BENCHTIME) ./...

lint:
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

fmt:
	gofmt -w $$(git ls-files -co --exclude-standard '*.go')

# Runs every FuzzXxx function, one at a time (go test -fuzz takes one).
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		dir=$$(dirname $$f); \
		for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "== $$dir $$fn"; \
			$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$dir; \
		done; \
	done

audio:
	testdata/audio/gen.sh

clean:
	rm -rf bin
