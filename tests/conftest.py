"""Shared fixtures. Data for tests lives in ../shared beside the repository;
tests that need it skip with a clear message when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def pytest_configure(config: pytest.Config) -> None:
    # `make wheel-test` runs these tests against an installed wheel: make sure it
    # is that package under test, not the source tree or a build directory.
    want = os.environ.get("TAGGER_EXPECT_INSTALLED")
    if want:
        import tagger
        got = Path(tagger.__file__).resolve()
        if Path(want).resolve() not in got.parents:
            raise pytest.UsageError(f"tagger imported from {got}, expected under {want}")


def shared_path(*parts: str) -> Path:
    """Path under ../shared, or skip the calling test if it is missing."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data not found at {p} (clone the repository with ../shared beside it)")
    return p


@pytest.fixture
def shared() -> type:
    """``shared("data", "crowd", "dog")`` -> Path, skipping when ../shared is missing."""
    return shared_path


@pytest.fixture
def ck_hrrasa(monkeypatch):
    """crowd-kit's aggregation module with its HRRASA's one pandas-3 failure patched: its
    _aggregate_embeddings casts a Series of arrays to float64, which pandas >= 3 rejects, so
    every crowd-kit HRRASA fit raises there. The patch is that function without the cast.
    Skips when crowd-kit is absent."""
    import numpy as np

    ck = pytest.importorskip("crowdkit.aggregation", reason="crowd-kit not installed (pip install 'tagger[test]')")
    from crowdkit.aggregation.embeddings import hrrasa

    def aggregate(data, weights, true_embeddings=None):
        data = data.join(weights, on=["task", "worker"])
        data["weighted_embedding"] = data.weight * data.embedding
        group = data.groupby("task", group_keys=False)
        agg = group.weighted_embedding.apply(np.sum) / group.weight.sum()
        if true_embeddings is not None:
            agg.update(true_embeddings)
        return agg

    monkeypatch.setattr(hrrasa.HRRASA, "_aggregate_embeddings", staticmethod(aggregate))
    return ck
