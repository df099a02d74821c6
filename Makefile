# Two commands matter: `make serve` and `make test`. Both bootstrap .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8787
SAM3_INSTALLED := $(VENV)/.installed-sam3
# LocalStack, the S3 endpoint that verifies SigV4 in tests/storage/test_s3_signatures.py,
# needs Python >= 3.12: its own venv, from the first such interpreter found (a pyenv shim
# that fails to run is passed over). Without one the tests skip, or fail under CI=true.
LOCALSTACK_VENV ?= .venv-localstack
LOCALSTACK_INSTALLED := $(LOCALSTACK_VENV)/.installed
LOCALSTACK_REQUIREMENTS := tests/support/localstack-requirements.txt
LOCALSTACK_PYTHON ?= $(shell for candidate in python3.13 python3.12 \
	$(HOME)/.pyenv/versions/3.13*/bin/python3 $(HOME)/.pyenv/versions/3.12*/bin/python3; do \
	"$$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null \
	&& { command -v "$$candidate"; break; }; done)
# CPU build of torch for the SAM 3 tests: pinned so that pip never pulls a multi-GB CUDA build.
TORCH_CPU ?= torch==2.13.0

.PHONY: serve test lint format check bench bench-gpu demo worker clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

# The SAM 3 tests need the `sam3` extra; torch goes first, pinned, so no CUDA build is pulled.
$(SAM3_INSTALLED): $(INSTALLED)
	$(BIN)/python -m pip install --quiet '$(TORCH_CPU)'
	$(BIN)/python -m pip install --quiet -e '.[dev,sam3]'
	touch $(SAM3_INSTALLED)

serve: $(INSTALLED)  ## install, migrate and run on http://$(HOST):$(PORT) (SQLite, local storage, embedded worker)
	$(BIN)/s3api serve --host $(HOST) --port $(PORT)

# No Python >= 3.12: say so and carry on (no stamp), so `make test` runs the rest.
$(LOCALSTACK_INSTALLED): $(LOCALSTACK_REQUIREMENTS)
	@if [ -z "$(LOCALSTACK_PYTHON)" ]; then \
	  echo "No Python >= 3.12 found (set LOCALSTACK_PYTHON=...): the S3 signature tests against LocalStack will skip, or fail under CI=true"; \
	else \
	  set -e; \
	  "$(LOCALSTACK_PYTHON)" -m venv $(LOCALSTACK_VENV); \
	  $(LOCALSTACK_VENV)/bin/python -m pip install --quiet --upgrade pip; \
	  $(LOCALSTACK_VENV)/bin/python -m pip install --quiet -r $(LOCALSTACK_REQUIREMENTS); \
	  touch $(LOCALSTACK_INSTALLED); \
	fi

test: $(SAM3_INSTALLED) $(LOCALSTACK_INSTALLED)  ## install and run the whole suite on SQLite and PostgreSQL
	$(BIN)/pytest

lint: $(SAM3_INSTALLED)  ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(INSTALLED)
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

check: lint test

bench: $(INSTALLED)  ## lifecycle benchmark against a running server (see bench/README.md)
	$(BIN)/python -m bench.lifecycle

bench-gpu: $(SAM3_INSTALLED)  ## SAM 3 model-only vs full-pipeline throughput (see bench/README.md)
	$(BIN)/python -m bench.gpu

demo: $(INSTALLED)  ## the whole user flow against a fresh embedded server
	$(BIN)/s3api demo $(DEMO_ARGS)

worker: $(INSTALLED)  ## a reference GPU worker pulling from WORKER_API_BASE_URL
	$(BIN)/s3api worker

clean:
	rm -rf $(VENV) $(LOCALSTACK_VENV) data demo-data demo-output .pytest_cache .mypy_cache .ruff_cache
