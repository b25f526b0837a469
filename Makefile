# LAPOR: see README.md. `make run` starts everything; `make test` runs every test.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: run test unit e2e lint fmt build infra clean-test-state

run:
	deploy/scripts/run-local.sh

build:
	$(CARGO) build --workspace --all-targets

infra:
	deploy/scripts/ensure-infra.sh

# Everything: infrastructure check, one shared build, unit tests, end-to-end suites.
test: infra
	deploy/scripts/clean-test-state.sh
	$(CARGO) build --workspace --all-targets
	$(CARGO) test --workspace --all-targets --no-fail-fast
	deploy/scripts/k8s-validate.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

# Render every kustomize target under k8s/ and validate it offline against the Kubernetes
# and CRD schemas, plus deploy/compose.yaml (tools install into .tools/ on first use).
.PHONY: k8s-validate
k8s-validate:
	deploy/scripts/k8s-validate.sh

# Chaos: 5,000 complaints through two replicas of every service while replicas are
# SIGKILLed, broker connections closed, RabbitMQ's app restarted and database backends
# terminated; then nothing lost, nothing twice (tests/tests/chaos.rs; `make test` runs a
# reduced version). Restarts the local RabbitMQ app: do not run beside other suites.
.PHONY: chaos
chaos: infra
	deploy/scripts/clean-test-state.sh
	$(CARGO) build --release --workspace --bins
	$(CARGO) test --release -p lapor-e2e --test chaos -- --ignored --nocapture

# Bench: the PostgreSQL and RabbitMQ floor on this machine, then intake throughput (gRPC and
# JSON), the full pipeline's sustained rate, latency at 100/s and each service's memory, as
# one table with the targets (docs/performance.md); JSON in target/bench/. About six minutes.
.PHONY: bench
bench: infra
	deploy/scripts/clean-test-state.sh
	$(CARGO) build --release --workspace --bins
	target/release/lapor-bench
