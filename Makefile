# ARES Torture. `make help` lists the targets.
#
# Everything a target needs it installs itself: Go modules (go mod download),
# and for `make proto` only, protoc (Debian's protobuf-compiler) and the Go
# plugins (go install). Generated code is committed.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0-dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GOBIN   := $(shell $(GO) env GOPATH)/bin
# Test flags: the README's test command is `make test`.
TESTFLAGS ?= -race -count=1 -timeout 30m

PROTOC_GEN_GO_GRPC_VERSION ?= v1.5.1
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help deps build test proto image demo clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

deps: ## download the Go modules
	$(GO) mod download

# ---- build ---------------------------------------------------------------

build: deps ## static binaries of every command in bin/
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# ---- test ----------------------------------------------------------------

test: build docker-tools ## go vet and every test, integration tests included (the README's test command)
	$(GO) vet ./...
	$(GO) test $(TESTFLAGS) ./...

# ---- generated code ------------------------------------------------------

proto: ## regenerate ares/aresrpc/aresv1 from its .proto
	command -v protoc >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y protobuf-compiler; }
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	PATH="$(GOBIN):$$PATH" protoc -I ares/aresrpc \
		--go_out=ares/aresrpc --go_opt=paths=source_relative \
		--go-grpc_out=ares/aresrpc --go-grpc_opt=paths=source_relative \
		aresv1/ares.proto

# ---- image ---------------------------------------------------------------

# One image serves the docker backend and docker-compose.yml: ares-server and
# torture-agent, FROM scratch, built through the Engine API by
# bin/torture-image (pulls nothing; reused while the binaries are the same).
image: build ## the FROM scratch image ares-torture:latest (ares-server, torture-agent); pulls nothing
	$(BIN)/torture-image

# ---- demo ----------------------------------------------------------------

demo: build ## a local 5-server cluster: put/get with ABD, reconfig to EC, put/get with EC
	BIN=$(BIN) e2e/demo.sh

clean: ## remove built files
	rm -rf $(BIN)

# ---- torture (harness owner) ---------------------------------------------

TORTURE_FLAGS ?= --time 30s --nemesis all --nemesis-interval 3s

.PHONY: torture e2e bench bench-sim sim

bench: build ## torture bench: the harness's cost (overhead) and the time each --server-bug takes to be found (bugs, 10 seeds, local and sim)
	$(BIN)/torture bench overhead
	$(BIN)/torture bench bugs --seeds 10
	$(BIN)/torture bench bugs --backend sim --seeds 10

bench-sim: build ## the simulation's speed: 1,000 sim runs of 1,000 operations under every fault, beside the local backend's ops/s (~10 min)
	$(BIN)/torture bench sim --runs 1000

sim: build ## 200 seeds of the deterministic simulation backend in swarm shapes; failing runs kept with their rerun command
	$(BIN)/torture sim --seeds 1..200 --swarm

torture: build ## a ~30 s torture run on the local backend, every fault; ends with the verdict and the report path
	$(BIN)/torture run $(TORTURE_FLAGS)

e2e: build ## the torture integration tests: real servers, every fault, every --server-bug, Ctrl-C
	$(GO) test -count=1 -timeout 30m -v -run 'TestAllFaultsValid|TestBugsFound|TestInterrupt' ./cmd/torture

# ---- docker backend, compose cluster, nightly (docker owner) -------------

# docker-compose v1 is what these machines have; `docker compose` (v2) works too.
COMPOSE ?= $(shell command -v docker-compose >/dev/null 2>&1 && echo docker-compose || echo docker compose)
COMPOSE_PROJECT ?= ares
COMPOSE_SERVERS := s1=127.0.0.1:7001,s2=127.0.0.1:7002,s3=127.0.0.1:7003,s4=127.0.0.1:7004,s5=127.0.0.1:7005
NIGHTLY_FLAGS ?=

.PHONY: docker-tools compose-up compose-down compose-test docker-e2e torture-nightly

docker-tools: ## check the docker backend's host tools (nsenter, iptables), apt-get install them if missing
	@missing=; for t in nsenter iptables iptables-save iptables-restore; do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then echo "installing$$missing"; $(SUDO) apt-get update && $(SUDO) apt-get install -y iptables util-linux; fi

compose-up: image ## start docker-compose.yml's 5 servers on 127.0.0.1:7001-7005
	$(COMPOSE) -p $(COMPOSE_PROJECT) up -d
	@echo "try: $(BIN)/ares --servers $(COMPOSE_SERVERS) put k hello"
	@echo "     $(BIN)/ares --servers $(COMPOSE_SERVERS) get k"

compose-down: ## stop the compose cluster and remove its volumes
	$(COMPOSE) -p $(COMPOSE_PROJECT) down -v

# Spare ports and its own project name, so a cluster started by hand is not touched.
compose-test: image ## CI: start the compose cluster, put/get through it with bin/ares, remove it
	export ARES_PORT_S1=17001 ARES_PORT_S2=17002 ARES_PORT_S3=17003 ARES_PORT_S4=17004 ARES_PORT_S5=17005; \
	p=ares-composetest; trap '$(COMPOSE) -p $$p down -v >/dev/null 2>&1 || true' EXIT; \
	$(COMPOSE) -p $$p up -d; \
	s=s1=127.0.0.1:17001,s2=127.0.0.1:17002,s3=127.0.0.1:17003,s4=127.0.0.1:17004,s5=127.0.0.1:17005; \
	v="compose-$$$$-$$RANDOM"; ok=; \
	for i in $$(seq 30); do if $(BIN)/ares --servers $$s --timeout 2s put k "$$v"; then ok=1; break; fi; sleep 0.5; done; \
	test -n "$$ok"; got=$$($(BIN)/ares --servers $$s get k); \
	if [ "$$got" != "$$v" ]; then echo "compose-test: got '$$got', want '$$v'" >&2; exit 1; fi; \
	echo "compose-test: put/get through docker-compose: ok"

docker-e2e: build docker-tools ## the docker backend's integration tests (engine + root): faults, valid ABD/EC runs, a server bug, compose
	$(GO) test -count=1 -timeout 20m -v ./harness/docker/...

torture-nightly: build docker-tools ## the nightly matrix (local,docker x abd,ec,mixed x 6 nemeses x fixed,fresh seed) into nightly/
	$(BIN)/torture-nightly --out nightly $(NIGHTLY_FLAGS)
