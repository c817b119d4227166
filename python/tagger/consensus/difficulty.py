"""GLAD: worker ability and task difficulty."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from ..errors import InvalidArgument
from .base import Answers, BaseClassifier

__all__ = ["GLAD"]


class GLAD(BaseClassifier):
    r"""GLAD: :math:`P(y_j = z_t) = \sigma(\alpha_w \beta_t)`, :math:`\beta_t = e^{b_t}`;
    a wrong answer is uniform over the other :math:`K-1` labels.

    EM: the E-step computes :math:`P(z_t = k)`; the M-step maximizes
    :math:`Q = \sum_j [p_j \log\sigma(\alpha\beta) + (1-p_j)(\log(1-\sigma(\alpha\beta)) - \log(K-1))]
    - \tfrac12\sum_w(\alpha_w - \mu_\alpha)^2 - \tfrac12\sum_t(b_t - \mu_b)^2`
    (:math:`p_j` = posterior that answer j is right) by block Fisher scoring.
    Class priors are uniform unless ``labels_priors`` (alias ``class_priors``)
    is given. Parameters as crowd-kit's (``m_step_max_iter``, ``m_step_tol``,
    ``alphas_priors_mean``, ``betas_priors_mean``, ``silent``); tagger's
    ``m_steps``/``m_tol``/``alpha_prior``/``beta_prior`` are keyword aliases.
    The M-step is block Fisher scoring, not crowd-kit's scipy conjugate
    gradient: labels agree with crowd-kit's on the shared sets
    (docs/consensus.md), the parameters are close, not equal.
    ``backend="inprocess"`` or ``"ray"`` (with ``n_shards``) fits over task
    shards with the same results (``tagger.consensus.distributed``).
    Fitted: ``alphas_`` (worker ability), ``betas_`` (log of :math:`\beta_t`,
    as crowd-kit), ``skills_`` (mean :math:`\sigma(\alpha_w\beta_t)` over the
    worker's tasks).

    J. Whitehill, P. Ruvolo, T. Wu, J. Bergsma, J. Movellan, "Whose Vote Should
    Count More: Optimal Integration of Labels from Labelers of Unknown
    Expertise", NIPS 2009.
    """

    _method = "glad"
    _iterative = True

    def __init__(self, n_iter: int = 100, tol: float = 1e-5, silent: bool = True, labels_priors: pd.Series | None = None,
                 alphas_priors_mean: Any = None, betas_priors_mean: Any = None, m_step_max_iter: int | None = None,
                 m_step_tol: float | None = None, *, m_steps: int = 25, m_tol: float = 1e-2, alpha_prior: float = 1.0,
                 beta_prior: float = 1.0, backend: str = "local",
                 n_shards: int | None = None, **kw: Any) -> None:
        if labels_priors is not None:
            if kw.get("class_priors") is not None and kw["class_priors"] is not labels_priors:
                raise InvalidArgument("GLAD: give labels_priors or class_priors (its alias), not both")
            kw["class_priors"] = labels_priors
        kw.setdefault("verbose", not silent)
        super().__init__(**kw)
        self.n_iter, self.tol, self.silent, self.labels_priors = n_iter, tol, silent, labels_priors
        # crowd-kit's names; tagger's (m_steps, m_tol, alpha_prior, beta_prior) stay as aliases.
        self.m_step_max_iter = m_steps if m_step_max_iter is None else m_step_max_iter
        self.m_step_tol = m_tol if m_step_tol is None else m_step_tol
        self.alphas_priors_mean, self.betas_priors_mean = alphas_priors_mean, betas_priors_mean
        self.alpha_prior, self.beta_prior = alpha_prior, beta_prior
        self.backend, self.n_shards = backend, n_shards

    @property
    def m_steps(self) -> int:
        return self.m_step_max_iter

    @property
    def m_tol(self) -> float:
        return self.m_step_tol

    def _init_args(self) -> dict[str, Any]:
        return {"n_iter": self.n_iter, "tol": self.tol, "m_step_max_iter": self.m_step_max_iter}

    @staticmethod
    def _prior_mean(value: Any, default: float, name: str) -> float:
        """The prior mean as the one number the core takes (a Series of equal values is that value)."""
        if value is None:
            return float(default)
        if isinstance(value, pd.Series):
            v = np.unique(value.to_numpy(dtype=float))
            if len(v) != 1:
                raise InvalidArgument(f"GLAD: {name} must hold one value for all (per-item prior means are not supported)")
            return float(v[0])
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidArgument(f"GLAD: {name} must be a number or a Series, got {value!r}")
        return float(value)

    def _core_call(self, answers: Answers, **common: Any) -> dict[str, Any]:
        ap = self._prior_mean(self.alphas_priors_mean, self.alpha_prior, "alphas_priors_mean")
        bp = self._prior_mean(self.betas_priors_mean, self.beta_prior, "betas_priors_mean")
        if self.backend != "local":  # sharded: same results (tagger.consensus.distributed)
            from .distributed import fit_answers
            return fit_answers("glad", answers, backend=self.backend, n_shards=self.n_shards,
                               m_steps=self.m_step_max_iter, m_tol=self.m_step_tol, alpha_prior=ap, beta_prior=bp,
                               n_iter=self.n_iter, tol=self.tol, **common)
        return _core.consensus.glad(*answers.core_args(), m_steps=self.m_step_max_iter, m_tol=self.m_step_tol,
                                    alpha_prior=ap, beta_prior=bp, n_iter=self.n_iter, tol=self.tol, **common)

    def _extra(self, answers: Answers, out: dict[str, Any]) -> None:
        self.alphas_ = pd.Series(out["abilities"], index=answers.worker_names.rename("worker"), name="alpha")
        self.betas_ = pd.Series(np.log(out["difficulties"]), index=answers.task_names.rename("task"), name="beta")
