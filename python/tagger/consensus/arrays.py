"""Numpy fast path: the methods on int32 index arrays, no pandas.

``tasks``, ``workers``, ``labels`` are integer arrays of equal length holding
indices (0..n-1). int32 C-contiguous arrays are passed to C++ without a copy;
other integer arrays are converted once. Each function returns a
:class:`ConsensusResult`.
"""

from __future__ import annotations

import numbers

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .. import _core
from ..errors import InvalidArgument

__all__ = ["ConsensusResult", "majority_vote", "weighted_majority_vote", "dawid_skene", "one_coin_dawid_skene",
           "glad", "mace", "wawa", "zero_based_skill", "crowdlab"]


@dataclass
class ConsensusResult:
    """Fitted arrays: ``labels`` [n_tasks] (-1: no answers), ``probas``
    [n_tasks, n_labels], ``skills`` [n_workers], ``errors`` [n_workers, true,
    observed] (DS family) and the rest of the core's output in ``extra``."""

    labels: np.ndarray
    probas: np.ndarray
    skills: np.ndarray
    priors: np.ndarray
    errors: np.ndarray | None
    n_iter: int
    converged: bool
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_core(cls, out: dict[str, Any]) -> ConsensusResult:
        """A result from the core's output dict: its ``labels``, ``probas``,
        ``skills``, ``priors``, ``errors``, ``n_iter`` and ``converged``, and
        every other key in ``extra``."""
        keys = ("labels", "probas", "skills", "priors", "errors", "n_iter", "converged")
        return cls(labels=out["labels"], probas=out["probas"], skills=out["skills"], priors=out["priors"],
                   errors=out["errors"], n_iter=out["n_iter"], converged=out["converged"],
                   extra={k: v for k, v in out.items() if k not in keys})

    def __repr__(self) -> str:
        t, k = self.probas.shape
        return f"ConsensusResult(tasks={t}, labels={k}, workers={len(self.skills)}, n_iter={self.n_iter}, converged={self.converged})"


def _index(a: Any, what: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise InvalidArgument(f"{what} must be a 1-d integer array")
    if arr.dtype != np.int32:
        if len(arr) and (arr.max() > np.iinfo(np.int32).max or arr.min() < 0):
            raise InvalidArgument(f"{what} indices must be in [0, 2^31)")
        arr = arr.astype(np.int32)
    return np.ascontiguousarray(arr)


def _args(tasks: Any, workers: Any, labels: Any, n_labels: int | None, n_tasks: int | None,
          n_workers: int | None) -> tuple[Any, ...]:
    t, w, l = _index(tasks, "tasks"), _index(workers, "workers"), _index(labels, "labels")

    def size(v: np.ndarray, n: int | None, what: str) -> int:
        if n is not None:
            # (3.9 labels ran as 3, True as 1: a size is a whole count; the core names an index beyond it)
            if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
                raise InvalidArgument(f"n_{what} must be an int, got {n!r}")
            return int(n)
        top = int(v.max()) + 1 if len(v) else 0
        # Raw ids (2e9, a user id) read as indices would allocate per id: std::bad_alloc.
        if top > 4 * len(v) + (1 << 20):
            raise InvalidArgument(f"{what}: the largest index is {top - 1:,} for {len(v):,} answers; these look like raw "
                                  "ids, not 0-based indices: code them first (pd.factorize), use the estimator "
                                  f"classes on a DataFrame, or pass n_{what}= to mean it")
        return top
    return t, w, l, size(t, n_tasks, "tasks"), size(w, n_workers, "workers"), size(l, n_labels, "labels")


def _make(method: str, doc: str) -> Callable[..., ConsensusResult]:
    def fn(tasks: Any, workers: Any, labels: Any, n_labels: int | None = None, *, n_tasks: int | None = None,
           n_workers: int | None = None, **kw: Any) -> ConsensusResult:
        from .base import check_params
        check_params(kw, method)
        args = _args(tasks, workers, labels, n_labels, n_tasks, n_workers)
        core = getattr(_core.consensus, method)
        try:
            out = core(*args, **kw)
        except TypeError as e:
            if "incompatible function arguments" not in str(e):
                raise
            known = [p.split(":")[0].strip() for p in str(e).split("*,", 1)[-1].split(")")[0].split(",")]
            unknown = sorted(set(kw) - set(known))
            raise InvalidArgument(f"{method}: " + (f"unknown option(s) {unknown}" if unknown else
                                                   f"an option of the wrong type among {sorted(kw)}")
                                  + f"; its options are {known}") from None
        return ConsensusResult.from_core(out)
    fn.__name__ = fn.__qualname__ = method
    fn.__doc__ = (f"{doc}\n\nKeywords: n_iter, tol, smoothing, gold (int32 [n_tasks], -1 = none), class_priors, "
                  "threads, seed, callback(iteration, n_iter, objective, change) -> bool, and the method's own options "
                  f"(see the estimator class). Sizes default to max index + 1.")
    return fn


majority_vote = _make("majority_vote", "Majority vote (ties to the smallest label index).")
weighted_majority_vote = _make("weighted_majority_vote", "Weighted majority vote; pass skills=[n_workers].")
dawid_skene = _make("dawid_skene", "Dawid-Skene EM (see DawidSkene).")
one_coin_dawid_skene = _make("one_coin_dawid_skene", "One-coin Dawid-Skene EM (see OneCoinDawidSkene).")
glad = _make("glad", "GLAD EM, tagger's engine (GLAD(variant=\"tagger\"), the ledger's: block Fisher scoring; see GLAD).")
mace = _make("mace", "MACE (see MACE).")
wawa = _make("wawa", "Wawa (see Wawa).")
zero_based_skill = _make("zero_based_skill", "Zero-based skill (see ZeroBasedSkill).")
crowdlab = _make("crowdlab", "CROWDLAB; pass model_probas=[n_tasks, n_labels] (see CROWDLAB).")
