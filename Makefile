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

IMAGE   ?= ares-torture/ares-server:latest
PROTOC_GEN_GO_GRPC_VERSION ?= v1.5.1
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help deps build test proto image demo clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

deps: ## download the Go modules
	$(GO) mod download

# ---- build ---------------------------------------------------------------

build: deps ## static binaries of every command in bin/
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# ---- test ----------------------------------------------------------------

test: build ## go vet and every test, integration tests included (the README's test command)
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

# The context holds only the binary and the Dockerfile; FROM scratch pulls
# nothing.
image: build ## the FROM scratch ares-server image, ares-torture/ares-server:latest
	ctx=$$(mktemp -d); trap 'rm -rf "$$ctx"' EXIT; \
	cp $(BIN)/ares-server "$$ctx/ares-server"; \
	cp docker/ares-server.Dockerfile "$$ctx/Dockerfile"; \
	docker build --pull=false -t $(IMAGE) "$$ctx"

# ---- demo ----------------------------------------------------------------

demo: build ## a local 5-server cluster: put/get with ABD, reconfig to EC, put/get with EC
	BIN=$(BIN) e2e/demo.sh

clean: ## remove built files
	rm -rf $(BIN)
