"""Dawid-Skene family: full confusion matrices and the one-coin model."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .. import _core
from .base import Answers, BaseClassifier, errors_frame

__all__ = ["DawidSkene", "OneCoinDawidSkene"]


class DawidSkene(BaseClassifier):
    r"""Dawid-Skene: each worker :math:`w` has a confusion matrix
    :math:`e^w_{k,l} = P(y = l \mid z = k)`; classes have priors :math:`\pi`.

    EM, started from the majority-vote shares:

    * E-step: :math:`P(z_t = k) \propto \pi_k \prod_{j \in t} e^{w_j}_{k, y_j}` (log space);
    * M-step: :math:`e^w_{k,l} \propto \max(\sum_{j: w_j = w, y_j = l} P(z_{t_j} = k) + \lambda, 10^{-10})`,
      :math:`\pi_k \propto \sum_t P(z_t = k) + \lambda` (``smoothing`` = :math:`\lambda`, Laplace).

    Stops after ``n_iter`` iterations or when the log-likelihood per answer
    rises by less than ``tol``. ``backend="ray"`` (or ``"inprocess"``) fits
    over ``n_shards`` task shards with identical results (docs/scale.md). Gold labels (``fit(data, true_labels)``) are
    clamped to one-hot posteriors. ``errors_`` is crowd-kit's frame:
    ``errors_.loc[(worker, observed), true]``; ``skills_`` is
    :math:`\sum_k \pi_k e^w_{k,k}`.

    A. P. Dawid and A. M. Skene, "Maximum Likelihood Estimation of Observer
    Error-Rates Using the EM Algorithm", J. R. Stat. Soc. C 28(1):20-28, 1979.

    >>> import pandas as pd, tagger as tg
    >>> df = pd.DataFrame({"task": [1, 1, 1, 2, 2, 2], "worker": list("abcabc"), "label": [0, 0, 1, 1, 1, 1]})
    >>> tg.consensus.DawidSkene(n_iter=10).fit_predict(df).tolist()
    [0, 1]
    """

    _method = "dawid_skene"
    _iterative = True
    _errors: pd.DataFrame | None  # built on first use of errors_

    def __init__(self, n_iter: int = 100, tol: float = 1e-5, smoothing: float = 0.0, *, backend: str = "local",
                 n_shards: int | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.n_iter, self.tol, self.smoothing = n_iter, tol, smoothing
        self.backend, self.n_shards = backend, n_shards

    def _init_args(self) -> dict[str, Any]:
        return {"n_iter": self.n_iter, "tol": self.tol, "smoothing": self.smoothing}

    def _params(self) -> dict[str, Any]:
        return {"n_iter": self.n_iter, "tol": self.tol, "smoothing": self.smoothing}

    def _core_call(self, answers: Answers, **common: Any) -> dict[str, Any]:
        if self.backend != "local":  # sharded: same results (tagger.consensus.distributed)
            from .distributed import fit_answers
            return fit_answers(self._method, answers, backend=self.backend, n_shards=self.n_shards, **common)
        fn = getattr(_core.consensus, self._method)
        return fn(*answers.core_args(), **common)

    def _extra(self, answers: Answers, out: dict[str, Any]) -> None:
        self._errors = None

    # Built on first use (a (workers x labels) x labels frame).
    @property
    def errors_(self) -> pd.DataFrame | None:
        """Confusion matrices as crowd-kit's frame: ``errors_.loc[(worker, observed), true]``."""
        errors: pd.DataFrame | None = self.__dict__.get("_errors")
        if errors is None:
            if "_out" not in self.__dict__:
                raise AttributeError(f"{type(self).__name__} is not fitted: errors_ is set by fit")
            err = self._out["errors"]
            errors = self._errors = errors_frame(self.answers_, err) if err is not None else None
        return errors

    @errors_.setter
    def errors_(self, value: pd.DataFrame | None) -> None:
        self._errors = value


class OneCoinDawidSkene(DawidSkene):
    r"""One-coin Dawid-Skene: worker :math:`w` is right with probability
    :math:`s_w` and otherwise answers uniformly among the other :math:`K-1`
    labels, i.e. :math:`e^w_{k,k} = s_w`, :math:`e^w_{k,l} = (1-s_w)/(K-1)`.
    M-step: :math:`s_w = \text{mean}_{j: w_j = w} P(z_{t_j} = y_j)`.

    Y. Zheng, G. Li, Y. Li, C. Shan, R. Cheng, "Truth Inference in
    Crowdsourcing: Is the Problem Solved?", PVLDB 10(5), 2017 (the "ZC" model).
    """

    _method = "one_coin_dawid_skene"
