# porthos: the setup contract. On a fresh Debian machine `make demo` and `make test` install
# what they need and work with no other step; a second run only redoes what changed
# (stamp files under .make/, all ignored by git).
#
#   make demo    build, then run `porthos demo --hsm softhsm` in a fresh ./demo-workspace
#                (env prod; the CA keys live in a SoftHSM2 token inside the workspace)
#   make test    lint, then the Rust tests (incl. Wycheproof), then pytest
#   make lint    cargo fmt --check, clippy -D warnings, ruff check + format --check, mypy, stubtest, lint-imports
#   make bench   porthos bench issue --n 10000 --repeats 5 -> bench-results/issue.json
#   make clean   remove the venv, the stamps and the build output

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

# Debian packages the project needs at run or test time (openssl: interop tests).
# Extend here, e.g. softhsm2 for the PKCS#11 path. ca-certificates: the real SECOM roots
# the SECOM data is compared with (issue 21). postgresql: the tests start a private
# server of their own (tests/pg_server.py; issue 19). gnutls-bin: ocsptool, the second
# OCSP verifier; nghttp2-client (h2load) and apache2-utils (ab): the load generators of
# `porthos bench ocsp --responder` (issue 17). rpki-client and fort-validator validate
# RPKI publication points in tests/test_rpki_client.py (issue 18).
DEB_PACKAGES = openssl softhsm2 ca-certificates postgresql gnutls-bin nghttp2-client \
	apache2-utils rpki-client fort-validator

VENV   := .venv
PY     := $(VENV)/bin/python
STAMPS := .make
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Every build/test step is told to stay on few cores (shared machines, CI with 2 cores).
JOBS   ?= 2
export CARGO_BUILD_JOBS := $(JOBS)

RUST_SOURCES := Cargo.toml Cargo.lock $(shell find rust -name '*.rs' -o -name Cargo.toml 2>/dev/null)

.PHONY: all demo test lint bench build venv deb rust-toolchain cargo-test pytest clean pg-start pg-stop demo-cluster

all: build

# --- system packages ---------------------------------------------------------------------
# Checked every run (dpkg -s is cheap); apt-get runs only when something is missing.
deb:
	@missing=""; \
	for p in $(DEB_PACKAGES); do dpkg -s "$$p" >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then missing="$$missing python3-venv"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends $$missing; \
	fi

# --- Rust toolchain ----------------------------------------------------------------------
# rustc >= 1.89 must come with the machine (rustup); only missing components are added.
rust-toolchain:
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust >= 1.89 (rustup)" >&2; exit 1; }
	@cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@cargo clippy --version >/dev/null 2>&1 || rustup component add clippy

# --- Python virtual environment ----------------------------------------------------------
# Dependencies are read from pyproject.toml (runtime + [test] extras + the build backend), so
# the list lives in one place, at the versions pinned in tools/constraints.txt (so CI gets what
# the last green run had); re-installed only when either file changes.
$(STAMPS)/venv: pyproject.toml tools/constraints.txt | deb
	@mkdir -p $(STAMPS)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -c 'import sys; assert sys.version_info >= (3, 11), "porthos needs Python >= 3.11"'
	$(PY) -c 'import tomllib; d = tomllib.load(open("pyproject.toml", "rb")); \
	  p = d["project"]; \
	  print("\n".join(d["build-system"]["requires"] + p["dependencies"] \
	                  + p["optional-dependencies"]["test"]))' > $(STAMPS)/requirements.txt
	$(PY) -m pip install -q -r $(STAMPS)/requirements.txt -c tools/constraints.txt
	touch $@

venv: $(STAMPS)/venv

# --- the extension -----------------------------------------------------------------------
# `maturin develop --release` builds porthos._native into python/porthos/ and installs the
# package editable (python/ is on the path, so Python edits need no rebuild); it re-runs only
# when a Rust source, a Cargo manifest, the lock file or pyproject.toml changed.
$(STAMPS)/build: $(STAMPS)/venv $(RUST_SOURCES) pyproject.toml | rust-toolchain
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release -q
	$(PY) -c 'import porthos._native as n; assert n.BUILD_PROFILE == "release", n.BUILD_PROFILE'
	touch $@

build: $(STAMPS)/build

# --- targets -----------------------------------------------------------------------------
demo: build
	rm -rf demo-workspace
	$(VENV)/bin/porthos demo --workdir demo-workspace --hsm softhsm

# stubtest imports the built extension and checks python/porthos/_native.pyi against it
# (names, signatures, @final classes, __all__), so the stub cannot drift from the Rust.
lint: $(STAMPS)/build | rust-toolchain
	cargo fmt --all --check
	cargo clippy --release --workspace --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests benches
	$(VENV)/bin/ruff format --check python tests benches
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest porthos._native --mypy-config-file pyproject.toml
	# Imports run one way (issue 15): the layer and no-cycle contracts in pyproject.toml.
	$(VENV)/bin/lint-imports

cargo-test: | rust-toolchain
	cargo test --workspace --release

# pytest exits 5 when it collected nothing; that must fail the run, and it does (non-zero).
pytest: build
	$(VENV)/bin/pytest -q

test: lint cargo-test pytest

bench: build
	mkdir -p bench-results
	$(VENV)/bin/porthos bench issue --n 10000 --repeats 5 --json bench-results/issue.json

# A private PostgreSQL for trying `porthos init --store` by hand (docs/postgresql.md):
# data directory and Unix socket in build/pg, no TCP port, password in build/pg/password.
# (pytest starts its own, once per session: tests/pg_server.py.)
PG_DIR := build/pg
pg-start: | venv
	$(PY) tests/pg_server.py start $(PG_DIR)

pg-stop:
	test ! -d $(PG_DIR) || $(PY) tests/pg_server.py stop $(PG_DIR)

# Issue 19 §3: a sharded CRL rebuilt on a Dask LocalCluster (2 worker processes) over a
# private PostgreSQL started as pg-start does (build/pg-demo), verified with openssl;
# the server is stopped and removed at the end, also on failure (tests/demo_cluster.py).
demo-cluster: build
	$(PY) tests/demo_cluster.py build

clean: pg-stop
	rm -rf $(VENV) $(STAMPS) demo-workspace bench-results build
	cargo clean
