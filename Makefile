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

.PHONY: demo test bench install tokenizer clean test-asan test-tsan

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

# The C++ tests under sanitizers, each in its own build folder (no Python
# module): ASan + UBSan (any report fails the run), and TSan for data races.
SAN_CMAKE = cmake -S . -DTAGGER_BUILD_PYTHON=OFF -DTAGGER_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
test-asan: $(VENV)/.apt
	$(SAN_CMAKE) -B build/asan \
	  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
	cmake --build build/asan -j2
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build/asan --output-on-failure -j2

test-tsan: $(VENV)/.apt
	$(SAN_CMAKE) -B build/tsan -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer"
	cmake --build build/tsan -j2
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ctest --test-dir build/tsan --output-on-failure -j2 $(TSAN_TESTS)

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
