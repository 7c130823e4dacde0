# Tenantgate — `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
T ?= tests
PYTEST_FLAGS ?=

.PHONY: help run test chaos lint clean

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

test: $(STAMP) ## Run the tests (chaos excluded); T=path runs a subset
	$(BIN)/pytest -m "not chaos" $(PYTEST_FLAGS) $(T)

chaos: $(STAMP) ## Run the chaos (fault-injection) suite
	$(BIN)/pytest -m chaos $(PYTEST_FLAGS) $(T)

lint: $(STAMP) ## Run flake8
	$(BIN)/flake8 app tests config wsgi.py

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) data .pytest_cache
