"""MACE: multi-annotator competence estimation (spammer model)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .. import _core
from .base import Answers, BaseClassifier

__all__ = ["MACE"]


class MACE(BaseClassifier):
    r"""MACE: worker :math:`w` spams an answer with probability :math:`s_w`,
    drawing it from a strategy :math:`\theta_w`; otherwise it answers the truth:
    :math:`P(y_j = l \mid z_t = k) = s_w\theta_{w,l} + (1-s_w)[k = l]`.
    Uniform class prior. Variational Bayes (``method="vb"``, Beta(alpha, beta)
    on spamming/knowing, symmetric Dirichlet(10) on strategies) or plain EM
    (``method="em"``); the best of ``n_restarts`` seeded restarts by log
    marginal likelihood; restart ``r`` starts from crowd-kit's draw,
    ``scipy.stats.uniform(1, 1 + default_noise).rvs(random_state=random_state + r)``
    (numpy's legacy MT19937 stream, reproduced in C++), so ``n_restarts=1``
    reproduces crowd-kit 1.4's MACE, whose restarts all reuse one seed:
    ``variant="crowdkit"`` (default) therefore runs one restart (the same
    result, n_restarts times faster); ``variant="tagger"`` runs ``n_restarts``
    distinct seeds. ``verbose`` (0, 1, 2 as crowd-kit) shows progress.
    ``probas_`` columns follow the labels' first appearance, as crowd-kit's. Fitted: ``spamming_`` (Series worker -> P(spam)),
    ``thetas_`` (DataFrame worker x label), ``skills_`` = 1 - spamming, ``smoothing_``.

    ``smoothing`` is taken for crowd-kit's signature and, as in crowd-kit 1.4,
    not used: the EM M-step adds ``smoothing_`` = 0.01 / n_labels to its
    fractional counts (crowd-kit sets and uses ``smoothing_`` the same way), and
    the VB M-step uses the priors instead. A value other than the default warns.

    D. Hovy, T. Berg-Kirkpatrick, A. Vaswani, E. Hovy, "Learning Whom to Trust
    with MACE", NAACL-HLT 2013.
    """

    _takes_class_priors = False

    _method = "mace"
    _iterative = True
    _task_order = "appearance"
    _label_order = "appearance"
    _probas_columns_name = None

    def __init__(self, n_restarts: int = 10, n_iter: int = 50, method: str = "vb", smoothing: float = 0.1,
                 default_noise: float = 0.5, alpha: float = 0.5, beta: float = 0.5, random_state: int = 0,
                 tol: float = 1e-6, verbose: int = 0, *, variant: str = "crowdkit", **kw: Any) -> None:
        super().__init__(verbose=verbose, **kw)
        if variant not in ("crowdkit", "tagger"):
            from ..errors import InvalidArgument

            raise InvalidArgument(f"MACE variant must be 'crowdkit' or 'tagger', not {variant!r}")
        self.variant = variant
        if method not in ("vb", "em"):
            from ..errors import InvalidArgument

            raise InvalidArgument(f"MACE method must be 'vb' or 'em', not {method!r}")
        self.n_restarts, self.n_iter, self.method, self.smoothing = n_restarts, n_iter, method, smoothing
        self.default_noise, self.alpha, self.beta, self.random_state, self.tol = default_noise, alpha, beta, random_state, tol

    def _init_args(self) -> dict[str, Any]:
        return {"n_restarts": self.n_restarts, "n_iter": self.n_iter, "method": self.method}

    def _core_call(self, answers: Answers, **common: Any) -> dict[str, Any]:
        if self.smoothing != 0.1:
            import warnings

            from .._stack import outside_tagger

            # Silently ignored before (as crowd-kit ignores it): a user tuning it saw no effect.
            warnings.warn(f"MACE: smoothing={self.smoothing!r} has no effect (as in crowd-kit 1.4): the M-step "
                          f"smooths by 0.01 / n_labels (smoothing_)", UserWarning, stacklevel=outside_tagger())
        # crowd-kit 1.4 restarts from the same seed every time, so its result is one restart's.
        restarts = 1 if self.variant == "crowdkit" else self.n_restarts
        return _core.consensus.mace(*answers.core_args(), n_restarts=restarts, variational=self.method == "vb",
                                    alpha=self.alpha, beta=self.beta, default_noise=self.default_noise,
                                    n_iter=self.n_iter, tol=self.tol, seed=self.random_state, **common)

    def _extra(self, answers: Answers, out: dict[str, Any]) -> None:
        self.smoothing_ = 0.01 / max(1, len(answers.label_names))
        workers = answers.worker_names.rename("worker")
        self.spamming_ = pd.Series(out["spamming"], index=workers, name="spamming")
        self.thetas_ = pd.DataFrame(out["strategies"], index=workers, columns=answers.label_names.rename("label"))
