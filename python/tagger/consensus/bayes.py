"""Bayesian truth inference: BWA (Bayesian weighted average), EBCC and BCC."""

from __future__ import annotations

from typing import Any

from .. import _core
from ..errors import InvalidArgument
from .base import Answers, BaseClassifier

__all__ = ["BCC", "BWA", "EBCC"]


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


class EBCC(BaseClassifier):
    r"""Enhanced Bayesian classifier combination: each task has a class
    :math:`k \sim \tau` and a subtype :math:`m \sim \pi_k` (``n_groups``
    subtypes per class, through which correlated workers share errors); worker
    :math:`w` answers with the row :math:`v_{w,k,m,\cdot} \sim
    \mathrm{Dir}(\beta_k)` (``a_v`` on label :math:`k`, ``b_v`` elsewhere).
    Mean-field variational Bayes:
    :math:`q(z_t{=}k, g_t{=}m) \propto \exp(E\log\pi_{km} + E\log\tau_k + \sum_{j\in t} E\log v_{w_j,k,m,y_j})`,
    with :math:`E\log` of a Dirichlet :math:`\psi(x_i) - \psi(\sum x)` and the
    counts :math:`\eta_{km} = a_\pi/M + \sum_t q_{tkm}`,
    :math:`\nu_k = \alpha + \sum_t q_{tk}`,
    :math:`\mu_{wkml} = \beta_{kl} + \sum_{j \in w, y_j = l} q_{t_j km}`;
    started from the vote shares split over subtypes by seeded Dirichlet(1)
    draws (``seed``), until no :math:`q_{tk}` moves by ``tol``. The class
    prior is inferred, so ``class_priors`` is refused. Deterministic.

    Y. Li, B. I. P. Rubinstein, T. Cohn, "Exploiting Worker Correlation for
    Label Aggregation in Crowdsourcing", ICML 2019 (defaults as the authors'
    code: M = 10, a_pi = 0.1, alpha = 1, a_v = 4, b_v = 1, seed 1234).
    """

    _method = "ebcc"
    _iterative = True

    def __init__(self, n_iter: int = 500, tol: float = 1e-3, n_groups: int = 10, a_pi: float = 0.1, alpha: float = 1.0,
                 a_v: float = 4.0, b_v: float = 1.0, seed: int = 1234, **kw: Any) -> None:
        super().__init__(**kw)
        self.n_iter, self.tol, self.n_groups, self.seed = n_iter, tol, n_groups, seed
        self.a_pi, self.alpha, self.a_v, self.b_v = a_pi, alpha, a_v, b_v

    def _init_args(self) -> dict[str, Any]:
        return {"n_iter": self.n_iter, "n_groups": self.n_groups, "seed": self.seed}

    def _core_call(self, answers: Answers, **common: Any) -> dict[str, Any]:
        if isinstance(self.n_groups, bool) or not isinstance(self.n_groups, int) or not 1 <= self.n_groups <= 1000:
            raise InvalidArgument(f"EBCC: n_groups must be an int in [1, 1000], got {self.n_groups!r}")
        for name in ("a_pi", "alpha", "a_v", "b_v"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise InvalidArgument(f"EBCC: {name} must be a number > 0, got {v!r}")
        if common.get("class_priors") is not None:
            raise InvalidArgument("EBCC infers the class prior; class_priors are not taken")
        return _core.consensus.ebcc(*answers.core_args(), n_groups=self.n_groups, a_pi=float(self.a_pi),
                                    alpha=float(self.alpha), a_v=float(self.a_v), b_v=float(self.b_v),
                                    n_iter=self.n_iter, tol=self.tol, seed=self.seed, **common)


class BCC(EBCC):
    r"""Bayesian classifier combination: each task has a class
    :math:`k \sim \tau`, :math:`\tau \sim \mathrm{Dir}(\alpha)`, and worker
    :math:`w` answers from its confusion row :math:`v_{w,k,\cdot} \sim
    \mathrm{Dir}(\beta_k)` (``a_v`` on label :math:`k`, ``b_v`` elsewhere),
    independently given the class. Mean-field variational Bayes:
    :math:`q(z_t{=}k) \propto \exp(E\log\tau_k + \sum_{j\in t} E\log v_{w_j,k,y_j})`
    with :math:`\nu_k = \alpha + \sum_t q_{tk}` and
    :math:`\mu_{wkl} = \beta_{kl} + \sum_{j \in w, y_j = l} q_{t_j k}`, from the
    vote shares, until no :math:`q_{tk}` moves by ``tol``. It is EBCC with one
    subtype per class (``n_groups=1``; its subtype draw is then the identity), so
    the fit is deterministic and runs in the same C++ code.

    H.-C. Kim, Z. Ghahramani, "Bayesian Classifier Combination", AISTATS 2012
    (independent BCC); the variational updates of E. Simpson et al., "Dynamic
    Bayesian Combination of Multiple Imperfect Classifiers", 2013. Community BCC
    (Venanzi et al., WWW 2014), which ties workers' confusion matrices to
    communities, is not implemented.
    """

    _method = "bcc"

    def __init__(self, n_iter: int = 500, tol: float = 1e-3, alpha: float = 1.0, a_v: float = 4.0, b_v: float = 1.0,
                 **kw: Any) -> None:
        super().__init__(n_iter=n_iter, tol=tol, n_groups=1, alpha=alpha, a_v=a_v, b_v=b_v, **kw)

    def _init_args(self) -> dict[str, Any]:
        return {"n_iter": self.n_iter, "alpha": self.alpha, "a_v": self.a_v, "b_v": self.b_v}
