# Rensei's build. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/rensei
PKGS := ./...
# Packages that drive real Docker engines and network namespaces share the
# machine; -p 1 runs test packages one at a time so they never compete.
TESTFLAGS ?= -count=1 -p 1 -timeout 45m
FUZZTIME ?= 20s
# Where make release writes its artifacts.
DIST ?= dist
# Debian packages the tests and the lab need.
# chromium: the browser tests (chromedp); docker-compose: the benchmark peer.
APT_PACKAGES := busybox-static iproute2 util-linux git iputils-ping mmdebstrap chromium docker-compose

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## install the Debian packages the image, the tests and the lab need (as root)
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

.PHONY: build
build: ## build bin/rensei
	$(GO) build -o $(BIN) ./cmd/rensei

.PHONY: busybox
busybox: deps ## build rensei/busybox:latest FROM scratch around Debian's busybox-static (what the quickstart runs)
	$(GO) run ./test/images/build

.PHONY: images
images: busybox ## build every image: rensei/busybox, the Debian base (mmdebstrap) and every images/* on it (cached by content)
	$(GO) run ./images/build

.PHONY: run
run: busybox build ## converge this machine's Docker engine to the embedded quickstart
	$(BIN) apply --yes --example quickstart

.PHONY: test
test: images ## every test: unit, golden, fuzz (briefly), Docker integration, multi-site lab end to end
	$(GO) vet $(PKGS)
	$(GO) test $(TESTFLAGS) $(PKGS)
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./schema/

.PHONY: unit
unit: ## only the tests that need no root, Docker or namespaces
	$(GO) test -count=1 ./schema/... ./reconcile/... ./drivers/fake/... ./test/examples/ ./test/bench/ ./test/docs/

.PHONY: e2e
e2e: images ## end-to-end tests: the CLI on the local engine, federation on the lab
	$(GO) test $(TESTFLAGS) -v ./test/cli/ ./test/e2e/

.PHONY: bench
bench: images ## benchmarks (figures and how to read them: docs/performance.md): plan, cold apply, tunnels, daemon, fleet, side by side with docker run and docker-compose
	uptime
	$(GO) test -run '^$$' -bench 'Course|Campus' -benchtime 5x ./test/bench/
	$(GO) test -run '^$$' -bench 'SideBySide' -benchtime 3x -timeout 30m ./test/bench/
	$(GO) test -run '^$$' -bench 'EngineIdlePassLab' -benchtime 300x -timeout 30m ./test/bench/
	$(GO) test -run '^$$' -bench 'LabConverge' -benchtime 2x -timeout 30m ./test/bench/
	$(GO) test -run '^$$' -bench . -benchtime 3x ./drivers/netlink/
	$(GO) test -run '^$$' -bench . -benchtime 1x ./drivers/docker/
	$(GO) test -run '^$$' -bench 'IdlePass$$|PushToConverged|DaemonRSS|RepairOnLab' -benchtime 10x -timeout 30m ./test/daemon/
	$(GO) test -run '^$$' -bench 'IdlePassLab' -benchtime 300x -timeout 30m ./test/daemon/
	$(GO) test -run '^$$' -bench 'FleetIdlePass' -benchtime 100x -timeout 30m ./test/fleet/
	$(GO) test -run '^$$' -bench 'FleetPushOneStudent|CampusPush' -benchtime 5x -timeout 30m ./test/fleet/
	$(GO) test -run '^$$' -bench 'FleetDaemon$$' -benchtime 1x -timeout 60m ./test/fleet/
	$(GO) test -run '^$$' -bench 'CourseLab' -benchtime 1x -timeout 60m ./test/e2e/
	uptime

.PHONY: schema
schema: ## regenerate schema/rensei.schema.json from the Go types
	$(GO) test ./schema/ -run TestJSONSchemaUpToDate -update

.PHONY: lint
lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	$$($(GO) env GOPATH)/bin/staticcheck $(PKGS)

.PHONY: release
release: ## static binaries (linux amd64, arm64), .deb packages, the FROM-scratch image and SHA256SUMS into $(DIST)/
	DIST=$(DIST) GO=$(GO) NFPM=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2 bash packaging/release.sh

.PHONY: clean
clean: ## remove build output: bin/ and $(DIST)/ (Docker objects: see the note below)
	rm -rf bin $(DIST)
	@echo "Docker objects Rensei made are not touched. To remove them: bin/rensei apply --yes on a copy of"
	@echo "your repository with the same sites and no environments (same --scope), then"
	@echo "bin/rensei volumes prune PATH --env NAME --older-than 0s --yes for the data; the lab: bin/rensei lab down."
