# The few targets people look for. Each sets up what it needs on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The CPU build of torch that lies on this project's machines; `make TORCH=torch` on a GPU node.
TORCH ?= torch==2.13.0
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo serve test test-fast test-families lint format bench audit browser services clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet '$(TORCH)'
	$(BIN)/python -m pip install --quiet -e '.[dev,train]'
	touch $(STAMP)

install: $(STAMP)

# The families tier: Qwen2-VL and Qwen2.5-VL need torchvision for their processors,
# and PyPI's torchvision does not import beside the CPU torch above. torch 2.14.1 with
# torchvision 0.29.1 (a CUDA build that runs on the CPU) lie on this project's machines.
FAMILIES_VENV ?= .venv-families
FAMILIES_BIN := $(FAMILIES_VENV)/bin
FAMILIES_STAMP := $(FAMILIES_VENV)/.installed-stamp
FAMILIES_TORCH ?= torch==2.14.1 torchvision==0.29.1

$(FAMILIES_STAMP): pyproject.toml
	$(PYTHON) -m venv $(FAMILIES_VENV)
	$(FAMILIES_BIN)/python -m pip install --quiet --upgrade pip
	$(FAMILIES_BIN)/python -m pip install --quiet $(FAMILIES_TORCH)
	$(FAMILIES_BIN)/python -m pip install --quiet -e '.[dev,train]'
	touch $(FAMILIES_STAMP)

## demo: set up, migrate, seed the demo brand and serve web + worker on http://127.0.0.1:8000
demo: $(STAMP)
	$(BIN)/atelier db upgrade
	$(BIN)/atelier demo
	@echo
	@echo "  Atelier is starting on http://127.0.0.1:8000/brands/demo  (Ctrl-C stops it)"
	@echo
	$(BIN)/atelier serve

serve: $(STAMP)
	$(BIN)/atelier db upgrade
	$(BIN)/atelier serve

## test: the whole suite on SQLite and PostgreSQL, with a real browser
# Two test processes on two cores, one thread each, whose idle threads sleep rather than spin
# (see app/threads.py: a spinning thread starves the others on a busy machine). PostgreSQL and
# Redis: the machine's own if they answer, else throwaway ones the session starts (tests/services.py).
test: $(STAMP) browser services
	OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE $(BIN)/pytest -n 2 --dist loadgroup

## test-families: the Qwen2-VL and Qwen2.5-VL tests (marked `families`), in the families venv
# Their processors need torchvision, so they run in a venv of their own; `make test` skips them.
# On SQLite alone: what they prove is the model path, which both databases share.
test-families: $(FAMILIES_STAMP) services
	$(FAMILIES_BIN)/python -c 'import torchvision'  # else every test would skip, and prove nothing
	ATELIER_TEST_BACKENDS=sqlite OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE \
		$(FAMILIES_BIN)/pytest -n 2 --dist loadgroup -m families

test-fast: $(STAMP)
	ATELIER_TEST_BACKENDS=sqlite $(BIN)/pytest -x -q -m "not browser"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python -m bench

## audit: the installed packages against known advisories (pip-audit; needs PyPI's JSON API)
audit: $(STAMP)
	$(BIN)/pip-audit --skip-editable --progress-spinner off

## browser: Debian's headless Chromium for the page tests (never a browser download)
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

## services: Debian's PostgreSQL and Redis, from which the tests start throwaway servers when the
# machine runs none (the packages only: nothing is started here)
services:
	@{ ls /usr/lib/postgresql/*/bin/initdb && command -v redis-server; } >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server; }

clean:
	rm -rf $(VENV) $(FAMILIES_VENV) var .pytest_cache .mypy_cache .ruff_cache
