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
            if not 0 <= int(n) < 2**31:  # (2**31 was "an option of the wrong type among []")
                raise InvalidArgument(f"n_{what} must be in [0, 2^31), got {int(n)}")
            return int(n)
        top = int(v.max()) + 1 if len(v) else 0
        # Raw ids (2e9, a user id) read as indices would allocate per id: std::bad_alloc.
        if top > 4 * len(v) + (1 << 20):
            raise InvalidArgument(f"{what}: the largest index is {top - 1:,} for {len(v):,} answers; these look like raw "
                                  "ids, not 0-based indices: code them first (pd.factorize), use the estimator "
                                  f"classes on a DataFrame, or pass n_{what}= to mean it")
        return top
    return t, w, l, size(t, n_tasks, "tasks"), size(w, n_workers, "workers"), size(l, n_labels, "labels")


# The methods whose model has no class prior to fix: refused, as their estimator classes refuse it
# (the arrays took it and changed nothing).
_NO_CLASS_PRIORS = {"majority_vote", "weighted_majority_vote", "wawa", "zero_based_skill", "mace", "crowdlab"}
# Per-method arrays, with the shape each must have (t: n_tasks, w: n_workers, k: n_labels).
_ARRAYS = {"weighted_majority_vote": {"skills": "w"}, "crowdlab": {"model_probas": "tk"}}
# The methods whose estimator has a memory check (workers x labels^2 tables) to run first.
_ESTIMATOR = {"dawid_skene", "one_coin_dawid_skene"}


def _core_options(core: Any) -> tuple[list[str], list[str]]:
    """(required, optional) keyword names of a core function after its six answer arguments,
    read from its pybind11 signature line."""
    sig = (core.__doc__ or "").splitlines()[0]
    inner = sig[sig.index("(") + 1:sig.rindex(")")]
    names: list[tuple[str, bool]] = []
    depth, start = 0, 0
    for i, ch in enumerate(inner + ","):
        depth += ch in "[(" and 1 or (-1 if ch in "])" else 0)
        if ch == "," and depth == 0:
            part = inner[start:i].strip()
            start = i + 1
            if part and part != "*":
                names.append((part.split(":")[0].strip(), "=" in part))
    rest = names[6:]
    return [n for n, d in rest if not d], [n for n, d in rest if d]


def _float_array(v: Any, what: str, method: str) -> np.ndarray:
    try:
        arr = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{method}: {what} must be an array of numbers, got {type(v).__name__}") from None
    return arr


def _checked_arrays(method: str, kw: dict[str, Any], t: int, w: int, k: int) -> None:
    """gold, class_priors, callback and the method's arrays, checked (and converted) in place."""
    if kw.get("gold") is not None:
        g = np.asarray(kw["gold"])
        if g.size == 0 and g.ndim == 1:  # ([] is a float array: no gold of no task)
            g = g.astype(np.int64)
        # (bools, floats and wide ints were cast: False became gold 0 on every task, 1.9 gold 1, 2**32+1 gold 1)
        if g.dtype == np.bool_ or not np.issubdtype(g.dtype, np.integer) or g.ndim != 1:
            raise InvalidArgument(f"{method}: gold must be a 1-d integer array (-1 = no gold), got "
                                  f"{'a bool' if g.dtype == np.bool_ else str(g.ndim) + '-d ' + str(g.dtype)} array")
        if len(g) != t:
            raise InvalidArgument(f"{method}: gold has {len(g)} entries for {t} tasks")
        bad = (g < -1) | (g >= k)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidArgument(f"{method}: gold[{i}] = {int(g[i])} is not a label index in [0, {k}) or -1")
        kw["gold"] = np.ascontiguousarray(g, dtype=np.int32)
    if kw.get("class_priors") is not None:
        if method in _NO_CLASS_PRIORS:
            raise InvalidArgument(f"{method} takes no class_priors: its model has no class prior to fix")
        kw["class_priors"] = _float_array(kw["class_priors"], "class_priors", method)
    cb = kw.get("callback")
    if cb is not None and not callable(cb):
        raise InvalidArgument(f"{method}: callback must be callable (iteration, n_iter, objective, change) -> bool, "
                              f"not {type(cb).__name__}")
    for name, dims in _ARRAYS.get(method, {}).items():
        if kw.get(name) is None:
            shape = ", ".join({"t": "n_tasks", "w": "n_workers", "k": "n_labels"}[d] for d in dims)
            raise InvalidArgument(f"{method} needs {name}= (an array of shape [{shape}])")
        arr = _float_array(kw[name], name, method)
        want = tuple({"t": t, "w": w, "k": k}[d] for d in dims)
        if arr.shape != want:  # (a transposed model_probas was read as if it were [tasks, labels])
            raise InvalidArgument(f"{method}: {name} has shape {arr.shape}, expected {want}")
        kw[name] = np.ascontiguousarray(arr)


def _make(method: str, doc: str) -> Callable[..., ConsensusResult]:
    core = getattr(_core.consensus, method)
    required, optional = _core_options(core)  # read once, from the binding's signature
    known = required + optional

    def fn(tasks: Any, workers: Any, labels: Any, n_labels: int | None = None, *, n_tasks: int | None = None,
           n_workers: int | None = None, **kw: Any) -> ConsensusResult:
        from . import registry
        from ._checks import renamed
        from .base import _fits_in_memory, check_params
        check_params(kw, method)
        unknown = sorted(set(kw) - set(known))
        if unknown:
            raise InvalidArgument(f"{method}: unknown option(s) {unknown}; its options are {known}")
        args = _args(tasks, workers, labels, n_labels, n_tasks, n_workers)
        nt, nw, nk = args[3:]
        _checked_arrays(method, kw, nt, nw, nk)
        if method in _ESTIMATOR:  # the estimator's check: workers x labels^2 tables beyond this machine's RAM
            _fits_in_memory(registry.get_method(method), nw, nk)
        try:
            out = core(*args, **kw)
        except TypeError as e:
            if "incompatible function arguments" not in str(e):
                raise
            raise InvalidArgument(f"{method}: an option of the wrong type among {sorted(kw)}; its options are "
                                  f"{known}") from None
        except InvalidArgument as e:  # the core says "consensus: tol must be >= 0"
            named = renamed(e, "consensus: ", method)
            if named is None:
                raise
            raise named from None
        return ConsensusResult.from_core(out)
    fn.__name__ = fn.__qualname__ = method
    fn.__doc__ = (f"{doc}\n\nKeywords: n_iter, tol, smoothing, gold (int [n_tasks], -1 = none), class_priors, "
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
