"""Bayesian truth inference: BWA (Bayesian weighted average)."""

from __future__ import annotations

from typing import Any

from .. import _core
from ..errors import InvalidArgument
from .base import Answers, BaseClassifier

__all__ = ["BWA"]


class BWA(BaseClassifier):
    r"""Bayesian weighted average: one-hot answers
    :math:`y_j \sim \mathcal N(z_t, I/v_w)`, task means
    :math:`z_t \sim \mathcal N(\mu_0, I/\lambda_0)` around the label shares
    :math:`\mu_0`, worker precisions :math:`v_w \sim \mathrm{Gamma}(a, b)`;
    mean-field updates from the vote shares,
    :math:`E[v_w] = (a + n_w K/2) / (b + \tfrac12\sum_{j \in w} \lVert y_j - m_t\rVert^2 + K s_t)`,
    :math:`m_t = (\lambda_0\mu_0 + \sum_{j\in t} E[v_w] y_j) / (\lambda_0 + \sum_{j\in t} E[v_w])`,
    :math:`s_t = 1/(\lambda_0 + \sum_{j\in t} E[v_w])`, until no posterior moves
    by ``tol``. ``probas_`` = :math:`m_t`; ``skills_`` = the mean posterior of
    the worker's labels; ``precisions_`` is not kept (the skills rank workers
    the same way on each task). Deterministic (single-threaded, task order).

    Y. Li, B. I. P. Rubinstein, T. Cohn, "Truth Inference at Scale: A Bayesian
    Model for Adjudicating Highly Redundant Crowd Annotations", WWW 2019. The
    priors here (a = b = 1, :math:`\lambda_0` = 1) are our defaults, not tuned
    per data set.
    """

    _method = "bwa"
    _iterative = True

    def __init__(self, n_iter: int = 100, tol: float = 1e-8, a: float = 1.0, b: float = 1.0, lambda0: float = 1.0,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.n_iter, self.tol, self.a, self.b, self.lambda0 = n_iter, tol, a, b, lambda0

    def _init_args(self) -> dict[str, Any]:
        return {"n_iter": self.n_iter, "a": self.a, "b": self.b, "lambda0": self.lambda0}

    def _core_call(self, answers: Answers, **common: Any) -> dict[str, Any]:
        for name in ("a", "b", "lambda0"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise InvalidArgument(f"BWA: {name} must be a number > 0, got {v!r}")
        return _core.consensus.bwa(*answers.core_args(), a=float(self.a), b=float(self.b),
                                   lambda0=float(self.lambda0), n_iter=self.n_iter, tol=self.tol, **common)
