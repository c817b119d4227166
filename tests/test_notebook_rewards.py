"""Executes notebooks/03_reward_schemes.ipynb (the reward-scheme guide)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is needed to run the notebooks (pip install tagger[test])")
nbclient = pytest.importorskip("nbclient", reason="nbclient is needed to run the notebooks (pip install tagger[test])")

NB = Path(__file__).resolve().parents[1] / "notebooks" / "03_reward_schemes.ipynb"


def test_reward_schemes_notebook_runs(monkeypatch):
    nb = nbformat.read(NB, as_version=4)
    # The kernel runs in notebooks/: a relative PYTHONPATH (a developer build) must be made absolute.
    env_path = os.environ.get("PYTHONPATH", "")
    if env_path:
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(os.path.abspath(p) for p in env_path.split(os.pathsep) if p))
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NB.parent)}})
    t = time.perf_counter()
    client.execute()
    assert time.perf_counter() - t < 60
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("whole comparison" in o.get("text", "") for o in outputs)
    # The figures render inline (the notebook does not force a non-interactive backend).
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2
