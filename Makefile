# netsift — common tasks. `make test` is what CI runs (through .ci/run).
GO ?= go
BIN ?= bin/netsift

.PHONY: build test lint bench fuzz fixtures demo clean

build:
	$(GO) build -o $(BIN) ./cmd/netsift

test:
	$(GO) test ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Benchmarks print ns/op, B/op and allocs/op; compare ratios within one run (shared machines).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Each parser's fuzz target for a fixed time.
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./parsers/...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# Regenerate the sample bundles and fixtures/demo.tgz from the generator.
fixtures:
	$(GO) run ./fixtures/gen -out fixtures/bundles

demo: build
	./$(BIN) analyze fixtures/demo.tgz

clean:
	rm -rf bin
