# Each target sets itself up on a fresh Debian machine: the apt packages it
# needs (installed only when missing), a local .venv, and the package built
# incrementally in build/py. Nothing is rebuilt when nothing changed.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
BUILD_DIR := build/py
APT_PACKAGES := g++ make cmake pkg-config libssl-dev libmsgpack-cxx-dev libeigen3-dev \
                libsentencepiece-dev libgtest-dev ccache
SOURCES := $(shell find cpp python cmake scripts -type f -not -path '*/__pycache__/*' 2>/dev/null) \
           CMakeLists.txt pyproject.toml

.PHONY: demo test bench install tokenizer clean

demo: $(VENV)/.installed
	$(VENV)/bin/tagger demo

test: $(VENV)/.installed
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j2
	$(PY) -m pytest -q

bench: $(VENV)/.installed $(VENV)/.bench
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

install: $(VENV)/.installed

$(VENV)/.apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip "scikit-build-core>=0.10" "pybind11>=2.12"
	@touch $@

$(VENV)/.installed: $(VENV)/.apt $(SOURCES)
	$(PIP) install -q --no-build-isolation \
	  --config-settings=build-dir=$(BUILD_DIR) \
	  --config-settings=cmake.define.TAGGER_BUILD_TESTS=ON \
	  ".[test]"
	@touch $@

$(VENV)/.bench: $(VENV)/.apt pyproject.toml
	$(PIP) install -q ".[bench]" --no-build-isolation --config-settings=build-dir=$(BUILD_DIR) \
	  --config-settings=cmake.define.TAGGER_BUILD_TESTS=ON
	@touch $@

# Retrains the shipped sentencepiece model from WordNet (Debian's wordnet-base)
# and checks it is byte-identical to python/tagger/data/tokenizer.model.
tokenizer: $(VENV)/.installed
	@for p in wordnet-base sentencepiece; do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || \
	  { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get install -y -qq $$p; }; \
	done
	$(PY) scripts/train_tokenizer.py --check

clean:
	rm -rf build $(VENV)
