"""Packaging contracts: one version everywhere, `import tagger` pulls in no optional
package, a missing extra names the `pip install 'tagger[...]'` that brings it, and
the command line fails in one line on a bad path."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tagger as tg
from tagger import _optional

from conftest import REPO

OPTIONAL = sorted(_optional.EXTRAS)


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tagger", *args], capture_output=True, text=True, timeout=120)


# ------------------------------------------------------------------ version

def test_version_is_the_same_everywhere():
    v = pyproject()["project"]["version"]
    assert tg.__version__ == v
    assert importlib.metadata.version("tagger") == v
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"tagger {v}", out.stdout + out.stderr


def test_cmake_project_version_is_pyprojects():
    cache = REPO / "build" / "py" / "CMakeCache.txt"
    if not cache.exists():
        pytest.skip("no CMake build in build/py (make install)")
    m = re.search(r"^CMAKE_PROJECT_VERSION:STATIC=(.*)$", cache.read_text(), re.M)
    assert m and m.group(1) == pyproject()["project"]["version"]


# ------------------------------------------------------------------ extras

def test_import_tagger_imports_no_optional_package():
    code = ("import sys, tagger; tagger.__version__; "
            f"print(sorted(m for m in {OPTIONAL!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_no_submodule_imports_an_optional_package():
    # pandas itself imports pyarrow when it is installed: count only what tagger adds.
    code = ("import sys, importlib; import numpy, pandas, tqdm; "
            f"before = {{m for m in {OPTIONAL!r} if m in sys.modules}}; "
            "import tagger; "
            "[importlib.import_module('tagger.' + m) for m in sorted(tagger._SUBMODULES)]; "
            f"print(sorted(m for m in {OPTIONAL!r} if m in sys.modules and m not in before))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_core_dependencies_are_numpy_pandas_tqdm_only():
    deps = {re.split(r"[<>=!~ \[;]", d)[0].lower() for d in pyproject()["project"]["dependencies"]}
    assert deps == {"numpy", "pandas", "tqdm"}
    extras = pyproject()["project"]["optional-dependencies"]
    for module, (package, extra) in _optional.EXTRAS.items():
        assert any(d.lower().startswith(package.lower()) for d in extras[extra]), (module, extra)
        assert extra in extras["all"][0], extra


def test_assign_needs_no_scipy(monkeypatch):
    # scipy is an extra: dense suitability never imports it.
    for m in [m for m in sys.modules if m == "scipy" or m.startswith("scipy.")]:
        monkeypatch.delitem(sys.modules, m)
    monkeypatch.setitem(sys.modules, "scipy", None)
    a = tg.match.assign(np.array([[1.0, 0.5], [0.2, 0.9]]), overlap=1, capacity=1)
    assert np.asarray(a).ravel().tolist() == [0, 1]


def _missing(monkeypatch, module: str) -> None:
    for m in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, m)
    monkeypatch.setitem(sys.modules, module, None)


def _dataset() -> tg.dataset.Dataset:
    return tg.dataset.Dataset(pd.DataFrame({"item_id": [0], "label": ["pos"]}))


@pytest.mark.parametrize("module, extra, call", [
    ("matplotlib", "plot", lambda tmp: tg.plot.plot_flows(None)),
    ("matplotlib", "plot", lambda tmp: tg.sim.Simulation(
        tg.sim.Population([(tg.sim.Honest(), 1.0)], n_workers=6, n_labels=2, seed=0),
        tg.sim.Tasks(n_labels=2), n_tasks=10, overlap=2, seed=0).run(rounds=1).plot()),
    ("pyarrow", "io", lambda tmp: _dataset().to_parquet(tmp / "x.parquet")),
    ("datasets", "hf", lambda tmp: _dataset().to_hf_dataset()),
    ("torch", "torch", lambda tmp: _dataset().to_torch()),
    ("PIL", "image", lambda tmp: tg.verify.check(_PNG, "image")),
    ("scipy", "sparse", lambda tmp: tg.match.Embedder().transform(["a text"])),
])
def test_a_missing_extra_names_the_pip_install(monkeypatch, tmp_path, module, extra, call):
    _missing(monkeypatch, module)
    with pytest.raises(ImportError, match=re.escape(f"pip install 'tagger[{extra}]'")) as e:
        call(tmp_path)
    assert isinstance(e.value, _optional.MissingExtra)


def test_a_broken_optional_package_shows_its_own_error():
    # Only a missing package is reported as a missing extra.
    with pytest.raises(ImportError) as e:
        _optional.require("PIL.NoSuchModule", "x")
    assert not isinstance(e.value, _optional.MissingExtra)


# A 1x1 PNG.
_PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                     "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")


# ------------------------------------------------------------------ command line

@pytest.mark.parametrize("command", ["info", "verify"])
def test_cli_on_a_missing_path_fails_in_one_line(tmp_path, command):
    out = run_cli(command, str(tmp_path / "nowhere"))
    assert out.returncode == 1
    lines = (out.stdout + out.stderr).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("FAILED: ") and "nowhere" in lines[0], lines


def test_every_cli_argument_has_help():
    import argparse

    from tagger.__main__ import main
    parsers = []
    real = argparse.ArgumentParser.parse_args

    def capture(self, *a, **k):
        parsers.append(self)
        raise SystemExit(0)

    argparse.ArgumentParser.parse_args = capture
    try:
        with pytest.raises(SystemExit):
            main(["demo"])
    finally:
        argparse.ArgumentParser.parse_args = real
    todo, seen = list(parsers), 0
    while todo:
        p = todo.pop()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    assert choice.help, f"subcommand {choice.dest} has no help"
                todo.extend(action.choices.values())
                continue
            assert action.help, f"{p.prog}: argument {action.option_strings or action.dest} has no help"
            seen += 1
    assert seen >= 6


# ------------------------------------------------------------------ typing

def test_package_is_typed_and_core_stubs_match_the_module(tmp_path):
    pkg = REPO / "python" / "tagger"
    assert (pkg / "py.typed").exists()
    pytest.importorskip("pybind11_stubgen", reason="pybind11-stubgen is in the test extra")
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from gen_stubs import generate
    finally:
        sys.path.remove(str(REPO / "scripts"))
    fresh = generate(tmp_path)
    have = {p.relative_to(pkg / "_core"): p.read_text() for p in (pkg / "_core").rglob("*.pyi")}
    want = {p.relative_to(fresh): p.read_text() for p in fresh.rglob("*.pyi")}
    assert sorted(have) == sorted(want), "run `make stubs`"
    stale = [str(k) for k in want if have[k] != want[k]]
    assert not stale, f"stubs of tagger._core differ from the module in {stale}: run `make stubs`"


def test_the_core_stubs_ship_and_do_not_shadow_the_extension():
    # tagger/_core/ holds only .pyi files beside _core*.so; the import system must
    # still load the extension.
    installed = Path(tg.__file__).parent
    assert (installed / "py.typed").exists() and (installed / "_core" / "__init__.pyi").exists()
    assert Path(tg._core.__file__).name.startswith("_core.") and tg._core.__file__.endswith(".so")
