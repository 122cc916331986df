# pkgrun's front door. Every target does its own set-up first and skips what is already done.
#   make test     unit tests (and, from the container build on, integration tests)
#   make lint     ruff and mypy
#   make rpms     build every recipe and publish it (arrives with the container build)
#   make clean    remove the virtual environment, build output and caches

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# system tools the targets need, as TOOL=DEBIAN_PACKAGE
SYSTEM_TOOLS := bash sh=dash

# where the benchmarks and `make rpms TARGET=local` find Debian's orig tarballs
MIRROR ?= $(CURDIR)/.cache/mirror

.PHONY: setup test lint rpms bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@scripts/check-system.sh $(SYSTEM_TOOLS)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	    echo "pkgrun needs Python >= 3.11 as '$(PYTHON)'; found: $$($(PYTHON) --version 2>&1)." >&2; \
	    echo "Install one, or run make PYTHON=/path/to/python3.11 ..." >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	    echo "could not create a virtual environment: on Debian/Ubuntu install python3-venv" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

test: setup
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

rpms: setup
	@$(BIN)/pkgrun check
	@echo "make rpms: building in containers arrives with the container build; until then" >&2
	@echo "'$(BIN)/pkgrun plan RECIPE' shows what a build will do. Nothing was built." >&2
	@exit 1

bench: setup
	scripts/fetch-test-sources.sh $(MIRROR)
	$(BIN)/python scripts/bench.py --mirror $(MIRROR)

clean:
	rm -rf $(VENV) out .cache .pytest_cache .mypy_cache .ruff_cache src/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
