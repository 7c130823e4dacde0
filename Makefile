# Tenantgate — `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
T ?= tests
PYTEST_FLAGS ?=
# make fuzz: examples per operation and key variant, and per raw-socket mutation and target
# (the bounded run in make test uses 15).
FUZZ_EXAMPLES ?= 500

.PHONY: help run test chaos fuzz soak lint bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): setup.cfg pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	@echo "Creating virtualenv in $(VENV) and installing Tenantgate..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: $(STAMP) ## Run the server (gunicorn, SQLite store under ./data) on BIND=127.0.0.1:8000
	$(BIN)/gunicorn -c config/gunicorn.conf.py wsgi:app

test: $(STAMP) ## Run the tests (chaos and soak excluded); T=path runs a subset
	$(BIN)/pytest -m "not chaos and not soak" $(PYTEST_FLAGS) $(T)

chaos: $(STAMP) ## Run the chaos (fault-injection) suite
	$(BIN)/pytest -m chaos $(PYTEST_FLAGS) $(T)

fuzz: $(STAMP) ## Long API and raw-socket fuzz (FUZZ_EXAMPLES=500 per variant, random seed); prints the count
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest $(PYTEST_FLAGS) tests/security/test_fuzz_api.py \
		tests/security/test_fuzz_wire.py

soak: $(STAMP) ## 2-minute mixed load on 4 gunicorn workers; SOAK_SECONDS=N shortens it
	$(BIN)/pytest -m soak -s $(PYTEST_FLAGS) tests/reliability/test_soak.py

lint: $(STAMP) ## Run flake8
	$(BIN)/flake8 app tests config wsgi.py

# The benchmarks' own packages: the peers' exporter and py-spy (the `bench` extra).
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) ## Run the benchmarks (about 9 minutes; wrk via apt-get if missing); see docs/performance.md
	$(BIN)/python -m bench.run

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) data .pytest_cache
