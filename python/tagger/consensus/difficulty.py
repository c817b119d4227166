"""GLAD: worker ability and task difficulty."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from .base import Answers, BaseClassifier

__all__ = ["GLAD"]


class GLAD(BaseClassifier):
    r"""GLAD: :math:`P(y_j = z_t) = \sigma(\alpha_w \beta_t)`, :math:`\beta_t = e^{b_t}`;
    a wrong answer is uniform over the other :math:`K-1` labels.

    EM: the E-step computes :math:`P(z_t = k)`; the M-step maximizes
    :math:`Q = \sum_j [p_j \log\sigma(\alpha\beta) + (1-p_j)(\log(1-\sigma(\alpha\beta)) - \log(K-1))]
    - \tfrac12\sum_w(\alpha_w - \mu_\alpha)^2 - \tfrac12\sum_t(b_t - \mu_b)^2`
    (:math:`p_j` = posterior that answer j is right) by block Fisher scoring.
    Class priors are uniform unless ``class_priors`` is given.
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

    def __init__(self, n_iter: int = 100, tol: float = 1e-5, m_steps: int = 25, m_tol: float = 1e-2,
                 alpha_prior: float = 1.0, beta_prior: float = 1.0, *, backend: str = "local",
                 n_shards: int | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.n_iter, self.tol, self.m_steps, self.m_tol = n_iter, tol, m_steps, m_tol
        self.alpha_prior, self.beta_prior = alpha_prior, beta_prior
        self.backend, self.n_shards = backend, n_shards

    def _init_args(self) -> dict[str, Any]:
        return {"n_iter": self.n_iter, "tol": self.tol, "m_steps": self.m_steps}

    def _core_call(self, answers: Answers, **common: Any) -> dict[str, Any]:
        if self.backend != "local":  # sharded: same results (tagger.consensus.distributed)
            from .distributed import fit_answers
            return fit_answers("glad", answers, backend=self.backend, n_shards=self.n_shards, m_steps=self.m_steps,
                               m_tol=self.m_tol, alpha_prior=self.alpha_prior, beta_prior=self.beta_prior,
                               n_iter=self.n_iter, tol=self.tol, **common)
        return _core.consensus.glad(*answers.core_args(), m_steps=self.m_steps, m_tol=self.m_tol,
                                    alpha_prior=self.alpha_prior, beta_prior=self.beta_prior,
                                    n_iter=self.n_iter, tol=self.tol, **common)

    def _extra(self, answers: Answers, out: dict[str, Any]) -> None:
        self.alphas_ = pd.Series(out["abilities"], index=answers.worker_names.rename("worker"), name="alpha")
        self.betas_ = pd.Series(np.log(out["difficulties"]), index=answers.task_names.rename("task"), name="beta")
