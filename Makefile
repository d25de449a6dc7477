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
# staticcheck runs through `go run ...@version`: pinned, nothing installed by hand.
STATICCHECK_VERSION ?= v0.8.2
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help deps build lint test browser-tools proto image demo clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

deps: ## download the Go modules
	$(GO) mod download

# ---- build ---------------------------------------------------------------

build: deps ## static binaries of every command in bin/
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# ---- test ----------------------------------------------------------------

test: build docker-tools browser-tools lint ## lint, then every test, integration tests included (the README's test command)
	$(GO) test $(TESTFLAGS) ./...

# go.mod and go.sum must be what `go mod tidy` makes of them (direct
# requirements in go.mod's first block, unmarked); staticcheck must find nothing.
lint: ## go vet, go mod tidy -diff (go.mod and go.sum are tidy) and staticcheck (pinned: STATICCHECK_VERSION)
	$(GO) vet ./...
	$(GO) mod tidy -diff
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# The browser tests (e2e/browser) drive headless Chromium; under CI=true they
# fail when it is missing, elsewhere they skip.
browser-tools: ## check for chromium (the browser tests' headless browser), apt-get install Debian's if missing
	@command -v chromium >/dev/null || { echo "installing chromium"; $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; }

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

TORTURE_FLAGS ?= --time 30s --nemesis all --nemesis-interval 1.2s

.PHONY: torture e2e bench bench-sim sim fuzz soak

fuzz: ## Go's native fuzzing of the server's request handling and the history decoder (10 min in all)
	$(GO) test -run '^$$' -fuzz '^FuzzHandleRequest$$' -fuzztime 5m ./ares/aresrpc
	$(GO) test -run '^$$' -fuzz '^FuzzRequestFromPB$$' -fuzztime 3m ./ares/aresrpc
	$(GO) test -run '^$$' -fuzz '^FuzzDecoder$$' -fuzztime 2m ./history

soak: build docker-tools ## 100 runs on the local and docker backends interrupted by signals at random moments, then no container, network, volume or server process left (~3 min)
	$(GO) test ./cmd/torture -run 'TestSoak$$' -soak-runs=100 -timeout 0 -v

bench: build ## torture bench: the harness's cost (overhead) and the time each --server-bug takes to be found (bugs, 10 seeds, local and sim)
	$(BIN)/torture bench overhead
	$(BIN)/torture bench bugs --seeds 10
	$(BIN)/torture bench bugs --backend sim --seeds 10

bench-sim: build ## the simulation's speed: 1,000 sim runs of 1,000 operations under every fault, beside the local backend's ops/s (~10 min)
	$(BIN)/torture bench sim --runs 1000

sim: build ## 200 seeds of the deterministic simulation backend in swarm shapes; failing runs kept with their rerun command
	$(BIN)/torture sim --seeds 1..200 --swarm

torture: build ## a ~30 s torture run on the local backend, every fault kind it has at least once; ends with a faults: line, the verdict and the report path
	$(BIN)/torture run $(TORTURE_FLAGS)

e2e: build ## the torture integration tests: real servers, every fault, every --server-bug, Ctrl-C
	$(GO) test -count=1 -timeout 30m -v -run 'TestAllFaultsValid|TestBugsFound|TestInterrupt' ./cmd/torture

# ---- docker backend, compose cluster, nightly (docker owner) -------------

# docker-compose v1 is what these machines have; `docker compose` (v2) works too.
COMPOSE ?= $(shell command -v docker-compose >/dev/null 2>&1 && echo docker-compose || echo docker compose)
COMPOSE_PROJECT ?= ares
COMPOSE_SERVERS := s1=127.0.0.1:7001,s2=127.0.0.1:7002,s3=127.0.0.1:7003,s4=127.0.0.1:7004,s5=127.0.0.1:7005
# The compose cluster's CA and certificates (docker-compose.yml mounts them
# as ARES_TLS_DIR, default ./.compose/tls): made once, kept across
# compose-down (a new CA needs `bin/torture certs --force` and a restart).
COMPOSE_TLS ?= .compose/tls
COMPOSE_NODES := s1 s2 s3 s4 s5 client
COMPOSE_TLS_FLAGS = --tls-cert $(COMPOSE_TLS)/client.pem --tls-key $(COMPOSE_TLS)/client-key.pem --tls-ca $(COMPOSE_TLS)/ca.pem
NIGHTLY_FLAGS ?=

.PHONY: docker-tools compose-certs compose-up compose-down compose-test docker-e2e torture-nightly

docker-tools: ## check the docker backend's host tools (nsenter, iptables), apt-get install them if missing
	@missing=; for t in nsenter iptables iptables-save iptables-restore; do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then echo "installing$$missing"; $(SUDO) apt-get update && $(SUDO) apt-get install -y iptables util-linux; fi

compose-certs: build ## the compose cluster's CA and certificates in .compose/tls/ (s1..s5 and client; kept if there)
	@if [ -f $(COMPOSE_TLS)/ca.pem ]; then echo "$(COMPOSE_TLS): certificates there, kept"; \
	else $(BIN)/torture certs --out $(COMPOSE_TLS) --host 127.0.0.1,localhost $(COMPOSE_NODES); fi

compose-up: image compose-certs ## start docker-compose.yml's 5 servers on 127.0.0.1:7001-7005, mutual TLS with .compose/tls/
	ARES_TLS_DIR=$(abspath $(COMPOSE_TLS)) $(COMPOSE) -p $(COMPOSE_PROJECT) up -d
	@echo "try: $(BIN)/ares --servers $(COMPOSE_SERVERS) $(COMPOSE_TLS_FLAGS) put k hello"
	@echo "     $(BIN)/ares --servers $(COMPOSE_SERVERS) $(COMPOSE_TLS_FLAGS) get k"

compose-down: ## stop the compose cluster and remove its volumes
	$(COMPOSE) -p $(COMPOSE_PROJECT) down -v

# Spare ports, its own project name and its own CA, so a cluster started by
# hand (and its certificates) is not touched.
compose-test: image ## CI: start the compose cluster (its own CA), put/get through it with bin/ares over mutual TLS, check a plaintext client is refused, remove it
	export ARES_PORT_S1=17001 ARES_PORT_S2=17002 ARES_PORT_S3=17003 ARES_PORT_S4=17004 ARES_PORT_S5=17005; \
	p=ares-composetest; d=$$(mktemp -d); export ARES_TLS_DIR=$$d/tls; \
	trap '$(COMPOSE) -p $$p down -v >/dev/null 2>&1 || true; rm -rf "$$d"' EXIT; \
	$(BIN)/torture certs --out $$ARES_TLS_DIR --host 127.0.0.1 $(COMPOSE_NODES) >/dev/null; \
	$(COMPOSE) -p $$p up -d; \
	s=s1=127.0.0.1:17001,s2=127.0.0.1:17002,s3=127.0.0.1:17003,s4=127.0.0.1:17004,s5=127.0.0.1:17005; \
	t="--tls-cert $$d/tls/client.pem --tls-key $$d/tls/client-key.pem --tls-ca $$d/tls/ca.pem"; \
	v="compose-$$$$-$$RANDOM"; ok=; \
	for i in $$(seq 30); do if $(BIN)/ares --servers $$s $$t --timeout 2s put k "$$v"; then ok=1; break; fi; sleep 0.5; done; \
	test -n "$$ok"; got=$$($(BIN)/ares --servers $$s $$t get k); \
	if [ "$$got" != "$$v" ]; then echo "compose-test: got '$$got', want '$$v'" >&2; exit 1; fi; \
	if $(BIN)/ares --servers $$s --timeout 2s get k >/dev/null 2>&1; then echo "compose-test: a client without a certificate was served" >&2; exit 1; fi; \
	echo "compose-test: put/get through docker-compose over mutual TLS: ok; a client without a certificate: refused"

docker-e2e: build docker-tools ## the docker backend's integration tests (engine + root): faults, valid ABD/EC runs, a server bug, compose
	$(GO) test -count=1 -timeout 20m -v ./harness/docker/...

torture-nightly: build docker-tools ## the nightly matrix (local,docker x abd,ec,mixed x 6 nemeses x fixed,fresh seed) into nightly/
	$(BIN)/torture-nightly --out nightly $(NIGHTLY_FLAGS)
