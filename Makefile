# pkgrun's front door. Every target does its own set-up first and skips what is already done.
#   make test     unit tests (and, from the container build on, integration tests)
#   make unit     the unit tests alone, on every core (no container; rpm, gpg, rpmlint, dnf)
#   make lint     ruff, mypy, and hadolint on the el images' Containerfiles
#   make rpms     build every recipe and publish it, signed, into ./repo (TARGET=el7 MIRROR=DIR KEEP=N;
#                 UNSIGNED=1 publishes unsigned packages; a signing key is made once if there is none)
#   make nightly  rebuild what changed for every configured target (pkgrun.toml), publish, report
#   make image    the runtime image (nginx, php-fpm, supervisor) from the published RPMs
#   make clean    remove the virtual environment, build output and caches

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# system tools the targets need, as TOOL=DEBIAN_PACKAGE[,PACKAGE...]
SYSTEM_TOOLS := bash sh=dash
SIGN_TOOLS   := gpg=gnupg rpmsign=rpm
BUILD_TOOLS  := rpm rpmlint debootstrap podman runc $(SIGN_TOOLS)
# diffoscope reads RPMs with rpm's Python bindings; gcc and readelf make and read the ELF files
# the dependency generator's tests compare with rpmbuild's; find-debuginfo (debugedit, with
# eu-strip and cpio) strips them into a -debuginfo as rpmbuild does
# crun: podman's first choice, which refuses hosts with a hybrid cgroup layout; a test shows
# that pkgrun runs podman with runc there by itself
DEBUG_TOOLS  := find-debuginfo=debugedit eu-strip=elfutils cpio
TEST_TOOLS   := $(BUILD_TOOLS) rpmbuild=rpm dnf dockerd=docker.io diffoscope=diffoscope-minimal,python3-rpm \
                gcc readelf=binutils crun $(DEBUG_TOOLS)
# what the unit tests run (no container): reading, signing and linting RPMs, dnf as a client
UNIT_TOOLS   := rpm rpmbuild=rpm rpmlint dnf gcc readelf=binutils $(SIGN_TOOLS) $(DEBUG_TOOLS)
# Debian's orig tarballs for the integration tests and benchmarks (scripts/fetch-test-sources.sh)
TEST_MIRROR  ?= $(or $(PKGRUN_TEST_MIRROR),$(CURDIR)/.cache/mirror)
# The tests' own podman commands (images and build-host services they set up) with runc, on
# hosts whose cgroup layout crun refuses (this project's CI machines among them); harmless
# elsewhere when runc is installed. Decided when a target runs, after check-system.sh may have
# installed runc, not when make reads this file. pkgrun itself needs none of it: it chooses the
# runtime and the containers' ulimits on its own (docs/own-recipes.md, "The engine").
WITH_RUNC = CONTAINERS_CONF="$${CONTAINERS_CONF:-$$(command -v runc >/dev/null 2>&1 && echo $(CURDIR)/.ci/containers.conf)}"

# make rpms: the target, a directory or URL to look for sources first, releases to keep
TARGET ?= el7
MIRROR ?=
KEEP   ?=
UNSIGNED ?=
# the signing key: the configured one (checked), else pkgrun's own, made on first use
SIGNING = $(if $(UNSIGNED),--unsigned,)
KEY_INIT = $(if $(UNSIGNED),true,$(BIN)/pkgrun key init)
RECIPES := $(patsubst recipes/%/recipe.toml,%,$(wildcard recipes/*/recipe.toml))

.PHONY: setup test unit lint rpms image nightly bench clean

# bytecode ahead of time (only what changed): a short command starts fast even where
# PYTHONDONTWRITEBYTECODE is set
setup: $(STAMP)
	@$(BIN)/python -m compileall -q src/pkgrun >/dev/null

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
	@scripts/check-system.sh $(TEST_TOOLS) || echo "make test: integration tests needing them will be skipped" >&2
	@scripts/fetch-test-sources.sh $(TEST_MIRROR) >/dev/null 2>&1 || \
	    echo "make test: could not fetch the test sources (needs root and apt); tests needing them will be skipped" >&2
	$(WITH_RUNC) PKGRUN_TEST_MIRROR=$(TEST_MIRROR) $(BIN)/pytest

unit: setup
	@scripts/check-system.sh $(UNIT_TOOLS) || echo "make unit: tests needing them will be skipped" >&2
	$(BIN)/pytest -q -n auto --dist worksteal -m 'not integration' --ignore=tests/integration

lint: setup
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/mypy
	$(BIN)/hadolint --no-color --config .hadolint.yaml src/pkgrun/containerfiles/*.Containerfile

rpms: setup
	@command -v podman >/dev/null || command -v docker >/dev/null || scripts/check-system.sh podman runc
	@scripts/check-system.sh rpm rpmlint $(SIGN_TOOLS) $(if $(filter local,$(TARGET)),debootstrap)
	@$(KEY_INIT)
	$(BIN)/pkgrun build $(RECIPES) --target $(TARGET) $(if $(MIRROR),--mirror $(MIRROR)) $(if $(KEEP),--keep $(KEEP)) $(SIGNING)
	$(BIN)/pkgrun repo list

nightly: setup
	@command -v podman >/dev/null || command -v docker >/dev/null || scripts/check-system.sh podman runc
	@scripts/check-system.sh rpm rpmlint $(SIGN_TOOLS) $(if $(filter local,$(TARGET)),debootstrap)
	@$(KEY_INIT)
	$(BIN)/pkgrun nightly $(if $(filter command line,$(origin TARGET)),--target $(TARGET)) $(if $(MIRROR),--mirror $(MIRROR)) $(SIGNING)

image: setup
	$(BIN)/pkgrun image --target $(TARGET) $(if $(TAG),--tag $(TAG))

bench: setup
	scripts/fetch-test-sources.sh $(TEST_MIRROR)
	$(WITH_RUNC) $(BIN)/python scripts/bench.py --mirror $(TEST_MIRROR)

clean:
	rm -rf $(VENV) out reports .cache .pytest_cache .mypy_cache .ruff_cache src/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
