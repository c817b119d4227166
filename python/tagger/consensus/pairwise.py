"""Pairwise comparisons: :class:`BradleyTerry` and :class:`NoisyBradleyTerry`
(alias ``NoisyBT``), crowd-kit 1.4.2's classes with a C++ core.

Input (crowd-kit's): a DataFrame with columns ``worker, left, right, label``
where ``label`` is the winner, equal to ``left`` or ``right``. Output:
``scores_``, a Series named ``agg_score`` indexed by item (items in sorted
order, as ``np.unique``).

Where the numbers differ from crowd-kit (docs/consensus.md, "Pairwise"):

* ``BradleyTerry`` iterates until ``sum |p_new - p_old| < tol``; crowd-kit's
  loop compares an array with itself and always stops after two MM steps
  (``BradleyTerry(n_iter=2)`` here gives crowd-kit's scores).
* ``NoisyBradleyTerry`` minimises the same likelihood with a correct gradient
  (crowd-kit's writes the worker terms one slot off) and the regulariser as a
  penalty; from the same seeded start it reaches a lower objective.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from ..errors import InvalidArgument
from ._checks import check_n_iter, codes, frame, no_missing, one_row_each
from ._serial import Serialized

__all__ = ["BradleyTerry", "NoisyBradleyTerry", "NoisyBT"]

_COLUMNS = ("left", "right", "label")


def _pairs(data: pd.DataFrame, owner: str, need_worker: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Index, pd.DataFrame]:
    cols = (("worker",) if need_worker else ()) + _COLUMNS
    df = frame(data, cols, owner)
    no_missing(df, cols, owner)
    values = np.concatenate([df["left"].to_numpy(), df["right"].to_numpy()])
    code, items = codes(values, sort=True)
    n = len(df)
    left, right = code[:n], code[n:]
    lab = df["label"].to_numpy()
    is_left = lab == df["left"].to_numpy()
    is_right = lab == df["right"].to_numpy()
    bad = ~(is_left | is_right)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidArgument(f"{owner}: label must equal left or right; row {row} has label {lab[row]!r} "
                              f"(left={df['left'].iloc[row]!r}, right={df['right'].iloc[row]!r})")
    same = left == right
    if same.any():
        row = int(np.flatnonzero(same)[0])
        raise InvalidArgument(f"{owner}: row {row} compares item {df['left'].iloc[row]!r} with itself")
    return left, right, is_left.astype(np.uint8), items, df


class BradleyTerry(Serialized):
    r"""Bradley-Terry scores by Hunter's MM algorithm:
    :math:`P(i \succ j) = p_i / (p_i + p_j)`, :math:`p_i \leftarrow w_i / \sum_j T_{ij} / (p_i + p_j)`
    normalised to sum 1 (Bradley & Terry 1952; Hunter, Ann. Statist. 2004).

    ``n_iter`` is required, as in crowd-kit. Fitted: ``scores_`` (Series
    ``agg_score`` by item), ``loss_history_``, ``n_iter_``, ``converged_``.
    An item that never wins scores 0; the comparison graph should be
    strongly connected for the scores to mean anything.
    """

    def __init__(self, n_iter: int, tol: float = 1e-5) -> None:
        self.n_iter, self.tol = n_iter, tol

    scores_: pd.Series[Any]

    def fit(self, data: pd.DataFrame) -> BradleyTerry:
        """Fits the item scores to the comparisons in ``data``; returns the estimator itself.

        ``data``: columns ``left, right, label`` (``worker`` is not used), one
        row per comparison, ``label`` the winner (equal to ``left`` or
        ``right``). Sets ``scores_`` (Series item -> score, ``agg_score``,
        items sorted), ``loss_history_``, ``n_iter_`` and ``converged_``.
        """
        check_n_iter("BradleyTerry", n_iter=self.n_iter, tol=self.tol)
        left, right, won, items, _ = _pairs(data, "BradleyTerry", need_worker=False)
        out = _core.consensus_families.bradley_terry(left, right, won, len(items), int(self.n_iter), float(self.tol))
        self.scores_ = pd.Series(out["scores"], index=items, name="agg_score", dtype=np.float64)
        self.loss_history_: list[float] = [float(v) for v in out["loss_history"]]
        self.n_iter_, self.converged_ = int(out["n_iter"]), bool(out["converged"])
        return self

    def fit_predict(self, data: pd.DataFrame) -> pd.Series[Any]:
        """``fit(data)``, then ``scores_``: a Series item -> score, named ``agg_score``."""
        return self.fit(data).scores_

    def __repr__(self) -> str:
        return f"BradleyTerry(n_iter={self.n_iter!r}, tol={self.tol!r})"


class NoisyBradleyTerry(Serialized):
    r"""Bradley-Terry with worker skill :math:`\gamma_w` and bias :math:`q_w`:

    .. math:: P(y) = \sigma(\gamma_w)\,\sigma(y(s_l - s_r)) + (1 - \sigma(\gamma_w))\,\sigma(y\,q_w),

    :math:`y = +1` when the left item won, fitted by L-BFGS from
    crowd-kit's seeded start (``np.random.seed(random_state); np.random.rand``)
    with the penalty :math:`-r \sum_i [\log\sigma(x_0 - s_i) + \log\sigma(s_i - x_0)]`.
    Fitted: ``scores_`` (``agg_score``, index ``label``), ``skills_``
    (``skill``), ``biases_`` (``bias``), ``loss_history_``, ``n_iter_``.
    """

    def __init__(self, n_iter: int = 100, tol: float = 1e-5, regularization_ratio: float = 1e-5,
                 random_state: int = 0) -> None:
        self.n_iter, self.tol = n_iter, tol
        self.regularization_ratio, self.random_state = regularization_ratio, random_state

    def _prepare(self, data: pd.DataFrame) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int],
                                                    pd.Index, pd.Index]:
        check_n_iter("NoisyBradleyTerry", n_iter=self.n_iter, tol=self.tol, regularization_ratio=self.regularization_ratio)
        left, right, won, items, df = _pairs(data, "NoisyBradleyTerry", need_worker=True)
        worker, workers = codes(df["worker"], sort=True)
        return (left, right, won, worker, len(items), len(workers)), items, workers

    scores_: pd.Series[Any]
    skills_: pd.Series[Any]
    biases_: pd.Series[Any]

    def fit(self, data: pd.DataFrame) -> NoisyBradleyTerry:
        """Fits item scores and worker skills and biases to ``data``; returns the estimator itself.

        ``data``: columns ``worker, left, right, label``, one row per
        comparison, ``label`` the winner (equal to ``left`` or ``right``).
        Sets ``scores_`` (Series item -> score, ``agg_score``, index named
        ``label``), ``skills_`` and ``biases_`` (Series by worker),
        ``loss_history_``, ``n_iter_`` and ``converged_``.
        """
        import numbers
        if isinstance(self.random_state, bool) or not isinstance(self.random_state, numbers.Integral) \
                or not 0 <= self.random_state < 2**32:
            raise InvalidArgument(f"NoisyBradleyTerry: random_state must be an int in [0, 2**32), got {self.random_state!r}")
        (left, right, won, worker, n_items, n_workers), items, workers = self._prepare(data)
        x0 = np.random.RandomState(self.random_state).rand(1 + len(items) + 2 * len(workers))
        out = _core.consensus_families.noisy_bradley_terry(left, right, won, worker, n_items, n_workers, x0,
                                                           int(self.n_iter), float(self.tol), float(self.regularization_ratio))
        self.scores_ = pd.Series(out["scores"], index=pd.Index(items, name="label"), name="agg_score", dtype=np.float64)
        self.biases_ = pd.Series(out["biases"], index=workers, name="bias", dtype=np.float64)
        self.skills_ = pd.Series(out["skills"], index=workers, name="skill", dtype=np.float64)
        self.loss_history_: list[float] = [float(v) for v in out["loss_history"]]
        self.n_iter_, self.converged_ = int(out["n_iter"]), bool(out["converged"])
        return self

    def fit_predict(self, data: pd.DataFrame) -> pd.Series[Any]:
        """``fit(data)``, then ``scores_``: a Series item -> score, named ``agg_score``."""
        return self.fit(data).scores_

    def objective(self, data: pd.DataFrame, scores: pd.Series, biases: pd.Series, skills: pd.Series, x0: float = 0.0) -> float:
        """The minimised objective at given ``scores_``/``biases_``/``skills_``
        (probabilities, as fitted), e.g. to compare with crowd-kit's optimum."""
        (left, right, won, worker, n_items, n_workers), items, workers = self._prepare(data)

        def logit(s: pd.Series, idx: pd.Index, what: str) -> np.ndarray:
            if not isinstance(s, pd.Series):
                raise InvalidArgument(f"NoisyBradleyTerry.objective: {what} must be a pandas Series, not {type(s).__name__}")
            one_row_each(s.index, f"NoisyBradleyTerry.objective: {what} has more than one value for")
            v = s.reindex(idx).to_numpy(dtype=float)
            if np.isnan(v).any():  # reindex's NaN for a missing id would make the objective NaN
                raise InvalidArgument(f"NoisyBradleyTerry.objective: {what} has no value for "
                                      f"{idx[np.isnan(v)].tolist()[0]!r}")
            p = np.clip(v, 1e-300, 1 - 1e-16)
            return np.log(p) - np.log1p(-p)

        x = np.concatenate([[x0], logit(scores, items, "scores"), logit(biases, workers, "biases"),
                            logit(skills, workers, "skills")])
        return float(_core.consensus_families.noisy_bradley_terry_objective(left, right, won, worker, n_items, n_workers, x,
                                                                                float(self.regularization_ratio)))

    def __repr__(self) -> str:
        return (f"NoisyBradleyTerry(n_iter={self.n_iter!r}, tol={self.tol!r}, "
                f"regularization_ratio={self.regularization_ratio!r}, random_state={self.random_state!r})")


NoisyBT = NoisyBradleyTerry
