# netsift — common tasks. `make test` is what CI runs (through .ci/run).
GO ?= go
BIN ?= bin/netsift

.PHONY: build test lint bench bench-data bench-go fuzz fixtures demo clean lab lab-deps lab-bundles

build:
	$(GO) build -o $(BIN) ./cmd/netsift

test:
	$(GO) test ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The scale table of issue 9 (README "Performance"): analyze vs decompression, peak RSS,
# scaling, parser vs iptables-restore, trace. Needs `make bench-data` first.
BENCH_DIR ?= fixtures/bench
bench: build
	$(GO) run ./cmd/netsift-bench -bin $(BIN) -dir $(BENCH_DIR)

# The generated scale bundles (not committed): <name>.tgz and <name>.tar.zst for each workload.
BENCH_WORKLOADS ?= small,medium,large,medium-ipvs,large-ipvs
bench-data:
	$(GO) run ./fixtures/gen -workload $(BENCH_WORKLOADS) -out $(BENCH_DIR)

# Go benchmarks print ns/op, B/op and allocs/op; compare ratios within one run (shared machines).
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Every FuzzXxx target in the module, each for FUZZTIME (one at a time: -fuzz takes one target).
# A crasher is written to the package's testdata/fuzz/<Target>/; commit it as a regression.
FUZZTIME ?= 60s
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$f ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

# Regenerate the sample bundles and fixtures/demo.tgz from the generator.
fixtures:
	$(GO) run ./fixtures/gen -out fixtures/bundles

demo: build
	./$(BIN) analyze fixtures/demo.tgz

clean:
	rm -rf bin

# The lab (fixtures/lab/README.md): a real cluster in network namespaces, as root. `lab` runs every
# scenario and leaves nothing behind; `lab-bundles` also rewrites fixtures/lab-bundles/<scenario>/.
LAB_PACKAGES = etcd-server containernetworking-plugins iptables iproute2 socat jq openssl conntrack kmod procps

lab-deps:
	@missing=; for p in $(LAB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi

lab: lab-deps
	fixtures/lab/run.sh all

lab-bundles: lab-deps
	fixtures/lab/run.sh -o fixtures/lab-bundles all
